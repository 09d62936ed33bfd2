"""Drift-walk services against the real database: counting."""

import pytest
from django.conf import settings

from driftwalks.exceptions import CountRefused
from driftwalks.models import Count, CountTask
from driftwalks.services import (
    CountLine,
    count_submit,
    count_task_decide,
    count_tasks_assign,
)
from inventory.models import StockMovement
from tests.driftwalks.factories import balance, count, gap_asking_count, move, open_task
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
Status = CountTask.Status


def _adjustments(sku):
    return StockMovement.objects.filter(sku=sku, kind=Kind.COUNT_ADJUST)


def test_count_within_tolerance_applies_a_count_adjust_and_resolves_the_discrepancy(
    stocked_bin, sku, staff_user
):
    gap = gap_asking_count(sku)
    task = CountTask.objects.get()
    result = count(task, 9, staff_user)
    assert (result.expected, result.variance, result.outcome) == (10, -1, "applied")
    assert result.within_tolerance
    adjust = result.movement
    assert (adjust.kind, adjust.quantity, adjust.balance_after) == (Kind.COUNT_ADJUST, -1, 9)
    assert adjust.source_system.name == "shelf" and adjust.source_event_id == f"count:{result.pk}"
    assert (adjust.reference, adjust.actor) == (f"count task {task.pk}", staff_user)
    assert balance(stocked_bin, sku) == 9
    task.refresh_from_db()
    assert (task.status, task.closing_count, task.closed_by) == (Status.CLOSED, result, staff_user)
    gap.refresh_from_db()
    assert (gap.status, gap.resolution, gap.resolution_reference, gap.resolved_by) == (
        "resolved",
        "count",
        f"count task {task.pk}",
        staff_user,
    )


def test_count_that_matches_the_record_closes_the_task_without_a_movement(
    stocked_bin, sku, staff_user
):
    gap = gap_asking_count(sku)
    result = count(CountTask.objects.get(), 10, staff_user)
    assert (result.variance, result.outcome, result.movement) == (0, "confirmed", None)
    assert not _adjustments(sku).exists()
    gap.refresh_from_db()
    assert gap.status == "resolved" and gap.resolution == "count"


def test_a_ship_during_the_walk_is_not_counted_as_drift(stocked_bin, sku, staff_user):
    task = open_task(stocked_bin, sku)  # the record says 10 when the task opens
    move(stocked_bin, sku, -3, Kind.SHIP)  # a picker ships 3 while the walk is under way
    result = count(task, 7, staff_user)  # the counter finds the 7 that are really there
    assert (result.expected, result.variance, result.outcome) == (7, 0, "confirmed")
    assert not _adjustments(sku).exists() and balance(stocked_bin, sku) == 7


def test_count_past_tolerance_needs_a_blind_recount_by_someone_else(
    stocked_bin, sku, staff_user, other_staff
):
    gap = gap_asking_count(sku)
    task = CountTask.objects.get()
    count_tasks_assign(task_ids=[task.pk], assignee=staff_user, actor=staff_user)
    first = count(task, 5, staff_user)
    task.refresh_from_db()
    assert (first.outcome, task.status, task.assignee) == ("recount", Status.RECOUNT_REQUIRED, None)
    assert not _adjustments(sku).exists() and balance(stocked_bin, sku) == 10
    with pytest.raises(CountRefused, match="someone other than you"):
        count(task, 5, staff_user)
    recount = count(task, 5, other_staff)  # agrees: -5 both times, small at cost
    assert (recount.round, recount.variance, recount.outcome) == (2, -5, "applied")
    assert balance(stocked_bin, sku) == 5
    gap.refresh_from_db()
    assert gap.status == "resolved" and gap.resolution_reference == f"count task {task.pk}"


def test_recount_that_confirms_the_record_applies_it(stocked_bin, sku, staff_user, other_staff):
    task = open_task(stocked_bin, sku)
    count(task, 4, staff_user)
    recount = count(task, 10, other_staff)
    assert (recount.outcome, recount.movement) == ("confirmed", None)
    task.refresh_from_db()
    assert task.status == Status.CLOSED and task.closing_count == recount


def test_recount_that_disagrees_goes_to_a_manager(stocked_bin, sku, staff_user, other_staff):
    task = open_task(stocked_bin, sku)
    count(task, 5, staff_user)  # -5
    recount = count(task, 8, other_staff)  # -2 but 20 %: past tolerance, and 3 from the first
    task.refresh_from_db()
    assert (recount.outcome, task.status) == ("approval", Status.APPROVAL_REQUIRED)
    variance = task.approval_discrepancy
    assert (variance.kind, variance.status, variance.owner_value, variance.consumer_value) == (
        "count_variance",
        "open",
        10,
        8,
    )
    assert "counted 5 then, blind, 8" in variance.detail
    assert variance.reference == f"count task {task.pk}"
    assert balance(stocked_bin, sku) == 10 and not _adjustments(sku).exists()


@pytest.fixture
def big_variance(bin, sku, staff_user, other_staff):
    """50 on record, counted 38 twice: -12 units, past the approval threshold."""
    move(bin, sku, 50)
    gap = gap_asking_count(sku)
    task = CountTask.objects.get()
    count(task, 38, staff_user)
    count(task, 38, other_staff)
    task.refresh_from_db()
    assert task.status == Status.APPROVAL_REQUIRED
    return task, gap


def test_approval_applies_the_counted_variance_to_the_balance_now(
    big_variance, bin, sku, manager_user
):
    task, gap = big_variance
    move(bin, sku, -5, Kind.SHIP)  # shipped after the count, before the decision: 45 on record
    count_task_decide(task=task, approve=True, reason="Recounted twice", actor=manager_user)
    # The 38 counted minus the 5 shipped since: the ship is kept, not undone as drift.
    assert balance(bin, sku) == 33
    (adjust,) = _adjustments(sku)
    assert (adjust.quantity, adjust.actor, adjust.reference) == (
        -12,
        manager_user,
        f"count task {task.pk}",
    )
    task.refresh_from_db()
    latest = task.counts.get(round=2)
    assert (task.status, task.closing_count, task.decided_by) == (
        Status.CLOSED,
        latest,
        manager_user,
    )
    assert (latest.outcome, latest.movement) == ("applied", adjust)
    gap.refresh_from_db()
    assert (gap.status, gap.resolution) == ("resolved", "count")
    decision = task.approval_discrepancy
    decision.refresh_from_db()
    assert (decision.status, decision.resolution) == ("resolved", "decision")
    assert "Recounted twice" in decision.resolution_note


def test_a_rejected_count_changes_nothing_on_the_shelf(big_variance, bin, sku, manager_user):
    task, gap = big_variance
    movements = StockMovement.objects.count()
    count_task_decide(
        task=task, approve=False, reason="Counter missed the top shelf", actor=manager_user
    )
    assert balance(bin, sku) == 50 and StockMovement.objects.count() == movements
    task.refresh_from_db()
    assert (task.status, task.decision_reason, task.closing_count) == (
        Status.CANCELLED,
        "Counter missed the top shelf",
        None,
    )
    assert task.counts.get(round=2).outcome == "rejected"
    gap.refresh_from_db()
    assert (gap.status, gap.resolution) == ("resolved", "decision")
    assert "Counter missed the top shelf" in gap.resolution_note
    with pytest.raises(CountRefused, match="not waiting for a decision"):
        count_task_decide(task=task, approve=True, reason="again", actor=manager_user)


def test_decisions_need_a_reason_and_someone_who_did_not_count(
    big_variance, manager_user, other_staff
):
    task, _ = big_variance
    with pytest.raises(CountRefused, match="needs a reason"):
        count_task_decide(task=task, approve=True, reason="  ", actor=manager_user)
    with pytest.raises(CountRefused, match="You counted this task"):
        count_task_decide(task=task, approve=True, reason="mine", actor=other_staff)
    task.refresh_from_db()
    assert task.status == Status.APPROVAL_REQUIRED


def test_approval_refuses_a_correction_that_would_go_below_zero(
    big_variance, bin, sku, manager_user
):
    task, _ = big_variance
    move(bin, sku, -45, Kind.SHIP)  # 5 left on record; -12 cannot be applied
    with pytest.raises(CountRefused, match="would go below zero"):
        count_task_decide(task=task, approve=True, reason="ok", actor=manager_user)
    task.refresh_from_db()
    assert task.status == Status.APPROVAL_REQUIRED and balance(bin, sku) == 5


def test_large_value_at_cost_needs_approval_even_for_few_units(bin, staff_user, other_staff):
    pricey = SkuFactory(code="GOLD-1", unit_cost="150.00")
    move(bin, pricey, 20)
    task = open_task(bin, pricey)
    count(task, 17, staff_user)
    recount = count(task, 17, other_staff)  # -3 units but 450 at cost
    assert recount.outcome == "approval"


def test_count_submit_replayed_with_the_same_key_changes_nothing(stocked_bin, sku, staff_user):
    task = open_task(stocked_bin, sku)
    first = count(task, 9, staff_user, key="sheet-1")
    again = count(task, 9, staff_user, key="sheet-1")
    assert again.pk == first.pk and _adjustments(sku).count() == 1
    with pytest.raises(CountRefused, match="already counted"):
        count(task, 9, staff_user, key="sheet-2")


def test_count_submit_is_all_or_nothing(stocked_bin, sku, staff_user, other_staff):
    other = SkuFactory(code="SKU-2")
    move(stocked_bin, other, 4)
    fine, taken = open_task(stocked_bin, sku), open_task(stocked_bin, other)
    count_tasks_assign(task_ids=[taken.pk], assignee=other_staff, actor=other_staff)
    with pytest.raises(CountRefused, match="on staff-2's walk"):
        count_submit(
            bin=stocked_bin,
            counter=staff_user,
            idempotency_key="k",
            lines=[
                CountLine(sku=sku, counted=9, task_id=fine.pk),
                CountLine(sku=other, counted=4, task_id=taken.pk),
            ],
        )
    assert not Count.objects.exists() and not _adjustments(sku).exists()


def test_count_submit_refuses_bad_lines(stocked_bin, sku, staff_user):
    task = open_task(stocked_bin, sku)
    line = CountLine(sku=sku, counted=-1, task_id=task.pk)
    with pytest.raises(CountRefused, match="between 0 and"):
        count_submit(bin=stocked_bin, lines=[line], counter=staff_user, idempotency_key="k")
    with pytest.raises(CountRefused, match="on the sheet twice"):
        count_submit(
            bin=stocked_bin,
            counter=staff_user,
            idempotency_key="k",
            lines=[CountLine(sku, 1, task.pk), CountLine(sku, 1, None)],
        )
    with pytest.raises(CountRefused, match="not for bin"):
        count_submit(
            bin=BinFactory(),
            lines=[CountLine(sku, 1, task.pk)],
            counter=staff_user,
            idempotency_key="k",
        )
    assert not Count.objects.exists()


def test_a_sku_found_in_the_bin_gets_its_own_task_and_count(stocked_bin, sku, staff_user):
    stray = SkuFactory(code="STRAY-1")
    task = open_task(stocked_bin, sku)
    counts = count_submit(
        bin=stocked_bin,
        counter=staff_user,
        idempotency_key="k",
        lines=[CountLine(sku, 10, task.pk), CountLine(stray, 0)],
    )
    found = CountTask.objects.get(sku=stray)
    assert (found.bin, found.cause, found.status) == (stocked_bin, "found", Status.CLOSED)
    assert [c.outcome for c in counts] == ["confirmed", "confirmed"]
    # Units where the record has none are past tolerance: a blind recount first.
    (units,) = count_submit(
        bin=stocked_bin, counter=staff_user, idempotency_key="k2", lines=[CountLine(stray, 3)]
    )
    assert units.outcome == "recount" and units.expected == 0


def test_a_gap_of_a_sku_in_two_bins_resolves_when_both_are_counted(sku, staff_user):
    a, b = BinFactory(code="A-01"), BinFactory(code="B-01")
    move(a, sku, 5)
    move(b, sku, 5)
    gap = gap_asking_count(sku)
    task_a, task_b = CountTask.objects.order_by("bin__code")
    count(task_a, 5, staff_user)
    gap.refresh_from_db()
    assert gap.status == "open"
    count(task_b, 5, staff_user)
    gap.refresh_from_db()
    assert gap.resolution_reference == f"count tasks {task_a.pk}, {task_b.pk}"


def test_tolerance_is_configurable(stocked_bin, sku, staff_user, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_COUNT_TOLERANCE_UNITS", 0)
    assert count(open_task(stocked_bin, sku), 9, staff_user).outcome == "recount"
