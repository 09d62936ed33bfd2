"""What only PostgreSQL shows: concurrent counters and concurrent triggers on row locks."""

import threading

import pytest
from django.db import connection

from driftwalks.exceptions import CountRefused
from driftwalks.models import Count, CountTask, TaskTrigger
from driftwalks.services import CountLine, count_submit
from inventory.models import Bin, Discrepancy, Fact, OnHand, Sku, StockMovement
from inventory.selectors import ledger_mismatches
from inventory.services import discrepancy_record
from tests.driftwalks.factories import move, open_task
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counted_task(postgres):
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    move(bin, sku, 10)
    return open_task(bin, sku)


def test_two_counters_submitting_one_task_at_once_apply_one_correction(counted_task):
    from inventory.roles import STAFF

    users = [UserFactory(username=f"counter-{i}", group=STAFF) for i in range(2)]

    def submit(i):
        return count_submit(
            bin=Bin.objects.get(pk=counted_task.bin_id),
            lines=[
                CountLine(
                    sku=Sku.objects.get(pk=counted_task.sku_id), counted=9, task_id=counted_task.pk
                )
            ],
            counter=users[i],
            idempotency_key=f"sheet-{i}",
        )

    results = in_threads(2, submit)
    assert sum(isinstance(r, list) for r in results) == 1, results
    assert sum(isinstance(r, CountRefused) for r in results) == 1, results
    assert StockMovement.objects.filter(kind="count_adjust").count() == 1
    assert Count.objects.count() == 1
    assert OnHand.objects.get().quantity == 9
    assert CountTask.objects.get().status == "closed"
    assert ledger_mismatches() == []


def test_one_sheet_submitted_twice_at_once_is_recorded_once(counted_task):
    from inventory.roles import STAFF

    user = UserFactory(username="double-tap", group=STAFF)

    def submit(i):
        return count_submit(
            bin=Bin.objects.get(pk=counted_task.bin_id),
            lines=[
                CountLine(
                    sku=Sku.objects.get(pk=counted_task.sku_id), counted=9, task_id=counted_task.pk
                )
            ],
            counter=user,
            idempotency_key="the-same-sheet",
        )

    results = in_threads(4, submit)
    assert all(isinstance(r, list) for r in results), results
    assert len({r[0].pk for r in results}) == 1
    assert StockMovement.objects.filter(kind="count_adjust").count() == 1
    assert OnHand.objects.get().quantity == 9


def test_two_triggers_for_one_bin_at_once_open_one_task(postgres):
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    move(bin, sku, 10)

    def trigger(i):
        return discrepancy_record(
            kind=Discrepancy.Kind.STOREFRONT_GAP,
            fact=Fact.ON_HAND,
            sku=Sku.objects.get(pk=sku.pk),
            bin=Bin.objects.get(pk=bin.pk),
            detail=f"gap {i}",
            request_count=True,
            trigger="reconciliation",
        )

    results = in_threads(6, trigger)
    assert all(isinstance(r, Discrepancy) for r in results), results
    task = CountTask.objects.get()
    assert TaskTrigger.objects.filter(task=task).count() == 6


def test_a_trigger_attaches_without_waiting_for_a_counter_holding_the_task(postgres):
    """A gap found while the task is being counted attaches at once (no lock wait, so no
    deadlock with the counter's balance locks); only the priority bump is skipped."""
    from django.db import transaction
    from django.utils import timezone

    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    move(bin, sku, 10)
    task = open_task(bin, sku, priority=CountTask.Priority.LOW,
                     due_on=timezone.localdate() + timezone.timedelta(days=5))  # fmt: skip
    locked, release = threading.Event(), threading.Event()

    def counter():
        try:
            with transaction.atomic():
                CountTask.objects.select_for_update(no_key=True).get(pk=task.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the test, not hang
        try:
            discrepancy_record(kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND, sku=sku,
                               detail="gap while counting", request_count=True,
                               trigger="reconciliation")  # fmt: skip
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        release.set()
        thread.join(timeout=30)
    assert TaskTrigger.objects.filter(task=task, discrepancy__isnull=False).count() == 1
    task.refresh_from_db()
    assert task.priority == CountTask.Priority.LOW  # the bump waits for the next trigger


def test_two_stock_takes_at_once_open_one_find_task_per_sku_and_one_per_bin(postgres):
    from driftwalks.stocktake import opening_stock_take_open
    from inventory.models import System

    storefront = System.objects.get(name="storefront")
    bin = BinFactory(code="A-01")
    skus = [SkuFactory(code=f"ADOPT-{n}") for n in range(20)]
    for n, sku in enumerate(skus):
        discrepancy_record(kind=Discrepancy.Kind.NOT_YET_COUNTED, fact=Fact.ON_HAND, sku=sku,
                           consumer=storefront, owner_value=0, consumer_value=n + 1,
                           detail="not yet counted")  # fmt: skip
    for sku in skus[:10]:
        move(bin, sku, 2)

    results = in_threads(
        2,
        lambda i: opening_stock_take_open(
            storefront=System.objects.get(pk=storefront.pk), actor=None
        ),  # fmt: skip
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.bin_tasks for r in results) == 10 and sum(r.find_tasks for r in results) == 10
    assert CountTask.objects.filter(bin__isnull=True).count() == 10
    assert CountTask.objects.filter(bin=bin).count() == 10
    # Each discrepancy is attached to its task once, whichever run opened it.
    assert TaskTrigger.objects.filter(discrepancy__isnull=False).count() == 20
