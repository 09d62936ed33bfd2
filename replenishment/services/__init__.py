"""Every write of replenishment: purchase orders, receiving, ghost-row detection; transfers
between warehouses are in ``services.transfers``.

Receiving changes on-hand only through ``inventory.services.on_hand_adjust`` (the one write
path), as the shelf, with an event id built from the form submission's key: a double
submit or a replay changes nothing. Over- and under-receipts are recorded as discrepancies
of the in-transit fact, which replenishment owns.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from inventory.exceptions import BinCodeInvalid, MovementRefused
from inventory.models import Bin, Discrepancy, Fact, StockMovement, System
from inventory.services import bin_create, discrepancy_record, movement_check, on_hand_adjust
from replenishment import selectors
from replenishment.exceptions import ReceiptRefused, ReplenishmentError
from replenishment.models import PurchaseOrder, PurchaseOrderLine, Receipt

Status = PurchaseOrder.Status


@transaction.atomic
def purchase_order_create(
    *,
    supplier_id: int,
    lines: list[tuple[int, int]],
    request_key: str = "",
    actor: AbstractBaseUser | None = None,
    expected_at: date | None = None,
) -> PurchaseOrder:
    """A draft purchase order with its lines [(sku id, units)], numbered PO-<id>."""
    if not lines or any(units <= 0 for _, units in lines):
        raise ReplenishmentError(_("A purchase order orders at least one unit of each line."))
    po = PurchaseOrder.objects.create(
        number=f"new-{uuid.uuid4().hex[:16]}",
        supplier_id=supplier_id,
        request_key=request_key,
        created_by=actor,
        expected_at=expected_at,
    )
    po.number = f"PO-{po.pk:05d}"
    po.save(update_fields=["number"])
    PurchaseOrderLine.objects.bulk_create(
        [PurchaseOrderLine(po=po, sku_id=sku_id, ordered=units) for sku_id, units in lines]
    )
    return po


purchase_order_create.alters_data = True


@dataclass
class DraftResult:
    orders: list[PurchaseOrder] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # SKU codes with nothing to order now
    uncounted: list[str] = field(default_factory=list)  # SKU codes the shelf has not counted
    replayed: bool = False


@transaction.atomic
def _purchase_order_draft(*, sku_ids, request_key, actor, now) -> DraftResult:
    result = DraftResult()
    rows = selectors.coverage_rows(sku_ids=sku_ids, now=now)
    wanted = {row.sku_id for row in rows}
    result.uncounted = sorted(row.code for row in rows if not row.known)
    result.skipped = sorted(row.code for row in rows if row.known and not row.suggested)
    result.skipped += ["(unknown or inactive SKU)"] * len(set(sku_ids) - wanted)
    by_supplier: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.suggested:
            by_supplier[row.supplier_id].append(row)
    today = timezone.localtime(now).date()
    for supplier_id, lines in sorted(by_supplier.items()):
        lead = max(line.lead_time_days for line in lines)
        po = purchase_order_create(
            supplier_id=supplier_id,
            lines=[(line.sku_id, line.suggested) for line in lines],
            request_key=request_key,
            actor=actor,
            expected_at=today + timedelta(days=lead),
        )
        result.orders.append(po)
    return result


def purchase_order_draft(
    *,
    sku_ids: list[int],
    request_key: str,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> DraftResult:
    """Draft one purchase order per supplier from the selected SKUs' current suggestions.

    The quantities are recomputed now (never taken from the browser); SKUs with nothing to
    order are skipped and named, and so are the SKUs the shelf has not counted (nothing is
    ordered on a number that is not known). Submitting the same form twice (same
    ``request_key``) returns the first drafts and creates nothing.
    """
    if not request_key:
        raise ReplenishmentError(_("A draft needs the form's request key."))
    now = now or timezone.now()
    existing = list(PurchaseOrder.objects.filter(request_key=request_key).order_by("pk"))
    if existing:
        return DraftResult(orders=existing, replayed=True)
    try:
        return _purchase_order_draft(sku_ids=sku_ids, request_key=request_key, actor=actor, now=now)
    except IntegrityError:
        # The same submission committed first in another request: ours rolled back whole.
        existing = list(PurchaseOrder.objects.filter(request_key=request_key).order_by("pk"))
        if existing:
            return DraftResult(orders=existing, replayed=True)
        raise


purchase_order_draft.alters_data = True


def _lock(po: PurchaseOrder) -> PurchaseOrder:
    return PurchaseOrder.objects.select_for_update().get(pk=po.pk)


@transaction.atomic
def purchase_order_send(
    *, po: PurchaseOrder, actor: AbstractBaseUser | None = None
) -> PurchaseOrder:
    """Draft → sent: from now on its lines are in transit. Sending twice changes nothing."""
    po = _lock(po)
    if po.status == Status.SENT:
        return po
    if po.status != Status.DRAFT:
        raise ReplenishmentError(
            _("%(po)s is %(status)s; only a draft is sent.")
            % {"po": po.number, "status": po.get_status_display().lower()}
        )
    if not po.lines.exists():
        raise ReplenishmentError(
            _("%(po)s has no lines; add one before sending it.") % {"po": po.number}
        )
    po.status = Status.SENT
    po.sent_at = timezone.now()
    po.save(update_fields=["status", "sent_at"])
    return po


purchase_order_send.alters_data = True


@transaction.atomic
def purchase_order_cancel(
    *, po: PurchaseOrder, actor: AbstractBaseUser | None = None
) -> PurchaseOrder:
    """Cancel a draft or a sent order nothing was received against (else close it short)."""
    po = _lock(po)
    if po.status == Status.CANCELLED:
        return po
    if po.status not in (Status.DRAFT, Status.SENT) or Receipt.objects.filter(line__po=po).exists():
        raise ReplenishmentError(
            _(
                "%(po)s is %(status)s: units arrived against it, so close it instead "
                "(shortfalls are recorded)."
            )
            % {"po": po.number, "status": po.get_status_display().lower()}
        )
    po.status = Status.CANCELLED
    po.closed_at = timezone.now()
    po.save(update_fields=["status", "closed_at"])
    return po


purchase_order_cancel.alters_data = True


@transaction.atomic
def purchase_order_close(
    *, po: PurchaseOrder, actor: AbstractBaseUser | None = None
) -> tuple[PurchaseOrder, list[Discrepancy]]:
    """Close an open order as it stands: every line short of its order is a discrepancy.

    Nothing more is in transit for it afterwards. Closing twice changes nothing.
    """
    po = _lock(po)
    if po.status == Status.RECEIVED:
        return po, []
    if po.status not in PurchaseOrder.OPEN:
        raise ReplenishmentError(
            _("%(po)s is %(status)s; only a sent order is closed.")
            % {"po": po.number, "status": po.get_status_display().lower()}
        )
    lines = list(
        PurchaseOrderLine.objects.select_for_update()
        .filter(po=po)
        .select_related("sku")
        .order_by("pk")
    )
    short = [
        discrepancy_record(
            kind=Discrepancy.Kind.RECEIPT_MISMATCH,
            fact=Fact.IN_TRANSIT,
            sku=line.sku,
            owner_value=line.ordered,
            consumer_value=line.received,
            reference=po.number,
            detail=(
                f"{po.number} closed short: {line.sku.code} ordered {line.ordered}, received "
                f"{line.received} ({line.ordered - line.received} never arrived)."
            ),
        )
        for line in lines
        if line.received < line.ordered
    ]
    po.status = Status.RECEIVED
    po.closed_at = timezone.now()
    po.save(update_fields=["status", "closed_at"])
    return po, short


purchase_order_close.alters_data = True


@transaction.atomic
def purchase_order_line_set(*, line: PurchaseOrderLine, ordered: int) -> PurchaseOrderLine | None:
    """Change a draft line's quantity; 0 removes the line. Sent orders are not edited."""
    po = _lock(line.po)
    if po.status != Status.DRAFT:
        raise ReplenishmentError(
            _("%(po)s was sent; its lines are no longer edited.") % {"po": po.number}
        )
    if not isinstance(ordered, int) or ordered < 0:
        raise ReplenishmentError(_("Order a whole number of units (0 removes the line)."))
    line = PurchaseOrderLine.objects.select_for_update().get(pk=line.pk)
    if ordered == 0:
        line.delete()
        return None
    line.ordered = ordered
    line.save(update_fields=["ordered"])
    return line


purchase_order_line_set.alters_data = True


@dataclass
class ReceiptOutcome:
    receipt: Receipt
    replayed: bool = False
    mismatch: Discrepancy | None = None

    @property
    def line(self) -> PurchaseOrderLine:
        return self.receipt.line


@transaction.atomic
def purchase_order_line_receive(
    *,
    line: PurchaseOrderLine,
    bin: Bin | str,
    units: int,
    key: str,
    actor: AbstractBaseUser | None = None,
) -> ReceiptOutcome:
    """Count units of one line into one bin: a receive movement, less in transit.

    The movement goes through the shelf's one write path with the event id
    ``po-receipt:<key>``; the form's key makes a double submit a replay that changes
    nothing. Receiving more than was ordered, or against an order already received or
    closed short, is booked (the units are on the shelf) and recorded as a discrepancy.
    Refused, changing nothing: a draft or cancelled order, an inactive bin, a SKU the
    catalog no longer has.

    ``bin`` given as a code is a new location the person confirmed: it is created in the
    same transaction as the receipt.
    """
    if not key or len(key) > 64:
        raise ReceiptRefused(_("This form has expired; reload the page and scan again."))
    if (
        done := Receipt.objects.filter(key=key)
        .select_related("line__po", "line__sku", "bin")
        .first()
    ):
        return ReceiptOutcome(receipt=done, replayed=True)
    po = _lock(line.po)
    line = PurchaseOrderLine.objects.select_for_update().select_related("sku").get(pk=line.pk)
    if (
        done := Receipt.objects.filter(key=key)
        .select_related("line__po", "line__sku", "bin")
        .first()
    ):
        return ReceiptOutcome(receipt=done, replayed=True)  # the twin request got here first
    if po.status not in PurchaseOrder.RECEIVABLE:
        raise ReceiptRefused(
            _("%(po)s is %(status)s: nothing can be received against it.")
            % {"po": po.number, "status": po.get_status_display().lower()}
        )
    was_closed = po.status == Status.RECEIVED
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ReceiptRefused(_("Enter how many units you counted (at least 1)."), field="units")
    if isinstance(bin, str):
        try:
            bin = bin_create(code=bin)
        except BinCodeInvalid as error:
            raise ReceiptRefused(str(error), field="bin") from error
    try:
        movement_check(bin=bin, sku=line.sku, delta=units, kind=StockMovement.Kind.RECEIVE)
    except MovementRefused as refused:
        raise ReceiptRefused(str(refused), field=refused.field) from refused
    movement = on_hand_adjust(
        bin=bin,
        sku=line.sku,
        delta=units,
        kind=StockMovement.Kind.RECEIVE,
        source_system=inventory_selectors.shelf_system(),
        source_event_id=f"po-receipt:{key}",
        reference=po.number,
        actor=actor,
        note=f"received against {po.number}",
    )
    receipt = Receipt.objects.create(
        line=line, bin=bin, units=units, key=key, movement=movement, actor=actor
    )
    before = line.received
    line.received = before + units
    line.save(update_fields=["received"])
    receipt.line = line
    line.po = po
    outcome = ReceiptOutcome(receipt=receipt)
    if line.received > line.ordered:
        over_now = line.received - max(before, line.ordered)
        detail = (
            f"{po.number}: {line.sku.code} ordered {line.ordered}, received {line.received} "
            f"({over_now} more than ordered, now in bin {bin.code}). Tell the supplier."
        )
    elif was_closed:
        detail = (
            f"{po.number} was closed short, yet {units} of {line.sku.code} arrived (now in bin "
            f"{bin.code}): {line.received} of {line.ordered} received."
        )
    else:
        detail = ""
    if detail:
        outcome.mismatch = discrepancy_record(
            kind=Discrepancy.Kind.RECEIPT_MISMATCH,
            fact=Fact.IN_TRANSIT,
            sku=line.sku,
            bin=bin,
            owner_value=line.ordered,
            consumer_value=line.received,
            reference=po.number,
            detail=detail,
        )
    if not was_closed:  # a closed order stays closed; an open one closes when complete
        outstanding = PurchaseOrderLine.objects.filter(po=po, received__lt=F("ordered"))
        po.status = Status.PARTIALLY_RECEIVED if outstanding.exists() else Status.RECEIVED
        po.closed_at = timezone.now() if po.status == Status.RECEIVED else None
        po.save(update_fields=["status", "closed_at"])
    return outcome


purchase_order_line_receive.alters_data = True


# --- ghost rows --------------------------------------------------------------------------


@dataclass
class GhostReport:
    found: int = 0
    recorded: int = 0
    counts_requested: int = 0
    already_open: int = 0

    def summary(self) -> str:
        return (
            f"{self.found} ghost rows found: {self.recorded} new discrepancies "
            f"({self.counts_requested} bin counts asked for), {self.already_open} already open."
        )


@transaction.atomic
def ghost_rows_detect() -> GhostReport:
    """Record every ghost row as a discrepancy, once while it stays open.

    Shelf rows also ask for a count of the bin (the hook reconciliation uses). One run at a
    time: the run locks replenishment's system row, so two runs never record one row twice.
    """
    System.objects.select_for_update().get(name="replenishment")
    found = selectors.ghost_rows()
    report = GhostReport(found=len(found))
    already = set(
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.GHOST_ROW, reference__in=[g.key for g in found])
        .values_list("reference", flat=True)
    )
    replenishment = System.objects.get(name="replenishment")
    for ghost in found:
        if ghost.key in already:
            report.already_open += 1
            continue
        discrepancy_record(
            kind=Discrepancy.Kind.GHOST_ROW,
            fact=ghost.fact,
            detail=ghost.detail,
            sku=ghost.sku,
            bin=ghost.bin,
            consumer=None if ghost.count else replenishment,
            owner_value=ghost.quantity if ghost.count else None,
            reference=ghost.key,
            request_count=ghost.count,
            trigger="ghost_row",
        )
        report.recorded += 1
        report.counts_requested += int(ghost.count)
    return report


ghost_rows_detect.alters_data = True
