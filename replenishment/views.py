"""Replenishment pages: the dock receives purchase orders; managers read suggestions,
draft, send and close purchase orders, and look for ghost rows."""

import csv
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from inventory import selectors as inventory_selectors
from inventory.cleaning import page_number
from replenishment import selectors, services
from replenishment.exceptions import ReceiptRefused, ReplenishmentError
from replenishment.forms import DraftForm, LineSetForm, ReceiveForm, SuggestionFilterForm
from replenishment.models import PurchaseOrder, PurchaseOrderLine

PAGE_SIZE = 50
RECEIVE = "replenishment.receive_purchaseorder"
SUGGESTIONS = "replenishment.view_suggestions"
MANAGE = "replenishment.change_purchaseorder"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _new_key() -> str:
    return uuid.uuid4().hex


# --- suggestions (managers) ---------------------------------------------------------------


@require_GET
@permission_required(SUGGESTIONS, raise_exception=True)
def suggestion_list(request: HtmxHttpRequest) -> HttpResponse:
    form = SuggestionFilterForm(request.GET)
    filters = form.filters()
    page = selectors.coverage_page(per_page=PAGE_SIZE, **filters)
    query = {k: v for k, v in request.GET.items() if k in ("supplier", "sort", "show") and v}
    template = "replenishment/suggestion_list.html"
    if request.htmx:
        template += "#suggestion-table"
    context = {"page": page, "form": form, "key": _new_key(), "query": urlencode(query)}
    return render(request, template, context)


def _csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = [
    "sku",
    "title",
    "supplier",
    "urgency",
    "known",
    "on_hand",
    "committed",
    "in_transit",
    "on_draft",
    "window_days",
    "shipped",
    "in_stock_days",
    "daily_rate",
    "days_of_cover",
    "lead_time_days",
    "review_period_days",
    "safety_stock",
    "reorder_point",
    "target_days",
    "target",
    "raw_need",
    "min_order_qty",
    "case_pack",
    "suggested",
    "why",
]


def _csv_row(c: selectors.Coverage) -> list:
    """One SKU's line; a SKU the shelf has not counted has empty cells for its on-hand and
    for every figure worked out from it (a spreadsheet must not read them as 0)."""

    def num(x):
        return "" if x is None else round(x, 3)

    return [
        _csv_safe(c.code),
        _csv_safe(c.title),
        _csv_safe(c.supplier_name or ""),
        c.urgency_label,
        "yes" if c.known else "no",
        c.on_hand if c.known else "",
        c.committed,
        c.in_transit,
        c.on_draft,
        c.window_days,
        c.shipped,
        c.in_stock_days,
        num(c.rate),
        num(c.days_of_cover),
        c.lead_time_days,
        c.review_period_days,
        num(c.safety_stock),
        num(c.reorder_point),
        c.target_days,
        num(c.target),
        num(c.raw_need),
        c.min_order_qty,
        c.case_pack,
        c.suggested or "",
        _csv_safe(" ".join(c.why())),
    ]


class _Echo:
    def write(self, value):
        return value


@require_GET
@permission_required(SUGGESTIONS, raise_exception=True)
def suggestion_export(request: HttpRequest) -> StreamingHttpResponse:
    """The suggestions as CSV, with the same filters as the page (every page of them)."""
    filters = SuggestionFilterForm(request.GET).filters()
    filters.pop("page")
    writer = csv.writer(_Echo())
    rows = (writer.writerow(_csv_row(c)) for c in selectors.coverage_iter(**filters))

    def stream():
        yield writer.writerow(CSV_COLUMNS)
        yield from rows

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="replenishment-suggestions.csv"'
    return response


@require_POST
@permission_required("replenishment.add_purchaseorder", raise_exception=True)
def purchase_order_draft(request: HttpRequest) -> HttpResponse:
    """Draft one purchase order per supplier from the ticked suggestions."""
    form = DraftForm(request.POST)
    back = reverse("replenishment:suggestion-list") + _back_query(request)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Nothing was drafted: {error}")
        return redirect(back)
    result = services.purchase_order_draft(
        sku_ids=form.cleaned_data["sku"], request_key=form.cleaned_data["key"], actor=request.user
    )
    numbers = ", ".join(po.number for po in result.orders)
    if result.replayed:
        messages.info(request, f"Already drafted: {numbers}.")
    elif result.orders:
        messages.success(request, f"Drafted {numbers}. Check the lines, then send.")
    if result.skipped:
        messages.warning(
            request, f"Nothing to order now for: {', '.join(result.skipped)} (left out)."
        )
    if result.uncounted:
        messages.warning(
            request,
            f"Not yet counted, so not ordered: {', '.join(result.uncounted)}. Count them first.",
        )
    if len(result.orders) == 1:
        return redirect("replenishment:purchase-order-detail", number=result.orders[0].number)
    return redirect("replenishment:purchase-order-list") if result.orders else redirect(back)


def _back_query(request: HttpRequest) -> str:
    query = {k: v for k, v in request.POST.items() if k in ("supplier", "sort", "show") and v}
    return f"?{urlencode(query)}" if query else ""


@require_POST
@permission_required("replenishment.detect_ghost_rows", raise_exception=True)
def ghost_rows_detect(request: HttpRequest) -> HttpResponse:
    report = services.ghost_rows_detect()
    messages.success(request, report.summary())
    return redirect(reverse("inventory:discrepancy-list") + "?status=open&kind=ghost_row")


# --- purchase orders (managers) -----------------------------------------------------------


@require_GET
@permission_required(MANAGE, raise_exception=True)
def purchase_order_list(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in ["", "open", *PurchaseOrder.Status.values]:
        status = ""
    orders = selectors.purchase_orders_for_list(status=status)
    page = Paginator(orders, PAGE_SIZE).get_page(page_number(request.GET))
    template = "replenishment/purchase_order_list.html"
    if request.htmx:
        template += "#po-table"
    context = {"page": page, "status": status, "statuses": PurchaseOrder.Status.choices}
    return render(request, template, context)


@require_GET
@permission_required(MANAGE, raise_exception=True)
def purchase_order_detail(request: HttpRequest, number: str) -> HttpResponse:
    po = selectors.purchase_order_with_lines(number=number)
    if po is None:
        return render(request, "404.html", status=404)
    context = {"po": po, "receipts": selectors.receipts_for_po(po=po)}
    return render(request, "replenishment/purchase_order_detail.html", context)


TRANSITIONS = {
    "send": services.purchase_order_send,
    "cancel": services.purchase_order_cancel,
    "close": services.purchase_order_close,
}


@require_POST
@permission_required(MANAGE, raise_exception=True)
def purchase_order_transition(request: HttpRequest, number: str, action: str) -> HttpResponse:
    po = get_object_or_404(PurchaseOrder, number=number)
    if action not in TRANSITIONS:
        return HttpResponse(f"Unknown action {action!r}.", status=400)
    try:
        result = TRANSITIONS[action](po=po, actor=request.user)
    except ReplenishmentError as error:
        messages.error(request, f"Nothing was changed: {error}")
        return redirect("replenishment:purchase-order-detail", number=po.number)
    po, short = result if isinstance(result, tuple) else (result, [])
    text = f"{po.number} is now {po.get_status_display().lower()}."
    if short:
        text += f" {len(short)} short line(s) recorded as discrepancies."
    messages.success(request, text)
    return redirect("replenishment:purchase-order-detail", number=po.number)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def purchase_order_line_update(request: HttpRequest, number: str, line_id: int) -> HttpResponse:
    line = get_object_or_404(
        PurchaseOrderLine.objects.select_related("po", "sku"), pk=line_id, po__number=number
    )
    form = LineSetForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{line.sku.code}: " + " ".join(form.errors["ordered"]))
        return redirect("replenishment:purchase-order-detail", number=number)
    try:
        services.purchase_order_line_set(line=line, ordered=form.cleaned_data["ordered"])
    except ReplenishmentError as error:
        messages.error(request, f"Nothing was changed: {error}")
    return redirect("replenishment:purchase-order-detail", number=number)


# --- receiving (warehouse staff, on a phone) ----------------------------------------------


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def receive_start(request: HttpRequest) -> HttpResponse:
    """Pick or scan the purchase order the delivery belongs to."""
    code = request.GET.get("po", "").strip()
    error = ""
    if code:
        po = selectors.purchase_order_with_lines(number=code)
        if po is not None and po.is_receivable:
            return redirect("replenishment:receive", number=po.number)
        error = (
            _("%(po)s is %(status)s: nothing can be received against it.")
            % {"po": po.number, "status": po.get_status_display().lower()}
            if po
            else _("No purchase order %(code)s: scan the delivery note again.") % {"code": code}
        )
    page = Paginator(selectors.purchase_orders_to_receive(), PAGE_SIZE).get_page(
        page_number(request.GET)
    )
    context = {"page": page, "code": code, "error": error}
    return render(
        request, "replenishment/receive_start.html", context, status=404 if error else 200
    )


def _receive_context(po: PurchaseOrder, form: ReceiveForm | None = None, **extra) -> dict:
    fresh = ReceiveForm(po=po, initial={"key": _new_key()})
    line = getattr(form, "cleaned_data", {}).get("sku")
    return {
        "po": po,
        "form": form or fresh,
        "receipts": selectors.receipts_for_po(po=po, limit=10),
        **_bins_context(line),
        **extra,
    }


def _bins_context(line: PurchaseOrderLine | None) -> dict:
    """Where the scanned SKU lives now, shown beside the bin field."""
    if not isinstance(line, PurchaseOrderLine):
        return {"bins_sku": None, "bins": []}
    bins = inventory_selectors.bins_holding_sku(sku_ids=[line.sku_id])[line.sku_id]
    return {"bins_sku": line.sku, "bins": bins}


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def receive_bins(request: HttpRequest, number: str) -> HttpResponse:
    """The bins of the SKU just scanned on this order (the fragment beside the bin field)."""
    code = request.GET.get("sku", "").strip()[:64]
    line = (
        PurchaseOrderLine.objects.select_related("sku")
        .filter(po__number=number, sku__code__iexact=code)
        .first()
        if code
        else None
    )
    return render(request, "replenishment/receive.html#sku-bins", _bins_context(line))


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def receive(request: HttpRequest, number: str) -> HttpResponse:
    po = selectors.purchase_order_with_lines(number=number)
    if po is None:
        return render(request, "404.html", status=404)
    return render(request, "replenishment/receive.html", _receive_context(po))


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def receipt_create(request: HtmxHttpRequest, number: str) -> HttpResponse:
    """Book one count into one bin: form → service → the receiving panel again."""
    po = get_object_or_404(PurchaseOrder, number=number)
    form = ReceiveForm(request.POST, po=po)
    outcome = None
    if form.is_valid() and form.questions:
        # Over what is due, or a new bin: ask first; nothing moves until it is confirmed.
        return _receive_response(request, po, form=form)
    if form.is_valid():
        try:
            outcome = services.purchase_order_line_receive(
                line=form.cleaned_data["sku"],
                bin=form.cleaned_data["bin"],
                units=form.cleaned_data["units"],
                key=form.cleaned_data["key"],
                actor=request.user,
            )
        except ReceiptRefused as error:
            form.add_error(error.field, str(error))
    if outcome is None:
        return _receive_response(request, po, form=form, status=400)
    r = outcome.receipt
    text = (
        _("Already recorded: %(units)s × %(sku)s into %(bin)s.")
        if outcome.replayed
        else _("Received %(units)s × %(sku)s into %(bin)s: %(received)s of %(ordered)s now in.")
    ) % {"units": r.units, "sku": r.line.sku.code, "bin": r.bin.code,
         "received": r.line.received, "ordered": r.line.ordered}  # fmt: skip
    warn = bool(outcome.mismatch) and not outcome.replayed
    if warn:
        text += " " + _("Recorded for a manager: %(detail)s") % {"detail": outcome.mismatch.detail}
    if not request.htmx:
        (messages.warning if warn else messages.success)(request, text)
        return redirect("replenishment:receive", number=po.number)
    response = _receive_response(
        request, po, done=text, done_level="warning" if warn else "success"
    )
    return trigger_client_event(response, "onHandChanged")


def _receive_response(
    request, po, *, form=None, done="", done_level="success", status=200
) -> HttpResponse:
    po = selectors.purchase_order_with_lines(number=po.number)
    context = _receive_context(po, form, done=done, done_level=done_level)
    if request.htmx:
        # htmx swaps only 2xx answers: the errors travel in a 200 beside their fields.
        return render(request, "replenishment/receive.html#receive-panel", context)
    return render(request, "replenishment/receive.html", context, status=status)
