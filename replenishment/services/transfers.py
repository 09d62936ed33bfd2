"""Transfers between warehouses: drafted, dispatched (the units leave their bins and are in
transit), received at the other end by scanning.

Both ends change on-hand only through ``inventory.services.on_hand_adjust`` (the one write
path), as the shelf, with kind ``transfer`` and event ids built from the transfer's line
(dispatch) or the form submission's key (receipt): a retried dispatch or a replayed scan
changes nothing. Between the two, the units are replenishment's in-transit fact
(``selectors.in_transit_by_sku``), so in total they never stop counting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from inventory.exceptions import BinCodeInvalid, InsufficientStock, MovementRefused
from inventory.models import Bin, Discrepancy, Fact, Sku, StockMovement, Warehouse
from inventory.services import bin_create, discrepancy_record, movement_check, on_hand_adjust
from replenishment.exceptions import TransferRefused
from replenishment.models import Transfer, TransferLine, TransferReceipt

Status = Transfer.Status
MAX_LINES = 200


@dataclass(frozen=True)
class LineDraft:
    """One line of a draft: ``quantity`` units of ``sku`` out of ``from_bin``."""

    sku: Sku
    from_bin: Bin
    quantity: int


def _whole_positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def transfer_check(
    *, from_warehouse: Warehouse, to_warehouse: Warehouse, lines: list[LineDraft]
) -> None:
    """Every rule a draft must keep; the first broken one raises ``TransferRefused`` naming
    its field (and its line)."""
    if from_warehouse.pk == to_warehouse.pk:
        raise TransferRefused(
            _("A transfer goes to another warehouse: pick one that is not %(code)s.")
            % {"code": from_warehouse.code},
            field="to_warehouse",
        )
    for warehouse, name in ((from_warehouse, "from_warehouse"), (to_warehouse, "to_warehouse")):
        if not warehouse.active:
            raise TransferRefused(
                _("Warehouse %(code)s is inactive.") % {"code": warehouse.code}, field=name
            )
    if not lines:
        raise TransferRefused(_("A transfer moves at least one line."))
    if len(lines) > MAX_LINES:
        raise TransferRefused(_("A transfer has at most %(count)s lines.") % {"count": MAX_LINES})
    seen = set()
    for i, line in enumerate(lines):
        if not _whole_positive(line.quantity):
            raise TransferRefused(
                _("Move a whole number of units, at least 1."), field="quantity", line=i
            )
        if not line.sku.active:
            raise TransferRefused(
                _("%(code)s is no longer in the catalog.") % {"code": line.sku.code},
                field="sku",
                line=i,
            )
        if line.from_bin.warehouse_id != from_warehouse.pk:
            raise TransferRefused(
                _("Bin %(bin)s is not in %(warehouse)s: units leave from its own bins.")
                % {"bin": line.from_bin.code, "warehouse": from_warehouse.code},
                field="from_bin",
                line=i,
            )
        if not line.from_bin.active:
            raise TransferRefused(
                _("Bin %(code)s is inactive.") % {"code": line.from_bin.code},
                field="from_bin",
                line=i,
            )
        if (line.sku.pk, line.from_bin.pk) in seen:
            raise TransferRefused(
                _("%(sku)s from %(bin)s is on two lines: put it on one.")
                % {"sku": line.sku.code, "bin": line.from_bin.code},
                field="sku",
                line=i,
            )
        seen.add((line.sku.pk, line.from_bin.pk))


@transaction.atomic
def _transfer_create(*, from_warehouse, to_warehouse, lines, request_key, actor) -> Transfer:
    transfer = Transfer.objects.create(
        number=f"new-{uuid.uuid4().hex[:16]}",
        from_warehouse=from_warehouse,
        to_warehouse=to_warehouse,
        request_key=request_key,
        created_by=actor,
    )
    transfer.number = f"TR-{transfer.pk:05d}"
    transfer.save(update_fields=["number"])
    TransferLine.objects.bulk_create(
        TransferLine(
            transfer=transfer, sku=line.sku, from_bin=line.from_bin, quantity=line.quantity
        )
        for line in lines
    )
    transfer.replayed = False
    return transfer


def transfer_create(
    *,
    from_warehouse: Warehouse,
    to_warehouse: Warehouse,
    lines: list[LineDraft],
    request_key: str = "",
    actor: AbstractBaseUser | None = None,
) -> Transfer:
    """A draft transfer, numbered TR-<id>; nothing moves until it is dispatched.

    Refused with ``TransferRefused`` (naming the field and the line), creating nothing: the
    same warehouse at both ends, a bin not in the sending warehouse or inactive, a SKU the
    catalog no longer has, a quantity that is not a whole positive number. Submitting the
    same form twice (same ``request_key``) returns the first draft (``replayed`` set).
    """
    if request_key and (done := Transfer.objects.filter(request_key=request_key).first()):
        done.replayed = True
        return done
    transfer_check(from_warehouse=from_warehouse, to_warehouse=to_warehouse, lines=lines)
    try:
        return _transfer_create(
            from_warehouse=from_warehouse,
            to_warehouse=to_warehouse,
            lines=lines,
            request_key=request_key,
            actor=actor,
        )
    except IntegrityError:
        # The same submission committed first in another request: ours rolled back whole.
        if request_key and (done := Transfer.objects.filter(request_key=request_key).first()):
            done.replayed = True
            return done
        raise


transfer_create.alters_data = True


def _lock(transfer: Transfer) -> Transfer:
    return (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("from_warehouse", "to_warehouse")
        .get(pk=transfer.pk)
    )


def _status_refused(transfer: Transfer, action: str) -> TransferRefused:
    return TransferRefused(
        _("%(number)s is %(status)s; %(action)s")
        % {
            "number": transfer.number,
            "status": transfer.get_status_display().lower(),
            "action": action,
        }
    )


@transaction.atomic
def transfer_dispatch(*, transfer: Transfer, actor: AbstractBaseUser | None = None) -> Transfer:
    """Draft → in transit: every line's units leave their bin, in one transaction.

    All or nothing: if a bin lacks a line's units, nothing moves and ``TransferRefused``
    names the line. Each leg's event id is ``transfer-out:<line id>``; dispatching twice
    (a double click, a retried request) changes nothing.
    """
    transfer = _lock(transfer)
    if transfer.status in (*Transfer.OPEN, Status.RECEIVED):
        return transfer
    if transfer.status != Status.DRAFT:
        raise _status_refused(transfer, _("only a draft is dispatched."))
    # Balance rows are locked in (bin, SKU) order, so two dispatches never deadlock.
    lines = list(
        TransferLine.objects.filter(transfer=transfer)
        .select_related("sku", "from_bin")
        .order_by("from_bin_id", "sku_id", "pk")
    )
    if not lines:
        raise TransferRefused(
            _("%(number)s has no lines; nothing to dispatch.") % {"number": transfer.number}
        )
    shelf = inventory_selectors.shelf_system()
    for line in lines:
        try:
            on_hand_adjust(
                bin=line.from_bin,
                sku=line.sku,
                delta=-line.quantity,
                kind=StockMovement.Kind.TRANSFER,
                source_system=shelf,
                source_event_id=f"transfer-out:{line.pk}",
                reference=transfer.number,
                actor=actor,
                note=f"dispatched to {transfer.to_warehouse.code} on {transfer.number}",
            )
        except InsufficientStock as short:
            raise TransferRefused(
                _(
                    "Nothing was dispatched: %(sku)s from bin %(bin)s needs %(quantity)s, "
                    "the bin holds %(on_hand)s."
                )
                % {
                    "sku": line.sku.code,
                    "bin": line.from_bin.code,
                    "quantity": line.quantity,
                    "on_hand": short.on_hand,
                },
                field="quantity",
                line=lines.index(line),
            ) from short
    transfer.status = Status.IN_TRANSIT
    transfer.dispatched_at = timezone.now()
    transfer.save(update_fields=["status", "dispatched_at"])
    return transfer


transfer_dispatch.alters_data = True


@transaction.atomic
def transfer_cancel(*, transfer: Transfer, actor: AbstractBaseUser | None = None) -> Transfer:
    """Cancel a draft (nothing has moved yet). Cancelling twice changes nothing; a
    dispatched transfer is not cancelled: its units are on their way."""
    transfer = _lock(transfer)
    if transfer.status == Status.CANCELLED:
        return transfer
    if transfer.status != Status.DRAFT:
        raise _status_refused(transfer, _("only a draft is cancelled."))
    transfer.status = Status.CANCELLED
    transfer.closed_at = timezone.now()
    transfer.save(update_fields=["status", "closed_at"])
    return transfer


transfer_cancel.alters_data = True


@transaction.atomic
def transfer_close(
    *, transfer: Transfer, actor: AbstractBaseUser | None = None
) -> tuple[Transfer, list[Discrepancy]]:
    """Close a dispatched transfer as it stands: every line short of what was sent is a
    discrepancy of the in-transit fact (units lost on the way), and nothing is in transit
    for it afterwards. Closing twice changes nothing."""
    transfer = _lock(transfer)
    if transfer.status == Status.RECEIVED:
        return transfer, []
    if transfer.status not in Transfer.OPEN:
        raise _status_refused(transfer, _("only a dispatched transfer is closed."))
    lines = list(
        TransferLine.objects.select_for_update(of=("self",))
        .filter(transfer=transfer)
        .select_related("sku", "from_bin")
        .order_by("pk")
    )
    short = [
        discrepancy_record(
            kind=Discrepancy.Kind.RECEIPT_MISMATCH,
            fact=Fact.IN_TRANSIT,
            sku=line.sku,
            owner_value=line.quantity,
            consumer_value=line.received,
            reference=transfer.number,
            detail=(
                f"{transfer.number} closed short: {line.sku.code} sent {line.quantity} from "
                f"bin {line.from_bin.code} of {transfer.from_warehouse.code}, received "
                f"{line.received} in {transfer.to_warehouse.code} "
                f"({line.quantity - line.received} never arrived)."
            ),
        )
        for line in lines
        if line.received < line.quantity
    ]
    transfer.status = Status.RECEIVED
    transfer.closed_at = timezone.now()
    transfer.save(update_fields=["status", "closed_at"])
    return transfer, short


transfer_close.alters_data = True


@dataclass
class TransferReceiptOutcome:
    receipt: TransferReceipt
    replayed: bool = False
    mismatch: Discrepancy | None = None

    @property
    def line(self) -> TransferLine:
        return self.receipt.line


def _receipt_done(key: str) -> TransferReceipt | None:
    return (
        TransferReceipt.objects.filter(key=key)
        .select_related("line__transfer", "line__sku", "bin")
        .first()
    )


@transaction.atomic
def transfer_line_receive(
    *,
    line: TransferLine,
    bin: Bin | str,
    units: int,
    key: str,
    actor: AbstractBaseUser | None = None,
) -> TransferReceiptOutcome:
    """Scan units of one line into one bin of the receiving warehouse: a transfer movement
    in, less in transit.

    The movement's event id is ``transfer-in:<key>``: a double submit is a replay that
    changes nothing. More than is still in transit is booked (the units are on the shelf)
    and recorded as a discrepancy of the in-transit fact. Refused, changing nothing: a
    transfer not dispatched, a bin of another warehouse or inactive.

    ``bin`` given as a code is a new location the person confirmed: it is created in the
    receiving warehouse, in the same transaction as the receipt.
    """
    if not key or len(key) > 64:
        raise TransferRefused(_("This form has expired; reload the page and scan again."))
    if done := _receipt_done(key):
        return TransferReceiptOutcome(receipt=done, replayed=True)
    transfer = _lock(line.transfer)
    line = (
        TransferLine.objects.select_for_update(of=("self",))
        .select_related("sku", "from_bin")
        .get(pk=line.pk)
    )
    if done := _receipt_done(key):
        return TransferReceiptOutcome(receipt=done, replayed=True)  # the twin got here first
    if transfer.status not in (*Transfer.OPEN, Status.RECEIVED):
        raise _status_refused(transfer, _("nothing can be received against it."))
    if not _whole_positive(units):
        raise TransferRefused(_("Enter how many units you counted (at least 1)."), field="units")
    to_warehouse = transfer.to_warehouse
    if isinstance(bin, str):
        try:
            bin = bin_create(code=bin, warehouse=to_warehouse)
        except BinCodeInvalid as error:
            raise TransferRefused(str(error), field="bin") from error
    if bin.warehouse_id != to_warehouse.pk:
        raise TransferRefused(
            _("Bin %(bin)s is not in %(warehouse)s: put the units in one of its bins.")
            % {"bin": bin.code, "warehouse": to_warehouse.code},
            field="bin",
        )
    try:
        movement_check(bin=bin, sku=line.sku, delta=units, kind=StockMovement.Kind.TRANSFER)
    except MovementRefused as refused:
        raise TransferRefused(str(refused), field=refused.field) from refused
    movement = on_hand_adjust(
        bin=bin,
        sku=line.sku,
        delta=units,
        kind=StockMovement.Kind.TRANSFER,
        source_system=inventory_selectors.shelf_system(),
        source_event_id=f"transfer-in:{key}",
        reference=transfer.number,
        actor=actor,
        note=f"received from {transfer.from_warehouse.code} on {transfer.number}",
    )
    receipt = TransferReceipt.objects.create(
        line=line, bin=bin, units=units, key=key, movement=movement, actor=actor
    )
    before = line.received
    line.received = before + units
    line.save(update_fields=["received"])
    line.transfer = transfer
    receipt.line = line
    outcome = TransferReceiptOutcome(receipt=receipt)
    if line.received > line.quantity:
        outcome.mismatch = discrepancy_record(
            kind=Discrepancy.Kind.RECEIPT_MISMATCH,
            fact=Fact.IN_TRANSIT,
            sku=line.sku,
            bin=bin,
            owner_value=line.quantity,
            consumer_value=line.received,
            reference=transfer.number,
            detail=(
                f"{transfer.number}: {line.sku.code} sent {line.quantity}, received "
                f"{line.received} ({line.received - max(before, line.quantity)} more than "
                f"sent, now in bin {bin.code}). Count bin {line.from_bin.code} of "
                f"{transfer.from_warehouse.code}, which they left from."
            ),
        )
    if transfer.status != Status.RECEIVED:
        outstanding = TransferLine.objects.filter(transfer=transfer, received__lt=F("quantity"))
        transfer.status = Status.PARTIALLY_RECEIVED if outstanding.exists() else Status.RECEIVED
        transfer.closed_at = timezone.now() if transfer.status == Status.RECEIVED else None
        transfer.save(update_fields=["status", "closed_at"])
    return outcome


transfer_line_receive.alters_data = True
