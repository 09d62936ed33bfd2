"""Receiving: scan, grade, confirm."""

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import dispatch
from inventory import selectors as inventory_selectors
from inventory.exceptions import BinCodeInvalid, InvalidMovement, MovementRefused
from inventory.models import Bin, Discrepancy, Fact, Sku, StockMovement
from inventory.services import (
    bin_check_put,
    bin_create,
    discrepancy_record,
    on_hand_adjust,
)
from returns.exceptions import (
    BinUnknown,
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
    ReturnAuthorisation,
    ReturnLine,
    ReturnOutcome,
    ReturnReceipt,
)
from returns.services.common import GRADE_DISPOSITION, MAX_QUANTITY, Grade

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    unit: ReceiptUnit | None
    message: str
    replayed: bool = False
    warning: bool = False  # worth a second look: units kept aside as wrong items


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
        raise ReturnsError(_("A quantity is a whole number."), field=field)
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ReturnsError(
            _("A quantity is from 1 to %(max)s.") % {"max": MAX_QUANTITY}, field=field
        )


def _bin_for_code(code: str, *, field: str = "bin", create: bool = False) -> Bin:
    """The bin of this code. One nobody knows is created only when a person confirmed it
    (``create``); otherwise BinUnknown asks."""
    code = (code or "").strip()
    if not code:
        raise GradeRefused(_("Scan or type the bin it goes into."), field=field)
    found = Bin.objects.filter(code__iexact=code).first()
    if found is None and create:
        try:
            found = bin_create(code=code)
        except BinCodeInvalid as error:
            raise GradeRefused(str(error), field=field) from error
    if found is None:
        raise BinUnknown(
            _("There is no bin %(code)s.") % {"code": code},
            code=code,
            field=field,
        )
    try:
        bin_check_put(found)
    except MovementRefused as refused:
        raise GradeRefused(str(refused), field=field) from refused
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
        raise UnknownCode(_("Scan or type a SKU, or a bin for the last unit."), field="code")
    if not scan_key:
        raise ReturnsError(_("This form is out of date: reload the page."), field="code")
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
            raise UnknownCode(
                _("%(code)s is neither a SKU of the catalog nor a bin.") % {"code": code},
                field="code",
            )
        unit = ReceiptUnit.objects.create(
            sku=sku, sku_code=sku.code, quantity=quantity, grade=Grade.WRONG_ITEM,
            note="not on this return", scan_key=scan_key, **common,
        )  # fmt: skip
        return ScanResult(
            unit,
            f"{sku.code} is not on return {rma.number}: kept aside as a wrong item.",
            warning=True,
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
        return ScanResult(unit or extra_unit, message, warning=True)
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
            _("%(code)s is a bin: scan a returned unit first, then the bin it goes into.")
            % {"code": bin.code},
            field="code",
        )
    unit = _grade(unit=waiting, grade=Grade.SELLABLE, bin=bin, field="code")
    unit.grade_key = scan_key
    unit.save(update_fields=["grade_key"])
    return ScanResult(unit, f"{unit.sku_code} sellable into {bin.code}.")


@transaction.atomic
def receipt_unit_grade(
    *,
    unit: ReceiptUnit,
    grade: str,
    actor: AbstractBaseUser | None,
    bin_code: str = "",
    create_bin: bool = False,
) -> ReceiptUnit:
    """Grade (or grade again) a unit of an open box: sellable into a bin, damaged, wrong item.
    A bin code nobody knows is created only with ``create_bin`` (the person confirmed it)."""
    _locked_return(unit.receipt.rma_id)
    unit = ReceiptUnit.objects.select_related("receipt__rma", "line", "sku").get(pk=unit.pk)
    if grade not in (Grade.SELLABLE, Grade.DAMAGED, Grade.WRONG_ITEM):
        raise GradeRefused(_("Choose sellable (with a bin), damaged or wrong item."), field="grade")
    found_bin = _bin_for_code(bin_code, create=create_bin) if grade == Grade.SELLABLE else None
    return _grade(unit=unit, grade=grade, bin=found_bin, field="grade")


receipt_unit_grade.alters_data = True


def _grade(*, unit: ReceiptUnit, grade: str, bin: Bin | None, field: str) -> ReceiptUnit:
    receipt = unit.receipt
    if receipt.status != ReturnReceipt.Status.OPEN:
        raise ReceiptNotOpen(
            _("Box %(box)s of %(rma)s is confirmed; its units no longer change.")
            % {"box": receipt.sequence, "rma": receipt.rma.number},
            field=field,
        )
    if grade in (Grade.SELLABLE, Grade.DAMAGED):
        if unit.line_id is None:
            raise GradeRefused(
                _(
                    "%(sku)s is not expected back on this return: it stays a wrong item and is "
                    "never restocked."
                )
                % {"sku": unit.sku_code},
                field=field,
            )
        if grade == Grade.SELLABLE and unit.sku_id is None:
            raise GradeRefused(
                _(
                    "%(sku)s is not in the catalog, so it cannot go on the shelf; grade it "
                    "damaged or wrong item."
                )
                % {"sku": unit.sku_code},
                field=field,
            )
        if (
            unit.grade not in COUNTED_GRADES
            and _free(receipt=receipt, line=unit.line, exclude=unit.pk) < unit.quantity
        ):
            raise GradeRefused(
                _("Every expected %(sku)s is accounted for already; this one stays a wrong item.")
                % {"sku": unit.sku_code},
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
            _("Box %(box)s of %(rma)s is confirmed; its units no longer change.")
            % {"box": unit.receipt.sequence, "rma": unit.receipt.rma.number}
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
        raise ReturnsError(_("This form is out of date: reload the page."), field="quantity")
    rma = _locked_return(line.rma_id)
    if done := ReceiptUnit.objects.filter(scan_key=scan_key).first():
        return done
    line = ReturnLine.objects.get(pk=line.pk)
    receipt = _open_receipt(rma=rma, actor=actor)
    free = _free(receipt=receipt, line=line)
    if quantity > free:
        raise ReturnsError(
            _("%(line)s: only %(free)s unit(s) are still expected.")
            % {"line": line.sku_code or line.line_ref, "free": max(free, 0)},
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
        raise ConfirmationRefused(_("This form is out of date: reload the page."))
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
            _("%(waiting)s unit(s) still need a grade: sellable into a bin, damaged or wrong item.")
            % {"waiting": waiting}
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
        raise ConfirmationRefused(_("Nothing is in this box yet: scan the units that arrived."))
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
                _(
                    "%(sku)s: %(total)s unit(s) in this box but only %(outstanding)s still "
                    "expected; grade the rest as wrong items."
                )
                % {"sku": line.sku_code, "total": total, "outstanding": line.outstanding}
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
    shelf = inventory_selectors.shelf_system()
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
            raise ConfirmationRefused(
                _("%(sku)s into %(bin)s: %(refused)s")
                % {"sku": unit.sku_code, "bin": unit.bin.code, "refused": refused}
            ) from None
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
        raise ConfirmationRefused(_("Return %(rma)s is complete already.") % {"rma": locked.number})
    receipt = _open_receipt(rma=locked, actor=actor)
    return receipt_confirm(receipt=receipt, confirm_key=confirm_key, actor=actor, last_box=True)


return_close.alters_data = True
