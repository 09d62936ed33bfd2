"""Every write of returns intake.

The storefront owns the refund; the shelf owns the restock. So:

* a return (from the storefront's RETURN_OPENED event, or typed in by a manager) only says
  what is expected; it changes nothing on the shelf;
* a refund event only updates the mirrored refund status; it never changes on-hand;
* staff open a box (a receipt) by scanning, grade every unit (sellable into a named bin,
  damaged, wrong item) or mark expected units missing, and confirm the box once. Only at
  that confirmation do sellable units become ``return_restock`` movements through
  ``inventory.services.on_hand_adjust``; damaged units go to quarantine, wrong items and
  every other difference become ``return_mismatch`` discrepancies;
* the outcome per returned line goes back to the storefront after commit.

Nothing is restocked twice: confirmations carry an idempotency key, the return row is locked
while a box changes, the lines are locked in pk order while counted, every movement's event id
is derived from its unit's id, and a database constraint keeps each line's accounted units at
or below what was expected.
"""

import hashlib
import logging
import operator
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial, reduce

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import dispatch
from inventory import selectors as shelf_selectors
from inventory.exceptions import InvalidMovement
from inventory.models import Bin, Discrepancy, Fact, InboxEvent, Sku, StockMovement, System
from inventory.services import (
    discrepancy_record,
    discrepancy_resolve,
    on_hand_adjust,
    outbox_record,
)
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    EventLine,
    InboundEvent,
    RateLimited,
    ReturnDisposition,
    StorefrontError,
)
from returns.exceptions import (
    ConfirmationRefused,
    GradeRefused,
    ReceiptNotOpen,
    ReturnsError,
    UnknownCode,
)
from returns.models import (
    COUNTED_GRADES,
    QuarantineItem,
    ReceiptUnit,
    RefundMirror,
    ReturnAuthorisation,
    ReturnLine,
    ReturnOutcome,
    ReturnReceipt,
)

log = logging.getLogger(__name__)

Grade = ReceiptUnit.Grade
Disposition = ReturnOutcome.Disposition
MAX_QUANTITY = 1000  # units in one scan or one typed line
SHELF = "shelf"
GRADE_DISPOSITION = {
    Grade.SELLABLE: Disposition.RESTOCKED,
    Grade.DAMAGED: Disposition.PROCESSING_REQUIRED,
    Grade.MISSING: Disposition.MISSING,
}


# --- returns arrive ----------------------------------------------------------------------


@dataclass
class OrderedLines:
    """What the storefront's ORDER_PLACED events said of one order."""

    skus: dict[str, str] = field(default_factory=dict)  # line_ref → SKU
    customer_name: str = ""


@dataclass(frozen=True)
class ExpectedLine:
    line_ref: str
    sku_code: str
    quantity: int
    reason: str = ""


@transaction.atomic
def return_open_from_event(*, system: System, event: InboundEvent) -> str:
    """RETURN_OPENED from a storefront (runs inside the inbox's processing transaction).

    Deduplicated on the storefront's return reference: Shopify's returns/request and
    returns/approve both announce the same return. An event that lists no lines (Shopify's
    documented payloads carry only a count) takes them from the storefront's API; a storefront
    error there propagates, so the inbox tries the event again instead of recording an empty
    return. Lines without a SKU (Shopify's webhooks name the order line only) take it from the
    order's ORDER_PLACED event, and so does a return that names no customer (Shopify documents
    none on its return topics). Changes nothing on-hand.
    """
    ref = (event.return_ref or "").strip()[:100]
    if not ref:
        return f"return event {event.event_id} names no return; nothing recorded"
    if not event.lines:
        known = ReturnAuthorisation.objects.filter(storefront=system, return_ref=ref).first()
        if known is not None:
            return f"return {known.number} already recorded; nothing changed"
        event = replace(event, lines=_storefront_return_lines(system=system, return_ref=ref))
    ordered = OrderedLines()
    if event.lines and (not event.customer_name or any(not x.sku for x in event.lines)):
        ordered = _order_placed(system=system, order_ref=event.order_ref)
    lines = _event_lines(event=event, ordered=ordered)
    if not lines:
        return f"return {ref} names no returned units; nothing recorded"
    occurred = event.occurred_at
    if occurred is not None and timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred, UTC)
    rma, created = _return_create(
        storefront=system,
        return_ref=ref,
        order_ref=(event.order_ref or "")[:100],
        customer_name=(event.customer_name or ordered.customer_name)[:100],
        origin=ReturnAuthorisation.Origin.STOREFRONT,
        lines=lines,
        source_event_id=event.event_id[:200],
        created_at=min(occurred, timezone.now()) if occurred else None,
    )
    if not created:
        return f"return {rma.number} already recorded; nothing changed"
    units = sum(line.quantity for line in lines)
    unknown = [line.line_ref for line in lines if not line.sku_code]
    note = f"; {len(unknown)} line(s) without a SKU" if unknown else ""
    return f"return {rma.number} recorded: {units} unit(s) expected on {len(lines)} line(s){note}"


def _storefront_return_lines(*, system: System, return_ref: str) -> list[EventLine]:
    """The return's lines as the storefront's API lists them (none from a storefront whose
    return events carry their lines, or a system without an adapter)."""
    try:
        adapter = adapter_for(system)
    except ValueError:
        return []
    try:
        return adapter.read_return_lines(return_ref)
    finally:
        if close := getattr(adapter, "close", None):
            close()  # an HTTP client the adapter opened for this read


def _event_lines(*, event: InboundEvent, ordered: OrderedLines) -> list[ExpectedLine]:
    """The event's lines, merged per line reference, SKUs resolved from the order if needed."""
    merged: dict[str, ExpectedLine] = {}
    for n, line in enumerate(event.lines, start=1):
        if line.quantity <= 0:
            continue
        ref = (line.line_ref or str(n))[:100]
        code = (line.sku or ordered.skus.get(ref, ""))[:64]
        if known := merged.get(ref):
            merged[ref] = ExpectedLine(
                ref, known.sku_code, known.quantity + line.quantity, known.reason
            )
        else:
            merged[ref] = ExpectedLine(ref, code, line.quantity, (line.reason or "")[:255])
    return list(merged.values())


def _order_placed(*, system: System, order_ref: str) -> OrderedLines:
    """The order's line SKUs and customer from the storefront's ORDER_PLACED events."""
    found = OrderedLines()
    if not order_ref:
        return found
    payloads = InboxEvent.objects.filter(
        system=system, type="order_placed", payload__order_ref=order_ref
    ).values_list("payload", flat=True)
    for payload in payloads:
        found.customer_name = found.customer_name or (payload or {}).get("customer_name") or ""
        for line in (payload or {}).get("lines") or []:
            if line.get("sku") and line.get("line_ref"):
                found.skus.setdefault(str(line["line_ref"]), str(line["sku"]))
    return found


@transaction.atomic
def _return_create(
    *,
    storefront: System | None,
    return_ref: str,
    order_ref: str,
    customer_name: str,
    origin: str,
    lines: list[ExpectedLine],
    source_event_id: str = "",
    creation_key: str = "",
    actor: AbstractBaseUser | None = None,
    created_at: datetime | None = None,
) -> tuple[ReturnAuthorisation, bool]:
    if storefront is not None and (
        known := ReturnAuthorisation.objects.filter(
            storefront=storefront, return_ref=return_ref
        ).first()
    ):
        return known, False
    number = return_ref
    if ReturnAuthorisation.objects.filter(number=number).exists() and storefront is not None:
        number = f"{storefront.name}:{return_ref}"[:100]
    skus = {s.code.upper(): s for s in Sku.objects.filter(code__in=[x.sku_code for x in lines])}
    try:
        with transaction.atomic():
            rma = ReturnAuthorisation.objects.create(
                number=number,
                storefront=storefront,
                return_ref=return_ref,
                order_ref=order_ref,
                customer_name=customer_name,
                origin=origin,
                source_event_id=source_event_id,
                creation_key=creation_key,
                created_by=actor,
                **({"created_at": created_at} if created_at else {}),
            )
            ReturnLine.objects.bulk_create(
                [
                    ReturnLine(
                        rma=rma,
                        line_ref=line.line_ref,
                        sku=skus.get(line.sku_code.upper()),
                        sku_code=line.sku_code,
                        reason=line.reason,
                        expected=line.quantity,
                    )
                    for line in lines
                ]
            )
    except IntegrityError:
        # The same return recorded concurrently (request and approve processed at once).
        known = ReturnAuthorisation.objects.filter(
            Q(storefront=storefront, return_ref=return_ref)
            | (Q(creation_key=creation_key) & ~Q(creation_key=""))
        ).first()
        if known is None:
            raise
        return known, False
    _refund_status_update(rma=rma)
    return rma, True


@transaction.atomic
def return_create_by_hand(
    *,
    order_ref: str,
    customer_name: str,
    lines: list[tuple[str, int, str]],
    creation_key: str,
    actor: AbstractBaseUser | None,
) -> ReturnAuthorisation:
    """A manager takes a return by phone: the order, the customer, the lines expected.

    The return's storefront is the owner of orders (it decides the refund and is told the
    outcome). Submitting the same form twice (same ``creation_key``) creates one return.
    """
    order_ref = (order_ref or "").strip()
    if not order_ref:
        raise ReturnsError("Name the order the units were bought on.", field="order_ref")
    if not creation_key:
        raise ReturnsError("This form is out of date: reload the page.", field="order_ref")
    if known := ReturnAuthorisation.objects.filter(creation_key=creation_key).first():
        return known
    wanted: dict[str, ExpectedLine] = {}
    for code, quantity, reason in lines:
        code = (code or "").strip()
        if not code:
            continue
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise ReturnsError(
                f"{code}: a quantity is a whole number from 1 to {MAX_QUANTITY}.", field="lines"
            )
        key = code.upper()
        if key in wanted:
            known_line = wanted[key]
            wanted[key] = ExpectedLine(
                known_line.line_ref, known_line.sku_code, known_line.quantity + quantity, reason
            )
        else:
            wanted[key] = ExpectedLine(str(len(wanted) + 1), code, quantity, (reason or "")[:255])
    if not wanted:
        raise ReturnsError("A return needs at least one line: a SKU and a quantity.", field="lines")
    matches = Sku.objects.filter(reduce(operator.or_, [Q(code__iexact=x) for x in wanted]))
    known_skus = {sku.code.upper(): sku.code for sku in matches}
    unknown = [line.sku_code for key, line in wanted.items() if key not in known_skus]
    if unknown:
        raise ReturnsError(f"Not in the catalog: {', '.join(unknown)}.", field="lines")
    expected = [
        ExpectedLine(x.line_ref, known_skus[key], x.quantity, x.reason) for key, x in wanted.items()
    ]
    owner = shelf_selectors.owner_of(fact=Fact.ORDER)
    storefront = owner if owner and owner.kind == System.Kind.STOREFRONT else None
    rma, created = _return_create(
        storefront=storefront,
        return_ref=creation_key[:100],
        order_ref=order_ref[:100],
        customer_name=(customer_name or "").strip()[:100],
        origin=ReturnAuthorisation.Origin.PHONE,
        lines=expected,
        creation_key=creation_key,
        actor=actor,
    )
    if created:
        # A short number staff can type: PH-<id>; it is also what the storefront is told.
        number = f"PH-{rma.pk}"
        if ReturnAuthorisation.objects.filter(number=number).exists():
            number = f"PH-{rma.pk}-{creation_key[:6]}"  # a storefront's return took it
        rma.number = rma.return_ref = number
        rma.save(update_fields=["number", "return_ref"])
    return rma


return_create_by_hand.alters_data = True


# --- the refund mirror -------------------------------------------------------------------


@transaction.atomic
def refund_mirror_from_event(*, system: System, event: InboundEvent) -> str:
    """REFUND_ISSUED: copy it into the mirror and update the refund status of the order's
    returns. Never changes on-hand: the refund is the storefront's fact, the restock ours."""
    units = sum(max(0, line.quantity) for line in event.lines)
    RefundMirror.objects.get_or_create(
        system=system,
        event_id=event.event_id[:200],
        defaults={
            "order_ref": (event.order_ref or "")[:100],
            "units": units,
            "occurred_at": event.occurred_at,
        },
    )
    returns = list(
        ReturnAuthorisation.objects.select_for_update()
        .filter(storefront=system, order_ref=event.order_ref)
        .order_by("pk")
    )
    for rma in returns:
        _refund_status_update(rma=rma)
    return (
        f"refund of {units} unit(s) on order {event.order_ref} mirrored on {len(returns)} "
        "return(s); on-hand unchanged"
    )


def _refund_status_update(*, rma: ReturnAuthorisation) -> None:
    if rma.storefront_id is None:
        return
    mirrors = RefundMirror.objects.filter(system_id=rma.storefront_id, order_ref=rma.order_ref)
    figures = mirrors.aggregate(units=Coalesce(Sum("units"), 0), latest=Max("recorded_at"))
    if figures["latest"] is None:
        return
    expected = rma.lines.aggregate(t=Coalesce(Sum("expected"), 0))["t"]
    status = (
        ReturnAuthorisation.RefundStatus.REFUNDED
        if expected and figures["units"] >= expected
        else ReturnAuthorisation.RefundStatus.PARTIAL
    )
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        refund_status=status, refunded_units=figures["units"], refund_updated_at=timezone.now()
    )


# --- receiving: scan, grade, confirm -------------------------------------------------------


@dataclass
class ScanResult:
    unit: ReceiptUnit | None
    message: str
    replayed: bool = False


def _derived_key(*parts: object) -> str:
    """A key for a row recorded on behalf of another keyed request (fits any key column)."""
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _locked_return(rma_id: int) -> ReturnAuthorisation:
    """The return's row lock serializes every change to its boxes."""
    return ReturnAuthorisation.objects.select_for_update().get(pk=rma_id)


def _open_receipt(*, rma: ReturnAuthorisation, actor: AbstractBaseUser | None) -> ReturnReceipt:
    """The return's open box, opened now if there is none (called under the return's lock)."""
    if receipt := rma.receipts.filter(status=ReturnReceipt.Status.OPEN).first():
        return receipt
    last = rma.receipts.aggregate(m=Max("sequence"))["m"] or 0
    return ReturnReceipt.objects.create(rma=rma, sequence=last + 1, opened_by=actor)


def _held_in_box(*, receipt: ReturnReceipt, line: ReturnLine, exclude: int | None = None) -> int:
    """Units of ``line`` the open box already accounts for (graded or waiting for a grade)."""
    units = receipt.units.filter(line=line, grade__in=COUNTED_GRADES)
    if exclude is not None:
        units = units.exclude(pk=exclude)
    return units.aggregate(t=Coalesce(Sum("quantity"), 0))["t"]


def _free(*, receipt: ReturnReceipt, line: ReturnLine, exclude: int | None = None) -> int:
    return line.outstanding - _held_in_box(receipt=receipt, line=line, exclude=exclude)


def _check_quantity(quantity: int, field: str) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ReturnsError("A quantity is a whole number.", field=field)
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ReturnsError(f"A quantity is from 1 to {MAX_QUANTITY}.", field=field)


def _bin_for_code(code: str, *, field: str = "bin") -> Bin:
    code = (code or "").strip()
    if not code:
        raise GradeRefused("Scan or type the bin it goes into.", field=field)
    found = Bin.objects.filter(code__iexact=code).first()
    if found is None:
        raise GradeRefused(f"There is no bin {code}.", field=field)
    if not found.active:
        raise GradeRefused(f"Bin {found.code} is inactive; choose another bin.", field=field)
    return found


@transaction.atomic
def receipt_unit_scan(
    *,
    rma: ReturnAuthorisation,
    code: str,
    scan_key: str,
    actor: AbstractBaseUser | None,
    quantity: int = 1,
) -> ScanResult:
    """One scan into the return's open box (opened by this scan if needed).

    A SKU expected on the return records units waiting for a grade; beyond what is still
    expected, or a SKU not on the return, they are wrong items (kept aside, never restocked).
    A bin code grades the unit scanned last that still waits for a grade sellable into that
    bin (scan a unit, then the bin it goes into). Replaying the same ``scan_key`` changes
    nothing.
    """
    code = (code or "").strip()
    if not code:
        raise UnknownCode("Scan or type a SKU, or a bin for the last unit.", field="code")
    if not scan_key:
        raise ReturnsError("This form is out of date: reload the page.", field="code")
    _check_quantity(quantity, "quantity")
    rma = _locked_return(rma.pk)
    done = ReceiptUnit.objects.filter(Q(scan_key=scan_key) | Q(grade_key=scan_key)).first()
    if done is not None:
        return ScanResult(done, f"Already recorded: {done}.", replayed=True)
    line = rma.lines.filter(sku_code__iexact=code).select_related("sku").first()
    if line is None and (found_bin := Bin.objects.filter(code__iexact=code).first()):
        return _grade_waiting_into(rma=rma, bin=found_bin, scan_key=scan_key, actor=actor)
    receipt = _open_receipt(rma=rma, actor=actor)
    common = {"receipt": receipt, "created_by": actor}
    if line is None:
        sku = Sku.objects.filter(code__iexact=code).first()
        if sku is None:
            raise UnknownCode(f"{code} is neither a SKU of the catalog nor a bin.", field="code")
        unit = ReceiptUnit.objects.create(
            sku=sku, sku_code=sku.code, quantity=quantity, grade=Grade.WRONG_ITEM,
            note="not on this return", scan_key=scan_key, **common,
        )  # fmt: skip
        return ScanResult(
            unit, f"{sku.code} is not on return {rma.number}: kept aside as a wrong item."
        )
    free = max(0, _free(receipt=receipt, line=line))
    expected_part = min(free, quantity)
    unit = None
    if expected_part:
        unit = ReceiptUnit.objects.create(
            line=line, sku=line.sku, sku_code=line.sku_code, quantity=expected_part,
            scan_key=scan_key, **common,
        )  # fmt: skip
    extra = quantity - expected_part
    if extra:
        extra_unit = ReceiptUnit.objects.create(
            sku=line.sku, sku_code=line.sku_code, quantity=extra, grade=Grade.WRONG_ITEM,
            note=f"more than the {line.expected} expected",
            scan_key=_derived_key(scan_key, "extra") if unit else scan_key, **common,
        )  # fmt: skip
        message = (
            f"{line.sku_code}: only {line.expected} expected on {rma.number}; {extra} extra "
            "unit(s) kept aside as wrong items."
        )
        return ScanResult(unit or extra_unit, message)
    return ScanResult(unit, f"{line.sku_code}: now grade it — sellable into a bin, or damaged.")


receipt_unit_scan.alters_data = True


def _grade_waiting_into(
    *, rma: ReturnAuthorisation, bin: Bin, scan_key: str, actor: AbstractBaseUser | None
) -> ScanResult:
    """A bin scanned after a unit: the last unit still waiting for a grade goes sellable into
    it."""
    receipt = rma.receipts.filter(status=ReturnReceipt.Status.OPEN).first()
    waiting = (
        receipt.units.filter(grade=Grade.PENDING).select_related("sku", "line").order_by("-pk")
        if receipt
        else ReceiptUnit.objects.none()
    ).first()
    if waiting is None:
        raise GradeRefused(
            f"{bin.code} is a bin: scan a returned unit first, then the bin it goes into.",
            field="code",
        )
    unit = _grade(unit=waiting, grade=Grade.SELLABLE, bin=bin, field="code")
    unit.grade_key = scan_key
    unit.save(update_fields=["grade_key"])
    return ScanResult(unit, f"{unit.sku_code} sellable into {bin.code}.")


@transaction.atomic
def receipt_unit_grade(
    *, unit: ReceiptUnit, grade: str, actor: AbstractBaseUser | None, bin_code: str = ""
) -> ReceiptUnit:
    """Grade (or grade again) a unit of an open box: sellable into a bin, damaged, wrong item."""
    _locked_return(unit.receipt.rma_id)
    unit = ReceiptUnit.objects.select_related("receipt__rma", "line", "sku").get(pk=unit.pk)
    if grade not in (Grade.SELLABLE, Grade.DAMAGED, Grade.WRONG_ITEM):
        raise GradeRefused("Choose sellable (with a bin), damaged or wrong item.", field="grade")
    found_bin = _bin_for_code(bin_code) if grade == Grade.SELLABLE else None
    return _grade(unit=unit, grade=grade, bin=found_bin, field="grade")


receipt_unit_grade.alters_data = True


def _grade(*, unit: ReceiptUnit, grade: str, bin: Bin | None, field: str) -> ReceiptUnit:
    receipt = unit.receipt
    if receipt.status != ReturnReceipt.Status.OPEN:
        raise ReceiptNotOpen(
            f"Box {receipt.sequence} of {receipt.rma.number} is confirmed; its units no longer "
            "change.",
            field=field,
        )
    if grade in (Grade.SELLABLE, Grade.DAMAGED):
        if unit.line_id is None:
            raise GradeRefused(
                f"{unit.sku_code} is not expected back on this return: it stays a wrong item "
                "and is never restocked.",
                field=field,
            )
        if grade == Grade.SELLABLE and unit.sku_id is None:
            raise GradeRefused(
                f"{unit.sku_code} is not in the catalog, so it cannot go on the shelf; grade it "
                "damaged or wrong item.",
                field=field,
            )
        if (
            unit.grade not in COUNTED_GRADES
            and _free(receipt=receipt, line=unit.line, exclude=unit.pk) < unit.quantity
        ):
            raise GradeRefused(
                f"Every expected {unit.sku_code} is accounted for already; this one stays a "
                "wrong item.",
                field=field,
            )
    unit.grade = grade
    unit.bin = bin
    unit.save(update_fields=["grade", "bin"])
    return unit


@transaction.atomic
def receipt_unit_remove(*, unit: ReceiptUnit, actor: AbstractBaseUser | None) -> None:
    """Take back a mis-scan from an open box (nothing of it reached the shelf)."""
    _locked_return(unit.receipt.rma_id)
    unit = ReceiptUnit.objects.select_related("receipt__rma").filter(pk=unit.pk).first()
    if unit is None:
        return  # removed already: a double click
    if unit.receipt.status != ReturnReceipt.Status.OPEN:
        raise ReceiptNotOpen(
            f"Box {unit.receipt.sequence} of {unit.receipt.rma.number} is confirmed; its units "
            "no longer change."
        )
    unit.delete()


receipt_unit_remove.alters_data = True


@transaction.atomic
def receipt_missing_mark(
    *,
    line: ReturnLine,
    quantity: int,
    scan_key: str,
    actor: AbstractBaseUser | None,
) -> ReceiptUnit:
    """Expected units of ``line`` that are not in this box: recorded as missing in it."""
    _check_quantity(quantity, "quantity")
    if not scan_key:
        raise ReturnsError("This form is out of date: reload the page.", field="quantity")
    rma = _locked_return(line.rma_id)
    if done := ReceiptUnit.objects.filter(scan_key=scan_key).first():
        return done
    line = ReturnLine.objects.get(pk=line.pk)
    receipt = _open_receipt(rma=rma, actor=actor)
    free = _free(receipt=receipt, line=line)
    if quantity > free:
        raise ReturnsError(
            f"{line.sku_code or line.line_ref}: only {max(free, 0)} unit(s) are still expected.",
            field="quantity",
        )
    return ReceiptUnit.objects.create(
        receipt=receipt, line=line, sku=line.sku, sku_code=line.sku_code, quantity=quantity,
        grade=Grade.MISSING, scan_key=scan_key, created_by=actor,
    )  # fmt: skip


receipt_missing_mark.alters_data = True


@dataclass
class ConfirmResult:
    receipt: ReturnReceipt
    replayed: bool = False  # the same confirmation again (same key)
    already: bool = False  # someone else confirmed this box first
    restocked: int = 0
    quarantined: int = 0
    missing: int = 0
    wrong: int = 0

    @property
    def message(self) -> str:
        box = f"Box {self.receipt.sequence} of {self.receipt.rma.number}"
        if self.already or self.replayed:
            who = self.receipt.confirmed_by or "someone"
            when = timezone.localtime(self.receipt.confirmed_at).strftime("%H:%M")
            return f"{box} was confirmed by {who} at {when}; nothing changed."
        parts = [f"{self.restocked} restocked"]
        parts += [f"{self.quarantined} to quarantine"] if self.quarantined else []
        parts += [f"{self.missing} missing"] if self.missing else []
        parts += [f"{self.wrong} wrong item(s) kept aside"] if self.wrong else []
        return f"{box} confirmed: {', '.join(parts)}."


@transaction.atomic
def receipt_confirm(
    *,
    receipt: ReturnReceipt,
    confirm_key: str,
    actor: AbstractBaseUser | None,
    last_box: bool = False,
) -> ConfirmResult:
    """Confirm what arrived in one box; only now does anything reach the shelf.

    Sellable units become ``return_restock`` movements into their bins; damaged units go to
    quarantine; wrong items and missing units are discrepancies; with ``last_box`` whatever
    is still expected is missing. Replaying the same key, or a second confirmation of the
    box by anyone, changes nothing.
    """
    if not confirm_key:
        raise ConfirmationRefused("This form is out of date: reload the page.")
    rma = _locked_return(receipt.rma_id)
    if (
        done := ReturnReceipt.objects.select_related("rma", "confirmed_by")
        .filter(confirm_key=confirm_key)
        .first()
    ):
        return ConfirmResult(receipt=done, replayed=True)
    receipt = (
        ReturnReceipt.objects.select_for_update(of=("self",))
        .select_related("rma", "confirmed_by")
        .get(pk=receipt.pk)
    )
    if receipt.status == ReturnReceipt.Status.CONFIRMED:
        return ConfirmResult(receipt=receipt, already=True)
    units = list(receipt.units.select_related("line", "sku", "bin").order_by("pk"))
    waiting = sum(1 for unit in units if unit.grade == Grade.PENDING)
    if waiting:
        raise ConfirmationRefused(
            f"{waiting} unit(s) still need a grade: sellable into a bin, damaged or wrong item."
        )
    lines = {
        line.pk: line
        for line in ReturnLine.objects.select_for_update().filter(rma=rma).order_by("pk")
    }
    now = timezone.now()
    if last_box:
        units += _missing_rest(
            receipt=receipt, lines=lines, units=units, key=confirm_key, actor=actor
        )
    if not units:
        raise ConfirmationRefused("Nothing is in this box yet: scan the units that arrived.")
    _count_into_lines(lines=lines, units=units)
    result = ConfirmResult(receipt=receipt)
    _restock(rma=rma, receipt=receipt, units=units, actor=actor, result=result)
    _surface(rma=rma, receipt=receipt, units=units, lines=lines, result=result)
    outcomes = _outcomes_record(rma=rma, receipt=receipt, units=units, now=now)
    receipt.status = ReturnReceipt.Status.CONFIRMED
    receipt.confirmed_by = actor
    receipt.confirmed_at = now
    receipt.confirm_key = confirm_key
    receipt.last_box = last_box
    receipt.save(
        update_fields=["status", "confirmed_by", "confirmed_at", "confirm_key", "last_box"]
    )
    _return_progress(rma=rma, now=now)
    if outcomes:
        transaction.on_commit(partial(_enqueue_outcomes, rma.pk), robust=True)
    receipt.rma = rma
    return result


receipt_confirm.alters_data = True


def _missing_rest(
    *,
    receipt: ReturnReceipt,
    lines: dict[int, ReturnLine],
    units: list[ReceiptUnit],
    key: str,
    actor: AbstractBaseUser | None,
) -> list[ReceiptUnit]:
    """The last box: every unit still expected and not in it is missing."""
    in_box: dict[int, int] = defaultdict(int)
    for unit in units:
        if unit.counts_against_line:
            in_box[unit.line_id] += unit.quantity
    rest = [
        ReceiptUnit(
            receipt=receipt,
            line=line,
            sku=line.sku,
            sku_code=line.sku_code,
            quantity=line.outstanding - in_box[line.pk],
            grade=Grade.MISSING,
            scan_key=_derived_key(key, "missing", line.pk),
            note="not arrived by the last box",
            created_by=actor,
        )
        for line in lines.values()
        if line.outstanding - in_box[line.pk] > 0
    ]
    for unit in rest:
        unit.save()
    return rest


def _count_into_lines(*, lines: dict[int, ReturnLine], units: list[ReceiptUnit]) -> None:
    """Add the box's sellable, damaged and missing units to their (locked) lines."""
    added: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit in units:
        if unit.line_id is not None and unit.grade in GRADE_DISPOSITION:
            added[unit.line_id][unit.grade] += unit.quantity
    for line_id, by_grade in added.items():
        line = lines[line_id]
        total = sum(by_grade.values())
        if total > line.outstanding:
            raise ConfirmationRefused(
                f"{line.sku_code}: {total} unit(s) in this box but only {line.outstanding} "
                "still expected; grade the rest as wrong items."
            )
        ReturnLine.objects.filter(pk=line_id).update(
            sellable=F("sellable") + by_grade[Grade.SELLABLE],
            damaged=F("damaged") + by_grade[Grade.DAMAGED],
            missing=F("missing") + by_grade[Grade.MISSING],
        )
        line.sellable += by_grade[Grade.SELLABLE]
        line.damaged += by_grade[Grade.DAMAGED]
        line.missing += by_grade[Grade.MISSING]


def _restock(
    *,
    rma: ReturnAuthorisation,
    receipt: ReturnReceipt,
    units: list[ReceiptUnit],
    actor: AbstractBaseUser | None,
    result: ConfirmResult,
) -> None:
    """Sellable units onto the shelf: one return_restock movement each, bins in pk order."""
    sellable = sorted(
        (u for u in units if u.grade == Grade.SELLABLE), key=lambda u: (u.bin_id, u.sku_id, u.pk)
    )
    if not sellable:
        return
    shelf = System.objects.get(name=SHELF)
    for unit in sellable:
        try:
            unit.movement = on_hand_adjust(
                bin=unit.bin,
                sku=unit.sku,
                delta=unit.quantity,
                kind=StockMovement.Kind.RETURN_RESTOCK,
                source_system=shelf,
                source_event_id=f"return-unit:{unit.pk}",
                reference=rma.number[:100],
                actor=actor,
                note=f"return {rma.number} box {receipt.sequence}"[:255],
            )
        except InvalidMovement as refused:
            raise ConfirmationRefused(f"{unit.sku_code} into {unit.bin.code}: {refused}") from None
        result.restocked += unit.quantity
    ReceiptUnit.objects.bulk_update(sellable, ["movement"])


def _surface(
    *,
    rma: ReturnAuthorisation,
    receipt: ReturnReceipt,
    units: list[ReceiptUnit],
    lines: dict[int, ReturnLine],
    result: ConfirmResult,
) -> None:
    """Every difference from what was expected becomes a return_mismatch discrepancy.

    Damaged units also go to quarantine (counted, not on-hand, not available). No count is
    asked for: a wrong item or a damaged unit is kept aside, in no bin, so counting a bin
    would not settle it; the manager decides it on the returns pages.
    """
    box = f"Return {rma.number} box {receipt.sequence}"
    expected_by_code = {x.sku_code.upper(): x.expected for x in lines.values()}
    surfaced = []
    for unit in units:
        if unit.grade == Grade.SELLABLE:
            continue
        line = lines.get(unit.line_id) if unit.line_id else None
        if unit.grade == Grade.DAMAGED:
            detail = (
                f"{box}: {unit.quantity} × {unit.sku_code} arrived damaged; held in quarantine, "
                "not on-hand, until a manager writes it off or has it repaired."
            )
            owner_value, consumer_value = 0, unit.quantity
            result.quarantined += unit.quantity
        elif unit.grade == Grade.MISSING:
            detail = f"{box}: {unit.quantity} × {unit.sku_code} expected, not in the box (missing)."
            owner_value, consumer_value = 0, unit.quantity
            result.missing += unit.quantity
        else:
            if line is not None:
                what = "graded a wrong item by staff"
            elif unit.sku_code.upper() in expected_by_code:
                what = "more than expected (extra)"
            else:
                what = "not on the return (wrong item)"
            detail = (
                f"{box}: {unit.quantity} × {unit.sku_code} arrived, {what}; kept aside, "
                "not restocked."
            )
            owner_value = unit.quantity
            consumer_value = expected_by_code.get(unit.sku_code.upper(), 0)
            result.wrong += unit.quantity
        unit.discrepancy = discrepancy_record(
            kind=Discrepancy.Kind.RETURN_MISMATCH,
            fact=Fact.RESTOCK,
            detail=detail,
            sku=unit.sku,
            consumer=rma.storefront,
            owner_value=owner_value,
            consumer_value=consumer_value,
            reference=rma.number,
        )
        surfaced.append(unit)
        if unit.grade == Grade.DAMAGED:
            QuarantineItem.objects.create(
                unit=unit, rma=rma, sku=unit.sku, sku_code=unit.sku_code, quantity=unit.quantity
            )
    ReceiptUnit.objects.bulk_update(surfaced, ["discrepancy"])


def _outcomes_record(
    *, rma: ReturnAuthorisation, receipt: ReturnReceipt, units: list[ReceiptUnit], now: datetime
) -> list[ReturnOutcome]:
    """The box's outcome per line and disposition, to be told to the storefront."""
    totals: dict[tuple[int, str], int] = defaultdict(int)
    for unit in units:
        if unit.line_id is not None and unit.grade in GRADE_DISPOSITION:
            totals[(unit.line_id, GRADE_DISPOSITION[unit.grade])] += unit.quantity
    if not totals:
        return []
    unsent = {}
    if rma.storefront_id is None:
        unsent = {
            "status": ReturnOutcome.Status.FAILED,
            "last_error": "No storefront to tell: this return has no storefront that owns its "
            "order (a phone return while no storefront owns orders).",
        }
    return ReturnOutcome.objects.bulk_create(
        [
            ReturnOutcome(
                rma=rma,
                receipt=receipt,
                line_id=line_id,
                disposition=disposition,
                quantity=quantity,
                next_attempt_at=now,
                **unsent,
            )
            for (line_id, disposition), quantity in sorted(totals.items())
        ]
    )


def _return_progress(*, rma: ReturnAuthorisation, now: datetime) -> None:
    outstanding = rma.lines.aggregate(
        t=Coalesce(Sum(F("expected") - F("sellable") - F("damaged") - F("missing")), 0)
    )["t"]
    rma.first_received_at = rma.first_received_at or now
    if outstanding == 0:
        rma.status, rma.completed_at = ReturnAuthorisation.Status.COMPLETE, rma.completed_at or now
    else:
        rma.status, rma.completed_at = ReturnAuthorisation.Status.RECEIVING, None
    rma.save(update_fields=["first_received_at", "status", "completed_at"])


def _enqueue_outcomes(rma_id: int) -> None:
    """After commit: tell the storefront. A broker that is down costs a log line; the beat
    sweep sends it later (the outcome rows are committed)."""
    try:
        dispatch.enqueue("returns.tasks.send_return_outcomes_task", rma_id)
    except Exception:  # noqa: BLE001 - the outcome rows are safe in the database
        log.warning("Could not enqueue the outcomes of return %s; the sweep will.", rma_id)


@transaction.atomic
def return_close(
    *, rma: ReturnAuthorisation, confirm_key: str, actor: AbstractBaseUser | None
) -> ConfirmResult:
    """Nothing more is coming: whatever is still expected is missing (a manager's decision).

    Confirms the open box (graded units and all) as the last one, or an empty last box.
    """
    locked = _locked_return(rma.pk)
    if done := ReturnReceipt.objects.filter(confirm_key=confirm_key).first():
        return receipt_confirm(receipt=done, confirm_key=confirm_key, actor=actor)
    if locked.status == ReturnAuthorisation.Status.COMPLETE:
        raise ConfirmationRefused(f"Return {locked.number} is complete already.")
    receipt = _open_receipt(rma=locked, actor=actor)
    return receipt_confirm(receipt=receipt, confirm_key=confirm_key, actor=actor, last_box=True)


return_close.alters_data = True


# --- quarantine and mismatches (managers) ---------------------------------------------------


@transaction.atomic
def quarantine_write_off(
    *, item: QuarantineItem, reason: str, actor: AbstractBaseUser | None
) -> QuarantineItem:
    """Damaged units that will not be sold again: written off with a reason. On-hand never
    held them, so nothing moves; the damage discrepancy is resolved by this decision."""
    reason = (reason or "").strip()
    if not reason:
        raise ReturnsError("Say why it is written off.", field="reason")
    item = (
        QuarantineItem.objects.select_for_update(of=("self",))
        .select_related("unit__discrepancy")
        .get(pk=item.pk)
    )
    if item.status != QuarantineItem.Status.HELD:
        return item  # decided already: a double submission
    item.status = QuarantineItem.Status.WRITTEN_OFF
    item.reason = reason[:2000]
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.save(update_fields=["status", "reason", "resolved_at", "resolved_by"])
    _resolve_unit_discrepancy(item=item, actor=actor, note=f"Written off: {reason}")
    return item


quarantine_write_off.alters_data = True


@transaction.atomic
def quarantine_restock(
    *, item: QuarantineItem, bin_code: str, actor: AbstractBaseUser | None, note: str = ""
) -> QuarantineItem:
    """Repaired units go onto the shelf: a return_restock movement into the named bin."""
    found_bin = _bin_for_code(bin_code)
    item = (
        QuarantineItem.objects.select_for_update(of=("self",))
        .select_related("unit__discrepancy", "sku", "rma")
        .get(pk=item.pk)
    )
    if item.status != QuarantineItem.Status.HELD:
        return item  # decided already: a double submission
    if item.sku is None:
        raise ReturnsError(
            f"{item.sku_code} is not in the catalog, so it cannot go on the shelf.", field="bin"
        )
    note = (note or "").strip()
    try:
        move = on_hand_adjust(
            bin=found_bin,
            sku=item.sku,
            delta=item.quantity,
            kind=StockMovement.Kind.RETURN_RESTOCK,
            source_system=System.objects.get(name=SHELF),
            source_event_id=f"return-quarantine:{item.pk}",
            reference=item.rma.number[:100],
            actor=actor,
            note=f"repaired after return {item.rma.number}{': ' + note if note else ''}"[:255],
        )
    except InvalidMovement as refused:
        raise ReturnsError(str(refused), field="bin") from None
    item.status = QuarantineItem.Status.RESTOCKED
    item.bin = found_bin
    item.movement = move
    item.reason = note[:2000]
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.save(update_fields=["status", "bin", "movement", "reason", "resolved_at", "resolved_by"])
    _resolve_unit_discrepancy(
        item=item, actor=actor, note=f"Repaired and restocked into {found_bin.code}."
    )
    return item


quarantine_restock.alters_data = True


def _resolve_unit_discrepancy(
    *, item: QuarantineItem, actor: AbstractBaseUser | None, note: str
) -> None:
    if item.unit.discrepancy_id:
        discrepancy_resolve(
            discrepancy=item.unit.discrepancy,
            resolution=Discrepancy.Resolution.DECISION,
            actor=actor,
            note=note,
            reference=f"quarantine {item.pk}",
        )


@transaction.atomic
def return_mismatch_resolve(
    *, discrepancy: Discrepancy, note: str, actor: AbstractBaseUser | None
) -> Discrepancy:
    """A manager closes a return mismatch (missing, wrong item, late) with a reason."""
    if discrepancy.kind != Discrepancy.Kind.RETURN_MISMATCH:
        raise ReturnsError("Only return mismatches are resolved here.", field="note")
    if not (note or "").strip():
        raise ReturnsError("Say what was decided.", field="note")
    held = QuarantineItem.objects.filter(
        unit__discrepancy=discrepancy, status=QuarantineItem.Status.HELD
    ).exists()
    if held:
        raise ReturnsError(
            "These units are in quarantine: write them off or restock them there.", field="note"
        )
    return discrepancy_resolve(
        discrepancy=discrepancy,
        resolution=Discrepancy.Resolution.DECISION,
        actor=actor,
        note=note.strip(),
        reference="returns overview",
    )


return_mismatch_resolve.alters_data = True


# --- late returns --------------------------------------------------------------------------


@transaction.atomic
def returns_flag_late(*, now: datetime | None = None, limit: int = 500) -> int:
    """Returns whose expected units have not all arrived ``late_days`` after they were
    authorised: flagged once each, with a return_mismatch discrepancy. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ONEFACT_RETURNS_LATE_DAYS)
    due = ReturnAuthorisation.objects.filter(
        status__in=[ReturnAuthorisation.Status.AWAITING, ReturnAuthorisation.Status.RECEIVING],
        created_at__lt=cutoff,
        late_flagged_at__isnull=True,
    )
    ids = list(due.order_by("created_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    rows = list(
        ReturnAuthorisation.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, late_flagged_at__isnull=True)
        .order_by("pk")
    )
    figures = {
        row["rma"]: row
        for row in ReturnLine.objects.filter(rma_id__in=[r.pk for r in rows])
        .values("rma")
        .annotate(
            expected_units=Sum("expected"),
            arrived=Sum(F("sellable") + F("damaged")),
            missing_units=Sum("missing"),
        )
        .order_by()
    }
    storefronts = {s.pk: s for s in System.objects.filter(pk__in={r.storefront_id for r in rows})}
    for rma in rows:
        row = figures.get(rma.pk, {"expected_units": 0, "arrived": 0, "missing_units": 0})
        waiting = row["expected_units"] - row["arrived"] - row["missing_units"]
        discrepancy_record(
            kind=Discrepancy.Kind.RETURN_MISMATCH,
            fact=Fact.RESTOCK,
            detail=(
                f"Return {rma.number}: {waiting} of {row['expected_units']} unit(s) not arrived "
                f"{settings.ONEFACT_RETURNS_LATE_DAYS} days after the return was authorised (late)."
            ),
            consumer=storefronts.get(rma.storefront_id),
            owner_value=row["arrived"],
            consumer_value=row["expected_units"],
            reference=rma.number,
        )
        rma.late_flagged_at = now
    ReturnAuthorisation.objects.bulk_update(rows, ["late_flagged_at"])
    return len(rows)


returns_flag_late.alters_data = True


# --- outcomes back to the storefront -------------------------------------------------------


@dataclass
class SendReport:
    rma: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    error: str = ""
    skus_pushed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _dispositions(*, rma: ReturnAuthorisation) -> list[ReturnDisposition]:
    """Totals per (line, disposition) over every confirmed box of the return."""
    rows = (
        ReturnOutcome.objects.filter(rma=rma)
        .values("line__line_ref", "line__sku_code", "disposition")
        .annotate(total=Sum("quantity"))
        .order_by("line__line_ref", "disposition")
    )
    return [
        ReturnDisposition(
            line_ref=row["line__line_ref"],
            sku=row["line__sku_code"],
            quantity=row["total"],
            disposition=row["disposition"],
        )
        for row in rows
    ]


def _backoff(attempts: int) -> float:
    return float(min(settings.ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX, 30 * 2 ** max(0, attempts - 1)))


@transaction.atomic
def return_outcomes_send(*, rma: ReturnAuthorisation, now: datetime | None = None) -> SendReport:
    """Send the return's outcome per line to its storefront; record what happened.

    Rows due are locked (skipped when another worker holds them). The report carries the
    totals of every box, so a repeat is harmless. A transient error is retried with backoff,
    up to a limit; any other error (the storefront takes no dispositions, does not know the
    return) is kept as not sent, with its reason, never dropped.
    """
    now = now or timezone.now()
    report = SendReport(rma=rma.number)
    due = list(
        ReturnOutcome.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(rma=rma, status=ReturnOutcome.Status.PENDING, next_attempt_at__lte=now)
        .select_related("line__sku")
        .order_by("pk")
    )
    if not due:
        return report
    rma = ReturnAuthorisation.objects.select_related("storefront").get(pk=rma.pk)
    if rma.storefront is not None and rma.storefront.sync_mode != System.SyncMode.LIVE:
        # An observed storefront is never written to: the outcomes wait, pending, for it to
        # go live (the sweep takes them then).
        report.error = f"{rma.storefront.name} is observed: outcomes wait until it goes live"
        return report
    adapter = None
    try:
        if rma.storefront is None:
            raise ValueError("this return has no storefront to tell")
        adapter = adapter_for(rma.storefront)
        adapter.report_return_dispositions(
            return_ref=rma.return_ref, order_ref=rma.order_ref, dispositions=_dispositions(rma=rma)
        )
    except (StorefrontError, ValueError) as error:
        _outcomes_failed(due=due, error=error, now=now, report=report)
        return report
    finally:
        if close := getattr(adapter, "close", None):
            close()  # an HTTP client the adapter opened for this send
    ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
        status=ReturnOutcome.Status.SENT,
        sent_at=now,
        last_error="",
        attempts=F("attempts") + 1,
    )
    report.sent = len(due)
    if adapter.restocked_disposition_adds_stock:
        # The storefront added restocked units to its own number; the shelf counted them
        # already. Push the shelf's number again: compare-and-set puts the storefront back.
        restocked = {
            o.line.sku.pk: o.line.sku
            for o in due
            if o.disposition == Disposition.RESTOCKED and o.line.sku_id
        }
        for sku in sorted(restocked.values(), key=lambda s: s.pk):
            outbox_record(sku=sku)
        report.skus_pushed = sorted(s.code for s in restocked.values())
    return report


return_outcomes_send.alters_data = True


def _outcomes_failed(
    *, due: list[ReturnOutcome], error: Exception, now: datetime, report: SendReport
) -> None:
    text = f"{type(error).__name__}: {error}"[:500]
    attempts = max(o.attempts for o in due) + 1
    retryable = isinstance(error, StorefrontError) and error.retryable
    if retryable and attempts < settings.ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS:
        asked = error.retry_after if isinstance(error, RateLimited) else 0.0
        wait = max(_backoff(attempts), asked)
        ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
            attempts=F("attempts") + 1,
            last_error=text,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        report.retry_in = wait
    else:
        ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
            attempts=F("attempts") + 1, last_error=text, status=ReturnOutcome.Status.FAILED
        )
        report.failed = len(due)
    report.error = text
    log.warning("Outcomes of return %s not sent: %s", report.rma, text)


def return_outcomes_send_due(*, now: datetime | None = None, limit: int = 200) -> list[dict]:
    """The beat's catch-up: every return with outcomes due (new, or waiting out a backoff)."""
    now = now or timezone.now()
    ids = list(
        ReturnOutcome.objects.filter(status=ReturnOutcome.Status.PENDING, next_attempt_at__lte=now)
        .exclude(rma__storefront__sync_mode=System.SyncMode.OBSERVE)
        .values_list("rma_id", flat=True)
        .distinct()
        .order_by("rma_id")[:limit]
    )
    return [
        return_outcomes_send(rma=rma, now=now).as_dict()
        for rma in ReturnAuthorisation.objects.filter(pk__in=ids).order_by("pk")
    ]


@transaction.atomic
def return_outcomes_retry(*, rma: ReturnAuthorisation) -> int:
    """A manager asks to send outcomes that were not sent again (e.g. after fixing a storefront
    setting). Returns how many rows wait to be sent."""
    if rma.storefront_id is None:
        raise ReturnsError("This return has no storefront to tell.")
    changed = ReturnOutcome.objects.filter(rma=rma, status=ReturnOutcome.Status.FAILED).update(
        status=ReturnOutcome.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if changed:
        transaction.on_commit(partial(_enqueue_outcomes, rma.pk), robust=True)
    return changed


return_outcomes_retry.alters_data = True
