"""Faults with real parts: a Celery worker killed (SIGKILL) in the middle of a push and of a
reconciliation.

Two ways a worker dies. Its pool child alone is killed (the kernel's OOM killer, a crash):
the parent sees the child lost and, with ``task_acks_late`` and ``task_reject_on_worker_lost``,
puts the message back at once, so the same worker runs the task again. The whole worker is
killed (the machine, ``kill -9`` of the group): its message stays unacknowledged in Redis
until the broker's visibility timeout, then the next worker gets it; the beat sweep pushes
what waited meanwhile. Either way the task's effect happens once.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.urls import reverse

from driftwalks.models import CountTask, TaskTrigger
from inventory.models import Discrepancy, Job, Sku, StockMovement, SyncState
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust, storefront_push
from inventory.services.outbox import push_kicks_forget
from tests.factories import BinFactory, SkuFactory
from tests.integration.conftest import wait_for
from tests.integration.test_worker import _reset_broker_connections

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)
Kind = StockMovement.Kind


def _worker(env, *, pool: str = "solo", log=subprocess.DEVNULL):
    celery = shutil.which("celery", path=os.path.dirname(sys.executable)) or "celery"
    return subprocess.Popen(
        [celery, "-A", "config", "worker", "-c", "1", "-P", pool,
         "-l", "warning" if log is subprocess.DEVNULL else "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _test_database_url() -> str:
    db = connection.settings_dict
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def test_worker_killed_mid_push_the_change_lands_once(postgres, redis_url, shopify, shelf):
    from config.celery import app
    from inventory.tasks import sweep_outbox_task

    app.control.purge()
    push_kicks_forget()
    env = dict(os.environ, DATABASE_URL=_test_database_url(), DJANGO_DEBUG="1")
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    first = _worker(env)
    try:
        wait_for(lambda: app.control.ping(timeout=0.5), timeout=30, what="worker 1")
        # The storefront takes the write and is slow to answer: the worker dies meanwhile.
        shopify.fake.delay_next(1, seconds=20, operation="OneFactSetOnHand")
        on_hand_adjust(bin=bin, sku=sku, delta=7, kind=StockMovement.Kind.RECEIVE,
                       source_system=shelf, source_event_id="r-1")  # fmt: skip
        wait_for(lambda: shopify.fake.operations("OneFactSetOnHand"), what="the push to start")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert shopify.fake.on_hand("MUG-1") == 7  # the storefront applied it …
    assert not SyncState.objects.filter(sku=sku, pushed_value=7).exists()  # … unacknowledged

    second = _worker(env)
    try:
        wait_for(lambda: app.control.ping(timeout=0.5), timeout=30, what="worker 2")
        sweep_outbox_task.delay()  # what beat sends every 30 s
        wait_for(lambda: SyncState.objects.filter(sku=sku, pushed_value=7).exists(),
                 timeout=60, what="the sweep's push")  # fmt: skip
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    assert shopify.fake.on_hand("MUG-1") == 7
    assert shopify.fake.applied_mutations == 1  # the retry was the same mutation, replayed
    assert not Discrepancy.objects.exists()


# --- the pool child killed: the parent puts the message back, the same worker runs it again


@pytest.fixture
def broker(private_redis, postgres, settings):
    """A redis-server of this test's own as broker and result store, for the test and its
    workers: no other test's worker takes these tasks, and nothing is left behind."""
    from config.celery import app

    settings.REDIS_URL = private_redis.url
    previous = app.conf.broker_url
    app.conf.broker_url = private_redis.url
    _reset_broker_connections(app)
    yield private_redis
    app.conf.broker_url = previous
    _reset_broker_connections(app)


def _env(broker, **extra) -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=_test_database_url(), DJANGO_DEBUG="1",
                REDIS_URL=broker.url, **extra)  # fmt: skip


def _patient(shopify) -> None:
    """The adapter waits for a slow answer (the fixture's 2 s would give up first and retry:
    a retry, not a redelivery, would then be what the test saw)."""
    shopify.config = {**shopify.config, "timeout": 60}
    shopify.save(update_fields=["config"])


def _pool_children(pid: int) -> list[int]:
    return [
        int(child)
        for path in Path(f"/proc/{pid}/task").glob("*/children")
        for child in path.read_text().split()
    ]


def _kill_pool_child(worker) -> int:
    """SIGKILL the prefork pool's one child, the process running the task; not the parent."""
    (child,) = wait_for(lambda: _pool_children(worker.pid), what="the pool child")
    os.kill(child, signal.SIGKILL)
    return child


def _deliveries(log: Path, task: str) -> dict[str, list[str]]:
    """Per task id, what the worker's log says happened to it, in order."""
    seen: dict[str, list[str]] = {}
    pattern = re.compile(rf"Task {re.escape(task)}\[([0-9a-f-]+)\] (received|succeeded)")
    for task_id, event in pattern.findall(log.read_text()):
        seen.setdefault(task_id, []).append(event)
    return seen


def _logged(log: Path, task: str, events: list[str]) -> str:
    """Wait until the log shows one ``task`` with exactly these ``events``; its id."""
    try:
        wait_for(lambda: list(_deliveries(log, task).values()) == [events], timeout=10)
    except AssertionError:
        found = _deliveries(log, task)
        raise AssertionError(f"{task}: {events} wanted, the log has {found}") from None
    (task_id,) = _deliveries(log, task)
    return task_id


@pytest.fixture
def prefork(broker, tmp_path):
    """Start ``celery worker -P prefork -c 1`` (logging to a file); killed with its group after."""
    from config.celery import app

    started = []

    def start(env, name="worker"):
        log = tmp_path / f"{name}.log"
        worker = _worker(env, pool="prefork", log=log.open("w"))
        started.append(worker)
        wait_for(lambda: app.control.ping(timeout=0.5), timeout=30, what=name)
        return worker, log

    yield start
    for worker in started:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _stock(shopify, shelf, quantities: dict[str, int]) -> dict[str, Sku]:
    """SKUs on the shelf and in the shop, pushed and acknowledged: nothing in flight."""
    bin = BinFactory(code="A-14")
    shopify.fake.add_product("Range", [(code, 0) for code in quantities])
    skus = {}
    for code, quantity in quantities.items():
        skus[code] = SkuFactory(code=code)
        on_hand_adjust(bin=bin, sku=skus[code], delta=quantity, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"r-{code}")  # fmt: skip
    storefront_push(storefront=shopify)
    return skus


@pytest.mark.parametrize(
    ("slow", "second_run"),
    [
        # The shop applied the correction; the run that comes again finds nothing to
        # correct and settles the two gaps the first one recorded.
        pytest.param("OneFactSetOnHand", {"gaps": 0, "discrepancies_written": 0,
                                          "corrected": 0, "settled": 2},
                     id="killed-while-the-correction-is-answered"),
        # Nothing was recorded yet: the run that comes again does it all. (Shopify is
        # reconciled a location at a time: the page read is the location's levels.)
        pytest.param("OneFactLocationLevels", {"gaps": 2, "discrepancies_written": 2,
                                                    "corrected": 2, "settled": 0},
                     id="killed-while-a-page-is-read"),
    ],
)  # fmt: skip
def test_worker_killed_mid_reconciliation_it_is_redelivered_and_corrects_once(
    slow, second_run, broker, prefork, shopify, shelf, client, manager_user
):
    skus = _stock(shopify, shelf, {"RK-1": 5, "RK-2": 8, "RK-3": 3})
    broker_client = redis.Redis.from_url(broker.url)
    broker_client.flushdb()  # the pushes above were done here; their kicks are not needed
    shopify.fake.set_on_hand("RK-1", 6)  # within the tolerance: corrected and resolved
    shopify.fake.set_on_hand("RK-2", 4)  # past it: corrected, and a count is asked for
    _patient(shopify)
    applied_before = shopify.fake.applied_mutations
    calls = len(shopify.fake.operations(slow))
    shopify.fake.delay_next(1, seconds=30, operation=slow)
    worker, log = prefork(_env(broker))

    client.force_login(manager_user)  # a manager presses "Reconcile now" on the dashboard
    assert client.post(reverse("inventory:reconcile-start")).status_code == 302
    job = Job.objects.get(kind="reconcile")
    wait_for(lambda: len(shopify.fake.operations(slow)) > calls, what=f"the worker in {slow}")
    if slow == "OneFactSetOnHand":
        # Recorded and committed before the storefront was touched; the shop took the
        # correction and is slow to say so.
        assert Discrepancy.objects.filter(corrected_at__isnull=True).count() == 2
        wait_for(lambda: (shopify.fake.on_hand("RK-1"), shopify.fake.on_hand("RK-2")) == (5, 8),
                 what="the shop to apply the correction")  # fmt: skip
    else:
        assert not Discrepancy.objects.exists()
    _kill_pool_child(worker)

    job = wait_for(lambda: Job.objects.filter(pk=job.pk, status="succeeded").first(),
                   timeout=45, what="the redelivered reconciliation")  # fmt: skip
    # One task, received twice: by the child that was killed, then by its successor.
    _logged(log, "inventory.tasks.reconcile_range_task", ["received", "received", "succeeded"])
    assert "WorkerLostError" in log.read_text()  # the parent saw its child die, put it back
    assert (job.done, job.total) == (1, 1)  # its progress counted once
    assert {key: job.result[key] for key in second_run} == second_run

    # Every gap recorded once, corrected, the storefront equal to the shelf.
    assert {c: shopify.fake.on_hand(c) for c in skus} == {"RK-1": 5, "RK-2": 8, "RK-3": 3}
    gaps = {d.sku.code: d for d in Discrepancy.objects.select_related("sku")}
    assert sorted(gaps) == ["RK-1", "RK-2"]
    assert [(gaps[c].owner_value, gaps[c].consumer_value) for c in sorted(gaps)] == [(5, 6), (8, 4)]
    assert all(d.corrected_at and d.correction == d.owner_value for d in gaps.values())
    assert (gaps["RK-1"].status, gaps["RK-1"].resolution) == ("resolved", "correction")
    assert gaps["RK-2"].status == "open" and gaps["RK-2"].count_requested_at  # awaits its count
    assert {s.sku.code: s.pushed_value for s in SyncState.objects.select_related("sku")} == {
        "RK-1": 5, "RK-2": 8, "RK-3": 3
    }  # fmt: skip
    # The correction applied once: one mutation (the redelivered run found nothing to send
    # when the first one had landed, or sent it itself when the kill came first).
    assert shopify.fake.applied_mutations == applied_before + 1
    # One count task for the gap past the tolerance, with one trigger.
    assert list(CountTask.objects.values_list("sku__code", flat=True)) == ["RK-2"]
    assert TaskTrigger.objects.filter(discrepancy=gaps["RK-2"]).count() == 1
    assert ledger_mismatches() == []


def test_worker_killed_mid_push_it_is_redelivered_and_lands_once(broker, prefork, shopify, shelf):
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    _patient(shopify)
    worker, log = prefork(_env(broker))
    shopify.fake.delay_next(1, seconds=30, operation="OneFactSetOnHand")
    on_hand_adjust(bin=bin, sku=sku, delta=7, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="r-1")  # fmt: skip
    wait_for(lambda: shopify.fake.operations("OneFactSetOnHand"), what="the push to start")
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 7, what="the shop to apply it")
    _kill_pool_child(worker)  # the storefront applied it; its answer is not back yet

    # No sweep is sent: only the redelivered task can acknowledge the push.
    wait_for(lambda: SyncState.objects.filter(sku=sku, pushed_value=7).exists(),
             timeout=45, what="the redelivered push")  # fmt: skip
    _logged(log, "inventory.tasks.push_storefronts_task", ["received", "received", "succeeded"])
    assert "WorkerLostError" in log.read_text()
    assert shopify.fake.on_hand("MUG-1") == 7
    # Sent again with its idempotency key: the storefront replayed it, applied it once.
    assert (shopify.fake.applied_mutations, shopify.fake.replayed_mutations) == (1, 1)
    assert not Discrepancy.objects.exists()
    assert ledger_mismatches() == []


# --- the whole worker killed: Redis redelivers after the visibility timeout --------------

VISIBILITY_TIMEOUT = 3


def test_whole_worker_killed_mid_push_redis_redelivers_after_the_visibility_timeout(
    broker, prefork, shopify, shelf
):
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    _patient(shopify)
    env = _env(broker, CELERY_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT))
    first, first_log = prefork(env, "worker-1")
    shopify.fake.delay_next(1, seconds=30, operation="OneFactSetOnHand")
    on_hand_adjust(bin=bin, sku=sku, delta=7, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="r-1")  # fmt: skip
    wait_for(lambda: shopify.fake.operations("OneFactSetOnHand"), what="the push to start")
    os.killpg(first.pid, signal.SIGKILL)  # parent and child: nobody is left to put it back
    first.wait()

    # The message waits in Redis, delivered and unacknowledged, until the timeout passes.
    broker_client = redis.Redis.from_url(broker.url)
    ((_, delivered_at),) = broker_client.zrange("unacked_index", 0, -1, withscores=True)
    wait_for(lambda: time.time() > delivered_at + VISIBILITY_TIMEOUT + 0.5,
             timeout=VISIBILITY_TIMEOUT + 5, what="the visibility timeout")  # fmt: skip
    assert not SyncState.objects.filter(sku=sku, pushed_value=7).exists()

    _, log = prefork(env, "worker-2")  # no sweep: the next worker gets the same message
    wait_for(lambda: SyncState.objects.filter(sku=sku, pushed_value=7).exists(),
             timeout=45, what="the redelivered push")  # fmt: skip
    task_id = _logged(first_log, "inventory.tasks.push_storefronts_task", ["received"])
    assert _logged(log, "inventory.tasks.push_storefronts_task", ["received", "succeeded"]) == (
        task_id
    )  # the same message
    assert broker_client.zcard("unacked_index") == 0
    assert (shopify.fake.applied_mutations, shopify.fake.replayed_mutations) == (1, 1)
    assert not Discrepancy.objects.exists()
    assert ledger_mismatches() == []
