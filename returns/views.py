"""Pages of returns intake.

Staff receive returns on a phone or a scanner terminal: one scan box that keeps focus, a big
button per grade, one confirmation per box. Managers enter phone returns, read the figures
and decide quarantined units. A view parses input, calls one selector or service, renders;
htmx requests get the page's partial, plain posts are redirected (errors: the page again,
with the message beside the field, and nothing changed).
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from inventory import selectors as shelf_selectors
from inventory.cleaning import page_number, whole_number
from inventory.models import Discrepancy
from returns import selectors, services
from returns.exceptions import BinUnknown, ReturnsError
from returns.forms import (
    CloseForm,
    ConfirmForm,
    FindForm,
    GradeForm,
    MissingForm,
    PhoneReturnForm,
    PhoneReturnLineFormSet,
    ResolveForm,
    RestockForm,
    ScanForm,
    WriteOffForm,
    new_key,
)
from returns.models import QuarantineItem, ReceiptUnit, ReturnAuthorisation, ReturnReceipt

RECEIVE = "returns.receive_returns"
MANAGE = "returns.manage_returns"
PAGE_SIZE = 25
RECEIPT_TEMPLATE = "returns/receipt_page.html"
SECTION_TEMPLATE = "returns/overview_section.html"
SECTIONS = {
    "awaiting": gettext_lazy("Awaiting arrival"),
    "today": gettext_lazy("Received today"),
    "mismatches": gettext_lazy("Mismatches"),
    "quarantine": gettext_lazy("Quarantine"),
    "damage": gettext_lazy("Damage rate by SKU"),
    "outcomes": gettext_lazy("Outcomes not sent"),
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _field(form, error: ReturnsError, default: str) -> str | None:
    return error.field if error.field in form.fields else default


# --- staff: receiving --------------------------------------------------------------------


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def receive_find(request: HtmxHttpRequest) -> HttpResponse:
    """Scan or type a return number or an order number; one match opens its receiving page."""
    form = FindForm(request.GET)
    code = form.cleaned_data["q"] if form.is_valid() else ""
    matches = list(selectors.returns_for_code(code=code)[:PAGE_SIZE]) if code else []
    if len(matches) == 1:
        target = reverse("returns:receipt", args=[matches[0].pk])
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    if code and not matches:
        form.add_error(
            "q",
            _("No return or order %(code)s. Check the label, or ask a manager.") % {"code": code},
        )
    awaiting = Paginator(selectors.returns_awaiting(), PAGE_SIZE).get_page(page_number(request.GET))
    context = {"form": form, "code": code, "matches": matches, "page": awaiting}
    return render(request, "returns/receive_find.html", context)


def _units_with_bins(receipt) -> list[ReceiptUnit]:
    """The open box's units, each with the bins its SKU is in now (shown beside its bin
    field; one query for them all)."""
    units = list(selectors.units_for_receipt(receipt=receipt))
    bins = shelf_selectors.bins_holding_sku(sku_ids=sorted({u.sku_id for u in units if u.sku_id}))
    for unit in units:
        unit.bins_here = bins.get(unit.sku_id, [])
    return units


def _receipt_context(rma: ReturnAuthorisation, **extra) -> dict:
    receipt = selectors.open_receipt_for_return(rma=rma)
    return {
        "rma": rma,
        "receipt": receipt,
        "lines": selectors.lines_for_receiving(rma=rma, receipt=receipt),
        "units": _units_with_bins(receipt),
        "boxes": selectors.receipts_for_return(rma=rma)[:20],
        "scan_key": new_key(),
        "missing_key": new_key(),
        "confirm_key": new_key(),
        **extra,
    }


def _receipt_response(
    request: HtmxHttpRequest,
    rma: ReturnAuthorisation,
    *,
    notice: str = "",
    warning: bool = False,
    error: str = "",
    form_name: str = "",
    form=None,
    unit: int | None = None,
    ask_bin: str = "",
) -> HttpResponse:
    """htmx: the receiving panel again (with the notice, or the error beside its field).
    A plain post: back to the page on success; the page with the error (400) otherwise.
    ``ask_bin``: the unit's bin does not exist yet; the panel asks to create it (200)."""
    failed = bool(error) or (form is not None and bool(form.errors))
    extra = {"error": error, "error_unit": unit if failed or ask_bin else None, "ask_bin": ask_bin}
    if form_name and (failed or ask_bin):
        extra[form_name] = form
    level = "warning" if warning else "success"
    if request.htmx:
        context = _receipt_context(
            rma, notice="" if failed else notice, notice_level=level, **extra
        )
        return render(request, f"{RECEIPT_TEMPLATE}#receipt-panel", context)
    if failed or ask_bin:
        status = 400 if failed else 200
        return render(request, RECEIPT_TEMPLATE, _receipt_context(rma, **extra), status=status)
    if notice:
        messages.add_message(request, messages.WARNING if warning else messages.SUCCESS, notice)
    return redirect("returns:receipt", pk=rma.pk)


def _return_or_404(pk: int) -> ReturnAuthorisation:
    if (rma := selectors.return_for_receiving(pk=pk)) is None:
        raise Http404("No such return.")
    return rma


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def receipt_page(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One return: what is expected, the open box and its units, earlier boxes."""
    template = RECEIPT_TEMPLATE
    if request.htmx:
        template += "#receipt-panel"
    return render(request, template, _receipt_context(_return_or_404(pk)))


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def unit_scan(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rma, form, notice, warning = _return_or_404(pk), ScanForm(request.POST), "", False
    if form.is_valid():
        data = form.cleaned_data
        try:
            scanned = services.receipt_unit_scan(
                rma=rma, code=data["code"], scan_key=data["scan_key"],
                quantity=data["quantity"], actor=request.user,
            )  # fmt: skip
            notice, warning = scanned.message, scanned.warning
        except ReturnsError as error:
            form.add_error(_field(form, error, "code"), str(error))
    return _receipt_response(
        request, rma, notice=notice, warning=warning, form_name="scan_form", form=form
    )


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def unit_grade(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    unit = get_object_or_404(ReceiptUnit.objects.select_related("receipt"), pk=pk)
    form, notice, ask_bin = GradeForm(request.POST), "", ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            graded = services.receipt_unit_grade(
                unit=unit, grade=data["grade"], bin_code=data["bin"],
                create_bin=form.creates(), actor=request.user,
            )  # fmt: skip
            notice = f"{graded.sku_code}: {graded.get_grade_display().lower()}" + (
                f" into {graded.bin.code}." if graded.bin else "."
            )
        except BinUnknown as unknown:
            ask_bin = unknown.code  # nothing changed: ask before creating a location
        except ReturnsError as error:
            form.add_error(_field(form, error, "grade"), str(error))
    rma = _return_or_404(unit.receipt.rma_id)
    return _receipt_response(
        request, rma, notice=notice, form_name="grade_form", form=form, unit=unit.pk,
        ask_bin=ask_bin,
    )  # fmt: skip


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def unit_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    unit = ReceiptUnit.objects.select_related("receipt").filter(pk=pk).first()
    rma_id = unit.receipt.rma_id if unit else whole_number(request.POST.get("rma")) or 0
    rma, notice, error = _return_or_404(rma_id), "", ""
    if unit is not None:
        try:
            services.receipt_unit_remove(unit=unit, actor=request.user)
            notice = f"{unit.sku_code} taken out of the box."
        except ReturnsError as refused:
            error = str(refused)
    return _receipt_response(request, rma, notice=notice, error=error, unit=pk)


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def line_missing(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rma, form, notice = _return_or_404(pk), MissingForm(request.POST), ""
    if form.is_valid():
        data = form.cleaned_data
        line = rma.lines.filter(pk=data["line"]).first()
        try:
            if line is None:
                raise ReturnsError(_("That line is not on this return."), field="quantity")
            unit = services.receipt_missing_mark(
                line=line, quantity=data["quantity"], scan_key=data["scan_key"], actor=request.user
            )
            notice = f"{unit.quantity} × {unit.sku_code} marked missing from this box."
        except ReturnsError as error:
            form.add_error(_field(form, error, "quantity"), str(error))
    line_pk = (
        form.cleaned_data.get("line") if form.is_bound and hasattr(form, "cleaned_data") else None
    )
    return _receipt_response(
        request, rma, notice=notice, form_name="missing_form", form=form, unit=line_pk
    )


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def receipt_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Confirm one box. Only here do sellable units reach the shelf."""
    receipt = get_object_or_404(ReturnReceipt, pk=pk)
    form, notice = ConfirmForm(request.POST), ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            notice = services.receipt_confirm(
                receipt=receipt, confirm_key=data["confirm_key"],
                last_box=data["last_box"], actor=request.user,
            ).message  # fmt: skip
        except ReturnsError as error:
            form.add_error(None, str(error))
    rma = _return_or_404(receipt.rma_id)
    return _receipt_response(request, rma, notice=notice, form_name="confirm_form", form=form)


# --- managers ----------------------------------------------------------------------------


@require_GET
@permission_required(MANAGE, raise_exception=True)
def overview(request: HtmxHttpRequest) -> HttpResponse:
    context = {"figures": selectors.returns_overview(), "sections": SECTIONS}
    return render(request, "returns/overview_page.html", context)


def _section_rows(section: str):
    return {
        "awaiting": selectors.returns_awaiting,
        "today": lambda: selectors.receipts_confirmed_since(since=selectors.start_of_today()),
        "mismatches": selectors.return_mismatches,
        "quarantine": selectors.quarantine_held,
        "damage": selectors.damage_rate_by_sku,
        "outcomes": selectors.outcomes_not_sent,
    }[section]()


def _section_response(
    request: HtmxHttpRequest, section: str, *, status: int = 200, **extra
) -> HttpResponse:
    page = Paginator(_section_rows(section), PAGE_SIZE).get_page(page_number(request.GET))
    context = {
        "section": section,
        "title": SECTIONS[section],
        "sections": SECTIONS,
        "page": page,
        "close_key": new_key(),
    }
    template = SECTION_TEMPLATE + ("#section-table" if request.htmx else "")
    return render(request, template, context | extra, status=status)


@require_GET
@permission_required(MANAGE, raise_exception=True)
def overview_section(request: HtmxHttpRequest, section: str) -> HttpResponse:
    if section not in SECTIONS:
        raise Http404("No such section.")
    return _section_response(request, section)


def _after_action(
    request: HtmxHttpRequest, section: str, *, notice: str, row: int, form=None, error: str = ""
) -> HttpResponse:
    """htmx: the section's table again; a plain post: back to the section (or its errors)."""
    failed = bool(error) or (form is not None and bool(form.errors))
    extra = {"form": form, "error": error, "row": row} if failed else {"notice": notice}
    if request.htmx:
        return _section_response(request, section, **extra)
    if failed:
        return _section_response(request, section, status=400, **extra)
    messages.success(request, notice)
    return redirect("returns:overview-section", section=section)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def quarantine_write_off(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item, form, notice = get_object_or_404(QuarantineItem, pk=pk), WriteOffForm(request.POST), ""
    if form.is_valid():
        try:
            services.quarantine_write_off(
                item=item, reason=form.cleaned_data["reason"], actor=request.user
            )
            notice = f"{item.quantity} × {item.sku_code} written off."
        except ReturnsError as error:
            form.add_error(_field(form, error, "reason"), str(error))
    return _after_action(request, "quarantine", notice=notice, form=form, row=pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def quarantine_restock(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    item, form, notice = get_object_or_404(QuarantineItem, pk=pk), RestockForm(request.POST), ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            done = services.quarantine_restock(
                item=item, bin_code=data["bin"], note=data["note"], actor=request.user
            )
            notice = f"{done.quantity} × {done.sku_code} repaired and restocked into {done.bin}."
        except ReturnsError as error:
            form.add_error(_field(form, error, "bin"), str(error))
    return _after_action(request, "quarantine", notice=notice, form=form, row=pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def mismatch_resolve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(Discrepancy, pk=pk, kind=Discrepancy.Kind.RETURN_MISMATCH)
    form, notice = ResolveForm(request.POST), ""
    if form.is_valid():
        try:
            services.return_mismatch_resolve(
                discrepancy=found, note=form.cleaned_data["note"], actor=request.user
            )
            notice = "Mismatch resolved by your decision."
        except ReturnsError as error:
            form.add_error(_field(form, error, "note"), str(error))
    return _after_action(request, "mismatches", notice=notice, form=form, row=pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def outcomes_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rma, notice, error = _return_or_404(pk), "", ""
    try:
        count = services.return_outcomes_retry(rma=rma)
        notice = f"{count} outcome(s) of {rma.number} will be sent again."
    except ReturnsError as refused:
        error = str(refused)
    return _after_action(request, "outcomes", notice=notice, error=error, row=pk)


@require_POST
@permission_required(MANAGE, raise_exception=True)
def return_close(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Nothing more is coming for this return: what is still expected is missing."""
    rma, form, notice = _return_or_404(pk), CloseForm(request.POST), ""
    if form.is_valid():
        try:
            notice = services.return_close(
                rma=rma, confirm_key=form.cleaned_data["confirm_key"], actor=request.user
            ).message
        except ReturnsError as error:
            form.add_error(None, str(error))
    return _after_action(request, "awaiting", notice=notice, form=form, row=pk)


def _phone_forms(request: HtmxHttpRequest) -> tuple[PhoneReturnForm, PhoneReturnLineFormSet]:
    if request.method == "POST":
        return PhoneReturnForm(request.POST), PhoneReturnLineFormSet(request.POST, prefix="lines")
    return (
        PhoneReturnForm(initial={"creation_key": new_key()}),
        PhoneReturnLineFormSet(prefix="lines"),
    )


@require_GET
@permission_required(MANAGE, raise_exception=True)
def return_new(request: HtmxHttpRequest) -> HttpResponse:
    """A phone return: the order, the customer and the lines the customer sends back."""
    form, lines = _phone_forms(request)
    return render(request, "returns/return_new.html", {"form": form, "lines": lines})


@require_POST
@permission_required(MANAGE, raise_exception=True)
def return_create(request: HtmxHttpRequest) -> HttpResponse:
    form, lines = _phone_forms(request)
    if form.is_valid() and lines.is_valid():
        wanted = [
            (row["sku"], row["quantity"], row["reason"])
            for row in lines.cleaned_data
            if row.get("sku")
        ]
        try:
            rma = services.return_create_by_hand(
                order_ref=form.cleaned_data["order_ref"],
                customer_name=form.cleaned_data["customer_name"],
                lines=wanted,
                creation_key=form.cleaned_data["creation_key"],
                actor=request.user,
            )
        except ReturnsError as error:
            field = None if error.field == "lines" else _field(form, error, None)
            form.add_error(field, str(error))
        else:
            messages.success(request, f"Return {rma.number} recorded: staff can receive it now.")
            return redirect("returns:receipt", pk=rma.pk)
    context = {"form": form, "lines": lines}
    return render(request, "returns/return_new.html", context, status=400)
