"""Drift-walk services against the real database: walks, assignment, escalation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from driftwalks.exceptions import CountRefused
from driftwalks.models import CountTask, UnplacedRequest
from driftwalks.services import (
    count_task_cancel,
    count_tasks_assign,
    count_tasks_escalate,
    walk_start,
)
from inventory.services import shelf_evidence_record
from tests.driftwalks.factories import balance, count, gap_asking_count, move, open_task
from tests.factories import BinFactory, SkuFactory, UserFactory

Status = CountTask.Status


def test_walk_start_pulls_the_oldest_due_tasks_and_never_a_recount_of_ones_own_count(
    sku, staff_user, other_staff
):
    today = timezone.localdate()
    tasks = [open_task(BinFactory(), sku, due_on=today + timedelta(days=d)) for d in (3, 1, 2)]
    counted = SkuFactory()
    shelf_evidence_record(skus=[counted], kind="count")  # known: the count rules apply
    mine = open_task(BinFactory(), counted, due_on=today)  # the most urgent
    count(mine, 5, staff_user)  # 5 where the record has none: a recount by someone else
    assert walk_start(user=staff_user, size=2) == 2
    assert set(CountTask.objects.filter(assignee=staff_user).values_list("pk", flat=True)) == {
        tasks[1].pk,
        tasks[2].pk,
    }
    assert walk_start(user=staff_user, size=2) == 0  # the walk is full
    assert walk_start(user=other_staff, size=10) == 2  # task 0 and the recount of mine
    assert CountTask.objects.get(pk=mine.pk).assignee == other_staff


def test_count_tasks_assign_refuses_a_recount_to_the_first_counter(
    stocked_bin, sku, staff_user, other_staff, manager_user
):
    task = open_task(stocked_bin, sku)
    count(task, 1, staff_user)
    with pytest.raises(CountRefused, match="needs someone else"):
        count_tasks_assign(task_ids=[task.pk], assignee=staff_user, actor=manager_user)
    assert count_tasks_assign(task_ids=[task.pk], assignee=other_staff, actor=manager_user) == 1
    with pytest.raises(CountRefused, match="may not count"):
        count_tasks_assign(
            task_ids=[task.pk], assignee=UserFactory(username="nobody"), actor=manager_user
        )


def test_count_tasks_escalate_marks_overdue_tasks_once_and_raises_priority(stocked_bin, sku):
    yesterday = timezone.localdate() - timedelta(days=1)
    task = open_task(stocked_bin, sku, priority=CountTask.Priority.LOW, due_on=yesterday)
    fresh = open_task(BinFactory(), sku)
    assert count_tasks_escalate() == 1
    task.refresh_from_db()
    assert task.escalated_at is not None and task.priority == CountTask.Priority.NORMAL
    assert count_tasks_escalate() == 0  # each task once
    task.refresh_from_db()
    assert task.priority == CountTask.Priority.NORMAL
    assert CountTask.objects.get(pk=fresh.pk).escalated_at is None


def test_count_request_naming_no_sku_counts_everything_in_the_bins(stocked_bin, sku):
    from inventory import hooks

    move(stocked_bin, SkuFactory(code="SKU-2"), 3)
    hooks.request_count(
        hooks.CountRequest(sku=None, bins=[stocked_bin], reason="ghost row", trigger="ghost_row")
    )
    assert sorted(CountTask.objects.values_list("sku__code", "cause")) == [
        ("SKU-1", "ghost_row"),
        ("SKU-2", "ghost_row"),
    ]
    hooks.request_count(hooks.CountRequest(sku=None, bins=[BinFactory()], reason="empty bin"))
    assert UnplacedRequest.objects.get().sku is None


def test_count_task_cancel_is_a_reasoned_decision(stocked_bin, sku, manager_user, staff_user):
    gap = gap_asking_count(sku)
    task = CountTask.objects.get()
    with pytest.raises(CountRefused, match="needs a reason"):
        count_task_cancel(task=task, reason=" ", actor=manager_user)
    count_task_cancel(task=task, reason="Bin A-14 was emptied for repair", actor=manager_user)
    task.refresh_from_db()
    assert (task.status, task.decided_by, task.closing_count) == (
        Status.CANCELLED,
        manager_user,
        None,
    )
    gap.refresh_from_db()
    assert (gap.status, gap.resolution) == ("resolved", "decision")
    assert "emptied for repair" in gap.resolution_note
    assert balance(stocked_bin, sku) == 10
    with pytest.raises(CountRefused, match="cannot be closed without a count"):
        count_task_cancel(task=task, reason="again", actor=manager_user)
    with pytest.raises(CountRefused, match="already counted"):
        count(task, 10, staff_user)


def test_a_correction_reaches_the_outbox_for_the_storefront(stocked_bin, sku, staff_user):
    from inventory.models import OutboxEntry

    before = OutboxEntry.objects.filter(sku=sku).count()
    count(open_task(stocked_bin, sku), 9, staff_user)
    assert OutboxEntry.objects.filter(sku=sku).count() == before + 1  # the push is owed
    count(open_task(stocked_bin, sku), 9, staff_user)  # confirms the record: nothing owed
    assert OutboxEntry.objects.filter(sku=sku).count() == before + 1
