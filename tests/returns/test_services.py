"""Returns intake services: the restock invariant, grading rules, boxes, quarantine, late."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import Discrepancy, StockMovement
from inventory.selectors import availability_for_sku, ledger_mismatches
from returns import services
from returns.exceptions import ConfirmationRefused, GradeRefused, ReturnsError, UnknownCode
from returns.models import (
    QuarantineItem,
    ReceiptUnit,
    ReturnAuthorisation,
    ReturnLine,
    ReturnOutcome,
    ReturnReceipt,
)
from tests.factories import BinFactory, SkuFactory
from tests.returns.factories import ReturnLineFactory, key
from tests.returns.steps import confirm, grade, held, on_hand, scan

RESTOCK = StockMovement.Kind.RETURN_RESTOCK


def restocks() -> int:
    return StockMovement.objects.filter(kind=RESTOCK).count()


def mismatches() -> list[str]:
    return list(
        Discrepancy.objects.filter(kind="return_mismatch")
        .order_by("id")
        .values_list("detail", flat=True)
    )


# --- the invariant ---------------------------------------------------------------------------


def test_return_created_adds_nothing_on_hand(stocked_bin, sku, rma):
    assert on_hand(stocked_bin, sku) == 10
    assert restocks() == 0
    assert availability_for_sku(sku=sku).on_hand == 10


def test_receipt_confirm_restocks_one_sellable_unit_into_its_named_bin(
    stocked_bin, sku, rma, staff_user, shelf
):
    first = scan(rma, "SKU-1", staff_user).unit
    second = scan(rma, "SKU-1", staff_user).unit
    grade(first, "sellable", "A-14", staff_user)
    grade(second, "damaged", user=staff_user)
    assert on_hand(stocked_bin, sku) == 10  # graded, not confirmed: nothing yet

    result = confirm(rma, staff_user)

    assert (result.restocked, result.quarantined) == (1, 1)
    assert on_hand(stocked_bin, sku) == 11
    move = StockMovement.objects.get(kind=RESTOCK)
    assert (move.bin, move.sku, move.quantity, move.source_system) == (stocked_bin, sku, 1, shelf)
    assert (move.reference, move.actor, move.source_event_id) == (
        "R-D-1001",
        staff_user,
        f"return-unit:{first.pk}",
    )
    assert held() == 1  # counted, not on-hand, not available
    assert availability_for_sku(sku=sku).available == 11
    assert ledger_mismatches() == []


def test_scan_and_grade_without_confirmation_add_nothing(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    assert on_hand(stocked_bin, sku) == 10
    assert restocks() == 0


def test_damaged_and_missing_grades_add_nothing_on_hand(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "damaged")
    services.receipt_missing_mark(line=rma.lines.get(), quantity=1, scan_key=key(), actor=None)

    result = confirm(rma)

    assert (result.restocked, result.quarantined, result.missing) == (0, 1, 1)
    assert on_hand(stocked_bin, sku) == 10
    assert restocks() == 0
    line = rma.lines.get()
    assert (line.sellable, line.damaged, line.missing) == (0, 1, 1)
    details = mismatches()
    assert len(details) == 2
    assert "arrived damaged; held in quarantine" in details[0]
    assert "expected, not in the box (missing)" in details[1]
    assert set(Discrepancy.objects.values_list("fact", flat=True)) == {"restock"}


def test_wrong_item_is_kept_aside_and_surfaced_never_restocked(stocked_bin, sku, rma):
    SkuFactory(code="SKU-9")
    result = scan(rma, "sku-9")
    assert result.unit.grade == "wrong_item" and result.unit.line is None
    assert "not on return R-D-1001" in result.message
    with pytest.raises(GradeRefused, match="never restocked"):
        grade(result.unit, "sellable", "A-14")

    confirm(rma)

    assert restocks() == 0
    (detail,) = mismatches()
    assert "1 × SKU-9 arrived, not on the return (wrong item); kept aside" in detail
    found = Discrepancy.objects.get()
    assert (found.owner.name, found.winner.name, found.consumer.name) == (
        "shelf",
        "shelf",
        "storefront",
    )
    assert found.count_requested_at is None  # nothing in a bin to count


def test_units_beyond_what_was_expected_are_extra_wrong_items(stocked_bin, sku, rma):
    first = scan(rma, "SKU-1", quantity=3)
    assert first.unit.quantity == 2 and first.unit.grade == ""
    extra = ReceiptUnit.objects.get(grade="wrong_item")
    assert extra.quantity == 1 and extra.line is None
    assert "1 extra unit(s) kept aside" in first.message
    with pytest.raises(GradeRefused):
        grade(extra, "sellable", "A-14")
    grade(first.unit, "sellable", "A-14")

    confirm(rma)

    assert on_hand(stocked_bin, sku) == 12
    assert "more than expected (extra)" in mismatches()[0]


def test_scanning_a_bin_grades_the_waiting_unit_sellable_into_it(stocked_bin, sku, rma):
    unit = scan(rma, "SKU-1").unit
    result = scan(rma, "a-14")
    unit.refresh_from_db()
    assert (unit.grade, unit.bin) == ("sellable", stocked_bin)
    assert "sellable into A-14" in result.message


def test_a_bin_scan_grades_the_unit_scanned_last(stocked_bin, rma):
    cup = SkuFactory(code="CUP-1")
    ReturnLineFactory(rma=rma, line_ref="2", sku=cup, expected=1)
    mug = scan(rma, "SKU-1").unit
    last = scan(rma, "CUP-1").unit
    scan(rma, "A-14")
    mug.refresh_from_db()
    last.refresh_from_db()
    assert (mug.grade, last.grade, last.bin) == ("", "sellable", stocked_bin)


def test_scanning_a_bin_with_nothing_waiting_is_refused(stocked_bin, rma):
    with pytest.raises(GradeRefused, match="scan a returned unit first"):
        scan(rma, "A-14")
    assert not ReturnReceipt.objects.exists()


@pytest.mark.parametrize("code", ["", "Z-99"])
def test_grade_sellable_needs_a_known_bin(stocked_bin, rma, code):
    unit = scan(rma, "SKU-1").unit
    with pytest.raises(GradeRefused) as refused:
        grade(unit, "sellable", code)
    assert refused.value.field == "bin"
    unit.refresh_from_db()
    assert unit.grade == ""


def test_grade_sellable_refuses_an_inactive_bin(stocked_bin, rma):
    BinFactory(code="OLD-1", active=False)
    unit = scan(rma, "SKU-1").unit
    with pytest.raises(GradeRefused, match="inactive"):
        grade(unit, "sellable", "OLD-1")


def test_an_unknown_code_is_refused_and_records_nothing(rma):
    with pytest.raises(UnknownCode, match="neither a SKU"):
        scan(rma, "NOPE-42")
    assert not ReceiptUnit.objects.exists()


def test_scan_replayed_with_the_same_key_records_one_unit(rma):
    scan_key = key()
    first = services.receipt_unit_scan(rma=rma, code="SKU-1", scan_key=scan_key, actor=None)
    again = services.receipt_unit_scan(rma=rma, code="SKU-1", scan_key=scan_key, actor=None)
    assert again.replayed and again.unit.pk == first.unit.pk
    assert ReceiptUnit.objects.count() == 1


def test_confirm_refuses_units_without_a_grade_and_changes_nothing(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    scan(rma, "SKU-1")
    with pytest.raises(ConfirmationRefused, match="1 unit\\(s\\) still need a grade"):
        confirm(rma)
    assert on_hand(stocked_bin, sku) == 10
    assert rma.receipts.get().status == "open"
    assert rma.lines.get().sellable == 0


def test_confirm_of_an_empty_box_is_refused(rma):
    scan(rma, "SKU-1")
    ReceiptUnit.objects.all().delete()
    with pytest.raises(ConfirmationRefused, match="Nothing is in this box"):
        confirm(rma)


def test_confirm_replayed_with_the_same_key_changes_nothing(stocked_bin, sku, rma, staff_user):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    receipt = rma.receipts.get()
    first = services.receipt_confirm(receipt=receipt, confirm_key="k-1", actor=staff_user)
    again = services.receipt_confirm(receipt=receipt, confirm_key="k-1", actor=staff_user)
    assert not first.replayed and again.replayed
    assert "nothing changed" in again.message
    assert on_hand(stocked_bin, sku) == 11
    assert restocks() == 1 and ReturnOutcome.objects.count() == 1


def test_a_second_confirmation_of_the_same_box_changes_nothing(
    stocked_bin, sku, rma, staff_user, manager_user
):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    receipt = rma.receipts.get()
    services.receipt_confirm(receipt=receipt, confirm_key="k-a", actor=staff_user)
    other = services.receipt_confirm(receipt=receipt, confirm_key="k-b", actor=manager_user)
    assert other.already
    assert f"confirmed by {staff_user}" in other.message
    assert on_hand(stocked_bin, sku) == 11
    assert restocks() == 1


def test_a_return_arrives_in_several_boxes_over_several_days(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)
    rma.refresh_from_db()
    assert rma.status == "receiving"
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)

    rma.refresh_from_db()
    assert rma.status == "complete" and rma.completed_at is not None
    assert list(rma.receipts.values_list("sequence", "status")) == [
        (1, "confirmed"),
        (2, "confirmed"),
    ]
    assert on_hand(stocked_bin, sku) == 12


def test_last_box_marks_what_is_still_expected_missing(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    result = confirm(rma, last_box=True)
    assert (result.restocked, result.missing) == (1, 1)
    rma.refresh_from_db()
    assert rma.status == "complete"
    line = rma.lines.get()
    assert (line.sellable, line.missing) == (1, 1)
    outcomes = dict(ReturnOutcome.objects.values_list("disposition", "quantity"))
    assert outcomes == {"restocked": 1, "missing": 1}


def test_return_close_declares_the_rest_missing(rma, manager_user):
    result = services.return_close(rma=rma, confirm_key=key(), actor=manager_user)
    assert result.missing == 2
    rma.refresh_from_db()
    assert rma.status == "complete"
    with pytest.raises(ConfirmationRefused, match="complete already"):
        services.return_close(rma=rma, confirm_key=key(), actor=manager_user)


def test_the_database_refuses_a_line_accounting_more_than_expected(rma):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReturnLine.objects.filter(pk=rma.lines.get().pk).update(sellable=2, damaged=1)


def test_the_database_refuses_a_sellable_unit_without_a_bin(rma):
    unit = scan(rma, "SKU-1").unit
    with pytest.raises(IntegrityError), transaction.atomic():
        ReceiptUnit.objects.filter(pk=unit.pk).update(grade="sellable", bin=None)


def test_confirm_into_a_bin_made_inactive_changes_nothing(stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    stocked_bin.active = False
    stocked_bin.save()
    with pytest.raises(ConfirmationRefused, match="inactive"):
        confirm(rma)
    assert on_hand(stocked_bin, sku) == 10
    assert rma.lines.get().sellable == 0
    assert rma.receipts.get().status == "open"
    assert not Discrepancy.objects.exists()


def test_a_confirmed_box_no_longer_changes(stocked_bin, rma):
    unit = scan(rma, "SKU-1").unit
    grade(unit, "sellable", "A-14")
    confirm(rma)
    with pytest.raises(ReturnsError, match="confirmed"):
        grade(unit, "damaged")
    with pytest.raises(ReturnsError, match="confirmed"):
        services.receipt_unit_remove(unit=unit, actor=None)


def test_outcomes_are_recorded_per_line_and_disposition(stocked_bin, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    rows = set(ReturnOutcome.objects.values_list("line__line_ref", "disposition", "quantity"))
    assert rows == {("1", "restocked", 1), ("1", "processing_required", 1)}
    assert set(ReturnOutcome.objects.values_list("status", flat=True)) == {"pending"}


# --- quarantine and mismatches ---------------------------------------------------------------


@pytest.fixture
def quarantined(stocked_bin, rma):
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    return QuarantineItem.objects.get()


def test_quarantine_write_off_needs_a_reason_and_resolves_the_damage(
    quarantined, manager_user, stocked_bin, sku
):
    with pytest.raises(ReturnsError, match="why"):
        services.quarantine_write_off(item=quarantined, reason="  ", actor=manager_user)
    done = services.quarantine_write_off(item=quarantined, reason="torn", actor=manager_user)
    again = services.quarantine_write_off(item=quarantined, reason="again", actor=manager_user)
    assert done.status == again.status == "written_off"
    assert again.reason == "torn"
    assert held() == 0
    assert on_hand(stocked_bin, sku) == 10
    damage = Discrepancy.objects.get()
    assert (damage.status, damage.resolution, damage.resolved_by) == (
        "resolved",
        "decision",
        manager_user,
    )
    assert "torn" in damage.resolution_note


def test_quarantine_restock_is_one_return_restock_movement(
    quarantined, manager_user, stocked_bin, sku
):
    services.quarantine_restock(item=quarantined, bin_code="A-14", actor=manager_user)
    services.quarantine_restock(item=quarantined, bin_code="A-14", actor=manager_user)
    assert on_hand(stocked_bin, sku) == 11
    move = StockMovement.objects.get(kind=RESTOCK)
    assert move.source_event_id == f"return-quarantine:{quarantined.pk}"
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.bin, quarantined.movement) == (
        "restocked",
        stocked_bin,
        move,
    )
    assert Discrepancy.objects.get().status == "resolved"


def test_quarantine_restock_needs_a_bin(quarantined, manager_user):
    with pytest.raises(ReturnsError) as refused:
        services.quarantine_restock(item=quarantined, bin_code="", actor=manager_user)
    assert refused.value.field == "bin"
    assert restocks() == 0


def test_mismatch_resolve_needs_a_note_and_leaves_quarantine_to_its_page(
    quarantined, manager_user, rma
):
    damage = Discrepancy.objects.get()
    with pytest.raises(ReturnsError, match="quarantine"):
        services.return_mismatch_resolve(discrepancy=damage, note="ok", actor=manager_user)
    services.receipt_missing_mark(line=rma.lines.get(), quantity=1, scan_key=key(), actor=None)
    confirm(rma)
    missing = Discrepancy.objects.filter(detail__contains="missing").get()
    with pytest.raises(ReturnsError, match="decided"):
        services.return_mismatch_resolve(discrepancy=missing, note=" ", actor=manager_user)
    done = services.return_mismatch_resolve(
        discrepancy=missing, note="customer kept it", actor=manager_user
    )
    assert (done.status, done.resolution_note) == ("resolved", "customer kept it")


# --- late returns ------------------------------------------------------------------------------


def test_returns_flag_late_flags_each_overdue_return_once(rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 3)
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=4)
    )
    assert services.returns_flag_late() == 1
    assert services.returns_flag_late() == 0
    rma.refresh_from_db()
    assert rma.late_flagged_at is not None
    (detail,) = mismatches()
    assert "2 of 2 unit(s) not arrived 3 days after" in detail


def test_returns_flag_late_leaves_recent_and_complete_returns_alone(rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 3)
    assert services.returns_flag_late() == 0
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=10),
        status="complete",
        completed_at=timezone.now(),
    )
    assert services.returns_flag_late() == 0
    assert not Discrepancy.objects.exists()


# --- phone returns -------------------------------------------------------------------------------


def test_return_create_by_hand_records_the_lines_once(sku, manager_user, storefront):
    creation_key = key()
    made = services.return_create_by_hand(
        order_ref="D-1001", customer_name="Grace", lines=[("sku-1", 2, "broken")],
        creation_key=creation_key, actor=manager_user,
    )  # fmt: skip
    again = services.return_create_by_hand(
        order_ref="D-1001", customer_name="Grace", lines=[("SKU-1", 2, "broken")],
        creation_key=creation_key, actor=manager_user,
    )  # fmt: skip
    assert made.pk == again.pk and made.number == f"PH-{made.pk}"
    assert (made.origin, made.storefront, made.created_by) == ("phone", storefront, manager_user)
    assert list(made.lines.values_list("sku_code", "expected", "reason")) == [
        ("SKU-1", 2, "broken")
    ]
    assert restocks() == 0


@pytest.mark.parametrize(
    ("order_ref", "lines", "message"),
    [
        ("", [("SKU-1", 1, "")], "Name the order"),
        ("D-1", [], "at least one line"),
        ("D-1", [("NOPE", 1, "")], "Not in the catalog: NOPE"),
        ("D-1", [("SKU-1", 0, "")], "from 1 to"),
    ],
)
def test_return_create_by_hand_refuses_bad_input(sku, manager_user, order_ref, lines, message):
    with pytest.raises(ReturnsError, match=message):
        services.return_create_by_hand(
            order_ref=order_ref, customer_name="", lines=lines, creation_key=key(),
            actor=manager_user,
        )  # fmt: skip
    assert not ReturnAuthorisation.objects.exists()
