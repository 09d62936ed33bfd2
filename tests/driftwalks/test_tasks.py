"""Beat tasks: thin wrappers that load nothing but call one service, and are idempotent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from driftwalks.models import CountTask
from driftwalks.tasks import escalate_overdue_task, open_cycle_counts_task
from inventory.models import StockMovement
from tests.driftwalks.factories import move, open_task
from tests.factories import BinFactory, SkuFactory

pytestmark = pytest.mark.django_db


def test_beat_schedule_names_the_driftwalks_tasks():
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {open_cycle_counts_task.name, escalate_overdue_task.name} <= schedule
    assert open_cycle_counts_task.name == "driftwalks.tasks.open_cycle_counts_task"
    assert escalate_overdue_task.name == "driftwalks.tasks.escalate_overdue_task"


def test_open_cycle_counts_task_opens_due_pairs_once():
    bin, sku = BinFactory(), SkuFactory()
    move(bin, sku, 5, at=timezone.now() - timedelta(days=400))
    move(BinFactory(), SkuFactory(), 5)  # stocked today: not due
    assert open_cycle_counts_task() == 1
    assert open_cycle_counts_task() == 0
    assert CountTask.objects.get().cause == "cycle"


def test_escalate_overdue_task_escalates_each_overdue_task_once():
    task = open_task(BinFactory(), SkuFactory(), due_on=timezone.localdate() - timedelta(days=3))
    assert escalate_overdue_task() == 1
    assert escalate_overdue_task() == 0
    task.refresh_from_db()
    assert task.escalated_at is not None
    assert StockMovement.objects.count() == 0
