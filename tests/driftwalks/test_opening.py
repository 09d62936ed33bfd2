"""Drift-walk services against the real database: opening."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from driftwalks.exceptions import CountRefused
from driftwalks.models import CountTask, TaskTrigger, UnplacedRequest
from driftwalks.services import count_task_open_manual
from inventory.models import StockMovement
from tests.driftwalks.factories import gap_asking_count, move, open_task
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
Status = CountTask.Status


def test_count_request_opens_a_high_priority_task_due_today_with_its_discrepancy(stocked_bin, sku):
    gap = gap_asking_count(sku)
    task = CountTask.objects.get()
    assert (task.bin, task.sku, task.status) == (stocked_bin, sku, Status.OPEN)
    assert (task.priority, task.due_on) == (CountTask.Priority.HIGH, timezone.localdate())
    assert task.cause == "reconciliation" and task.reason == gap.detail
    assert list(task.triggers.values_list("discrepancy", flat=True)) == [gap.pk]


def test_two_triggers_for_one_bin_open_one_task(stocked_bin, sku):
    first = gap_asking_count(sku)
    second = gap_asking_count(
        sku, bin=stocked_bin, kind="ledger_mismatch", detail="ledger adds up to 9"
    )
    task = CountTask.objects.get()
    assert sorted(t.discrepancy_id for t in task.triggers.all()) == [first.pk, second.pk]
    # Replaying the same discrepancy's request attaches nothing new.
    from inventory import hooks

    hooks.request_count(
        hooks.CountRequest(
            sku=sku, bins=[stocked_bin], reason="again", discrepancy=first, trigger="reconciliation"
        )
    )
    assert CountTask.objects.count() == 1 and TaskTrigger.objects.count() == 2


def test_later_trigger_only_makes_a_task_more_urgent(stocked_bin, sku):
    later = timezone.localdate() + timedelta(days=5)
    task = open_task(stocked_bin, sku, priority=CountTask.Priority.LOW, due_on=later)
    gap_asking_count(sku)  # reconciliation: high, due today
    task.refresh_from_db()
    assert (task.priority, task.due_on) == (CountTask.Priority.HIGH, timezone.localdate())
    open_task(stocked_bin, sku, priority=CountTask.Priority.LOW, due_on=later)
    task.refresh_from_db()
    assert (task.priority, task.due_on) == (CountTask.Priority.HIGH, timezone.localdate())


def test_count_request_without_bins_counts_the_bins_that_ever_held_the_sku(stocked_bin, sku):
    move(stocked_bin, sku, -10, Kind.SHIP)  # the bin is empty now; its row remains
    other = BinFactory(code="B-02")
    move(other, sku, 3)
    move(other, sku, -3, Kind.SHIP)
    from inventory import hooks

    hooks.request_count(
        hooks.CountRequest(sku=sku, bins=[], reason="short pick", trigger="short_fulfilment")
    )
    assert sorted(CountTask.objects.values_list("bin__code", flat=True)) == ["A-14", "B-02"]


def test_count_request_for_a_sku_no_bin_ever_held_opens_a_find_task(stocked_bin, manager_user):
    ghost = SkuFactory(code="GHOST-1")
    gap = gap_asking_count(ghost)
    task = CountTask.objects.get()
    assert (task.bin, task.sku, task.status) == (None, ghost, Status.OPEN)
    assert list(task.triggers.values_list("discrepancy", flat=True)) == [gap.pk]
    assert not UnplacedRequest.objects.exists()
    gap.refresh_from_db()
    assert gap.status == "open" and gap.count_requested_at is not None


def test_count_task_open_manual_opens_every_sku_the_bin_holds(stocked_bin, sku, manager_user):
    other = SkuFactory(code="SKU-2")
    move(stocked_bin, other, 4)
    tasks = count_task_open_manual(
        bin=stocked_bin,
        sku=None,
        priority=1,
        due_on=timezone.localdate(),
        actor=manager_user,
        note="audit",
    )
    assert [t.sku.code for t in tasks] == ["SKU-1", "SKU-2"]
    assert tasks[0].reason == "Asked for by manager-t: audit"
    empty = BinFactory(code="Z-99")
    with pytest.raises(CountRefused, match="holds nothing on record"):
        count_task_open_manual(
            bin=empty, sku=None, priority=1, due_on=timezone.localdate(), actor=manager_user
        )


def test_database_allows_one_unfinished_task_per_bin_and_sku(stocked_bin, sku):
    open_task(stocked_bin, sku)
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTask.objects.create(
            bin=stocked_bin, sku=sku, cause="manual", reason="twice", due_on=timezone.localdate()
        )


def test_database_refuses_closing_a_task_without_a_count_or_a_reasoned_decision(
    stocked_bin, sku, manager_user
):
    task = open_task(stocked_bin, sku)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTask.objects.filter(pk=task.pk).update(status="closed", closed_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTask.objects.filter(pk=task.pk).update(
            status="cancelled", closed_at=now, decided_by=manager_user
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTask.objects.filter(pk=task.pk).update(status="cancelled", decision_reason="why")
