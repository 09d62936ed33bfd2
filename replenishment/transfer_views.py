"""Transfer pages: managers draft, dispatch and cancel transfers between warehouses; staff
at the receiving warehouse scan them in, on a phone."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from inventory.cleaning import page_number
from replenishment import selectors
from replenishment.exceptions import TransferRefused
from replenishment.forms import TransferDraftForm, TransferLineFormSet, TransferReceiveForm
from replenishment.models import Transfer
from replenishment.services import transfers as services

PAGE_SIZE = 50
MANAGE = "replenishment.change_transfer"
ADD = "replenishment.add_transfer"
DISPATCH = "replenishment.dispatch_transfer"
RECEIVE = "replenishment.receive_transfer"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _new_key() -> str:
    return uuid.uuid4().hex


# --- managers: list, draft, dispatch, cancel -----------------------------------------------


@require_GET
@permission_required(MANAGE, raise_exception=True)
def transfer_list(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in ["", "open", *Transfer.Status.values]:
        status = ""
    page = Paginator(selectors.transfers_for_list(status=status), PAGE_SIZE).get_page(
        page_number(request.GET)
    )
    template = "replenishment/transfer_list.html"
    if request.htmx:
        template += "#transfer-table"
    context = {"page": page, "status": status, "statuses": Transfer.Status.choices}
    return render(request, template, context)


def _draft_page(request, form, lines, status=200) -> HttpResponse:
    context = {"form": form, "lines": lines}
    return render(request, "replenishment/transfer_new.html", context, status=status)


@require_GET
@permission_required(ADD, raise_exception=True)
def transfer_new(request: HttpRequest) -> HttpResponse:
    form = TransferDraftForm(initial={"key": _new_key()})
    return _draft_page(request, form, TransferLineFormSet(prefix="lines"))


@require_POST
@permission_required(ADD, raise_exception=True)
def transfer_create(request: HttpRequest) -> HttpResponse:
    """Form → service → the draft's page; any refusal is shown at its field, nothing saved."""
    form = TransferDraftForm(request.POST)
    lines = TransferLineFormSet(request.POST, prefix="lines")
    if form.is_valid() and lines.is_valid():
        rows = [row for row in lines if not row.is_blank]
        try:
            transfer = services.transfer_create(
                from_warehouse=form.cleaned_data["from_warehouse"],
                to_warehouse=form.cleaned_data["to_warehouse"],
                lines=[services.LineDraft(**row.cleaned_data) for row in rows],
                request_key=form.cleaned_data["key"],
                actor=request.user,
            )
        except TransferRefused as error:
            if error.line is not None and error.field in TransferLineFormSet.form.base_fields:
                rows[error.line].add_error(error.field, str(error))
            else:
                form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            messages.success(request, _("Drafted %(number)s. Check the lines, then dispatch.")
                             % {"number": transfer.number})  # fmt: skip
            return redirect("replenishment:transfer-detail", number=transfer.number)
    return _draft_page(request, form, lines, status=400)


@require_GET
@permission_required(MANAGE, raise_exception=True)
def transfer_detail(request: HttpRequest, number: str) -> HttpResponse:
    transfer = selectors.transfer_with_lines(number=number)
    if transfer is None:
        return render(request, "404.html", status=404)
    context = {"transfer": transfer, "receipts": selectors.transfer_receipts(transfer=transfer)}
    return render(request, "replenishment/transfer_detail.html", context)


TRANSITIONS = {
    "dispatch": services.transfer_dispatch,
    "cancel": services.transfer_cancel,
    "close": services.transfer_close,
}


@require_POST
@permission_required(DISPATCH, raise_exception=True)
def transfer_transition(request: HttpRequest, number: str, action: str) -> HttpResponse:
    transfer = get_object_or_404(Transfer, number=number)
    if action not in TRANSITIONS:
        return HttpResponse("Unknown action.", status=400)
    try:
        result = TRANSITIONS[action](transfer=transfer, actor=request.user)
    except TransferRefused as error:
        messages.error(request, _("Nothing was changed: %(error)s") % {"error": error})
    else:
        transfer, short = result if isinstance(result, tuple) else (result, [])
        status = transfer.get_status_display().lower()
        text = _("%(number)s is now %(status)s.") % {"number": transfer.number, "status": status}
        if short:
            text += " " + _("%(count)s short line(s) recorded as discrepancies.") % {
                "count": len(short)
            }
        messages.success(request, text)
    return redirect("replenishment:transfer-detail", number=transfer.number)


# --- receiving at the other warehouse (staff, on a phone) ----------------------------------


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def transfer_receive_start(request: HttpRequest) -> HttpResponse:
    """Pick or scan the transfer that arrived."""
    code = request.GET.get("transfer", "").strip()
    error = ""
    if code:
        transfer = selectors.transfer_with_lines(number=code)
        if transfer is not None and transfer.status in (*Transfer.OPEN, "received"):
            return redirect("replenishment:transfer-receive", number=transfer.number)
        error = (
            _("%(number)s is %(status)s: nothing can be received against it.")
            % {"number": transfer.number, "status": transfer.get_status_display().lower()}
            if transfer
            else _("No transfer %(code)s: scan the transfer note again.") % {"code": code}
        )
    page = Paginator(selectors.transfers_to_receive(), PAGE_SIZE).get_page(page_number(request.GET))
    context = {"page": page, "code": code, "error": error}
    return render(
        request, "replenishment/transfer_receive_start.html", context, status=404 if error else 200
    )


def _receive_context(transfer: Transfer, form: TransferReceiveForm | None = None, **extra):
    bin = getattr(form, "cleaned_data", {}).get("bin") if extra.get("done") else None
    fresh = TransferReceiveForm(
        transfer=transfer,
        initial={"key": _new_key(), "bin": getattr(bin, "code", bin) or ""},
    )
    return {
        "transfer": transfer,
        "form": fresh if extra.get("done") or form is None else form,
        "receipts": selectors.transfer_receipts(transfer=transfer, limit=10),
        **extra,
    }


@require_GET
@permission_required(RECEIVE, raise_exception=True)
def transfer_receive(request: HttpRequest, number: str) -> HttpResponse:
    transfer = selectors.transfer_with_lines(number=number)
    if transfer is None:
        return render(request, "404.html", status=404)
    return render(request, "replenishment/transfer_receive.html", _receive_context(transfer))


@require_POST
@permission_required(RECEIVE, raise_exception=True)
def transfer_receipt_create(request: HtmxHttpRequest, number: str) -> HttpResponse:
    """Book one count into one bin: form → service → the receiving panel again."""
    transfer = get_object_or_404(Transfer.objects.select_related("to_warehouse"), number=number)
    form = TransferReceiveForm(request.POST, transfer=transfer)
    if form.is_valid() and form.questions:
        # Over what is in transit, or a new bin: ask first; nothing moves until confirmed.
        return _receive_response(request, transfer, form=form)
    outcome = None
    if form.is_valid():
        try:
            outcome = services.transfer_line_receive(
                line=form.cleaned_data["sku"],
                bin=form.cleaned_data["bin"],
                units=form.cleaned_data["units"],
                key=form.cleaned_data["key"],
                actor=request.user,
            )
        except TransferRefused as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
    if outcome is None:
        return _receive_response(request, transfer, form=form, status=400)
    r = outcome.receipt
    text = (
        _("Already recorded: %(units)s × %(sku)s into %(bin)s.")
        if outcome.replayed
        else _("Received %(units)s × %(sku)s into %(bin)s: %(received)s of %(sent)s now in.")
    ) % {"units": r.units, "sku": r.line.sku.code, "bin": r.bin.code,
         "received": r.line.received, "sent": r.line.quantity}  # fmt: skip
    warn = bool(outcome.mismatch) and not outcome.replayed
    if warn:
        text += " " + _("Recorded for a manager: %(detail)s") % {"detail": outcome.mismatch.detail}
    if not request.htmx:
        (messages.warning if warn else messages.success)(request, text)
        return redirect("replenishment:transfer-receive", number=transfer.number)
    response = _receive_response(
        request, transfer, form=form, done=text, done_level="warning" if warn else "success"
    )
    return trigger_client_event(response, "onHandChanged")


def _receive_response(
    request, transfer, *, form=None, done="", done_level="success", status=200
) -> HttpResponse:
    transfer = selectors.transfer_with_lines(number=transfer.number)
    context = _receive_context(transfer, form, done=done, done_level=done_level)
    if request.htmx:
        # htmx swaps only 2xx answers: the errors travel in a 200 beside their fields.
        return render(request, "replenishment/transfer_receive.html#receive-panel", context)
    return render(request, "replenishment/transfer_receive.html", context, status=status)
