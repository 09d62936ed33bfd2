"""Count requests in a batch (a reconciliation's gaps): the same tasks, triggers and unplaced
requests as taking them one by one, in a fixed number of queries."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from driftwalks.models import CountTask, TaskTrigger, UnplacedRequest
from driftwalks.services import count_request_receive, count_requests_receive, opening
from inventory import hooks
from inventory.models import Bin, Discrepancy, Fact, Sku
from inventory.services import discrepancy_record
from tests.driftwalks.factories import move, open_task
from tests.factories import BinFactory, SkuFactory


class _Undo(Exception):
    pass


def _state() -> dict:
    """Everything the requests left, comparable across two runs (no ids, no times)."""

    def pair(task):
        return (task.bin.code if task.bin else "(find it)", task.sku.code) if task else None

    return {
        "tasks": sorted(
            (*pair(t), t.status, t.priority, t.due_on, t.cause, t.reason)
            for t in CountTask.objects.select_related("bin", "sku")
        ),
        "triggers": sorted(
            (pair(t.task), t.cause, t.reason, t.discrepancy_id or 0)
            for t in TaskTrigger.objects.select_related("task__bin", "task__sku")
        ),
        "unplaced": sorted(
            (
                u.sku_id or 0,
                u.cause,
                u.reason,
                u.discrepancy_id or 0,
                u.why_unplaced,
                pair(u.placed_task),
                u.placed_at is not None,
            )
            for u in UnplacedRequest.objects.select_related("placed_task__bin", "placed_task__sku")
        ),  # fmt: skip
    }


def _outcome(receive) -> dict:
    """Run ``receive`` and note what it left, then roll it all back."""
    try:
        with transaction.atomic():
            receive()
            seen = _state()
            raise _Undo
    except _Undo:
        return seen


def _gap(sku, detail: str) -> Discrepancy:
    return Discrepancy.objects.create(kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND,
                                      sku=sku, detail=detail)  # fmt: skip


@pytest.fixture
def mixed_requests(db, shelf):
    """Requests of every shape, in an order that matters when taken one by one."""
    a, b, c = BinFactory(code="A-01"), BinFactory(code="B-02"), BinFactory(code="C-03")
    mug, cup, jar, ghost = (SkuFactory(code=code) for code in ("MUG", "CUP", "JAR", "GHOST"))
    move(a, mug, 5)
    move(b, mug, 2)
    move(c, cup, 4)
    move(c, jar, 1)
    # An open task to be made more urgent, and an older request waiting for a JAR task.
    open_task(a, mug, priority=CountTask.Priority.LOW,
              due_on=timezone.localdate() + timedelta(days=9))  # fmt: skip
    UnplacedRequest.objects.create(sku=jar, cause="found", reason="seen on the floor",
                                   why_unplaced="none yet")  # fmt: skip
    gaps = [_gap(s, f"gap of {s.code}") for s in (mug, cup, jar, ghost, ghost)]
    request = hooks.CountRequest
    return [
        request(sku=mug, bins=[a, b, a], reason=gaps[0].detail, discrepancy=gaps[0],
                trigger="reconciliation"),
        request(sku=ghost, bins=[], reason=gaps[3].detail, discrepancy=gaps[3],
                trigger="reconciliation"),  # no bin ever held it: find it
        request(sku=cup, bins=[], reason=gaps[1].detail, discrepancy=gaps[1]),  # ever held: C-03
        request(sku=mug, bins=[b], reason="short pick", trigger="pick_short"),
        request(sku=mug, bins=[a], reason=gaps[0].detail, discrepancy=gaps[0],
                trigger="reconciliation"),  # the same discrepancy again: one trigger
        request(sku=None, bins=[c], reason="ghost row in C-03", trigger="ghost_row"),
        request(sku=ghost, bins=[], reason=gaps[4].detail, discrepancy=gaps[4],
                trigger="reconciliation"),
        request(sku=jar, bins=[], reason=gaps[2].detail, discrepancy=gaps[2],
                trigger="return_mismatch"),
        request(sku=None, bins=[BinFactory(code="Z-99")], reason="empty bin", trigger="ghost_row"),
        request(sku=ghost, bins=[b], reason="found in B-02", trigger="found"),
    ]  # fmt: skip


def test_batch_of_count_requests_leaves_what_one_by_one_leaves(mixed_requests):
    one_by_one = _outcome(lambda: [count_request_receive(r) for r in mixed_requests])
    batched = _outcome(lambda: count_requests_receive(mixed_requests))
    assert batched == one_by_one
    # What that is, in short: the open MUG task made urgent, new tasks, GHOST to be found,
    # the older JAR request placed, the request with nothing to count kept.
    assert ("A-01", "MUG", "open", 1, timezone.localdate(), "manual", "test") in batched["tasks"]
    assert len(batched["tasks"]) == 6
    assert ("(find it)", "GHOST", "open", 1, timezone.localdate(), "reconciliation",
            "gap of GHOST") in batched["tasks"]  # fmt: skip
    ghost_triggers = [t for t in batched["triggers"] if t[0] == ("(find it)", "GHOST")]
    assert len(ghost_triggers) == 2  # both GHOST gaps, on the one find-it task
    placed = [u for u in batched["unplaced"] if u[5]]
    assert {u[5] for u in placed} == {("C-03", "JAR")}
    assert [u for u in batched["unplaced"] if not u[5]] == [
        (0, "ghost_row", "empty bin", 0,
         "No SKU was named and the bins named hold nothing on record: open a count by hand on "
         "the bin to look in.", None, False),
    ]  # fmt: skip


def test_batch_of_count_requests_runs_a_fixed_number_of_queries(db, shelf):
    def requests(n):
        bins = [BinFactory() for _ in range(n)]
        skus = [SkuFactory() for _ in range(n)]
        for bin, sku in zip(bins, skus, strict=True):
            move(bin, sku, 3)
        open_task(bins[0], skus[0], priority=CountTask.Priority.LOW)
        return [
            hooks.CountRequest(
                sku=sku,
                bins=[bin],
                reason="gap",
                discrepancy=_gap(sku, "gap"),
                trigger="reconciliation",
            )  # fmt: skip
            for bin, sku in zip(bins, skus, strict=True)
        ]

    counts = []
    for batch in (requests(3), requests(30)):
        with CaptureQueriesContext(connection) as ctx:
            count_requests_receive(batch)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    assert CountTask.objects.count() == 33 and TaskTrigger.objects.count() == 35


def test_hook_gives_the_batch_to_a_batch_subscriber_and_one_by_one_to_the_others(db, monkeypatch):
    singles, batches = [], []

    def one(request):
        singles.append(request)

    monkeypatch.setattr(hooks, "_count_subscribers", [])
    monkeypatch.setattr(hooks, "_count_batch_handlers", {})
    hooks.subscribe_count_requests(one)
    hooks.subscribe_count_requests(lambda r: None, batch=batches.append)
    requests = [hooks.CountRequest(sku=None, bins=[], reason=str(n)) for n in range(3)]
    assert hooks.request_counts(requests) == 2
    assert singles == requests and batches == [requests]
    assert hooks.request_counts([]) == 0 and batches == [requests]


@pytest.mark.django_db(transaction=True)
def test_batch_meeting_tasks_opened_meanwhile_takes_its_requests_one_by_one(postgres, monkeypatch):
    """Another batch opens the same tasks between this one's look-up and its insert: the
    partial unique constraint refuses the insert, and the requests go one by one, attaching
    to the tasks the other opened."""
    bins = [BinFactory(code=f"A-{n:02}") for n in range(5)]
    skus = [SkuFactory(code=f"SKU-{n}") for n in range(5)]
    for bin, sku in zip(bins, skus, strict=True):
        move(bin, sku, 3)
    looked_up, other_done = threading.Event(), threading.Event()
    real = CountTask.objects.bulk_create

    def paused(objs, *args, **kwargs):
        if threading.current_thread().name == "first":
            looked_up.set()  # it found no task for its pairs; now the other batch runs
            other_done.wait(timeout=30)
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(CountTask.objects, "bulk_create", paused)
    one_by_one = []

    def single(request):
        one_by_one.append(threading.current_thread().name)
        return count_request_receive(request)

    monkeypatch.setattr(opening, "count_request_receive", single)
    results: dict = {}

    def run(name: str) -> None:
        try:
            if name == "second":
                looked_up.wait(timeout=30)
            batch = []
            for sku in Sku.objects.order_by("code"):
                gap = discrepancy_record(kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND,
                                         sku=sku, detail=f"{name} gap")  # fmt: skip
                batch.append(hooks.CountRequest(
                    sku=sku, bins=list(Bin.objects.filter(balances__sku=sku)), reason=gap.detail,
                    discrepancy=gap, trigger="reconciliation"))  # fmt: skip
            results[name] = count_requests_receive(batch)
        except Exception as error:  # noqa: BLE001 - the test inspects each outcome
            results[name] = error
        finally:
            if name == "second":
                other_done.set()
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, list) and len(r) == 5 for r in results.values()), results
    assert [t.pk for t in results["first"]] == [t.pk for t in results["second"]]
    assert one_by_one == ["first"] * 5  # the second batch went through in one go
    assert CountTask.objects.count() == 5
    assert sorted(TaskTrigger.objects.values_list("reason", flat=True)) == sorted(
        ["first gap"] * 5 + ["second gap"] * 5
    )
