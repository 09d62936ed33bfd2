"""Faults with real parts: a Celery worker killed (SIGKILL) in the middle of a push."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.db import connection

from inventory.models import Discrepancy, StockMovement, SyncState
from inventory.services import on_hand_adjust
from inventory.services.outbox import _KICK_KEY
from tests.factories import BinFactory, SkuFactory
from tests.integration.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _worker(env):
    celery = shutil.which("celery", path=os.path.dirname(sys.executable)) or "celery"
    return subprocess.Popen(
        [celery, "-A", "config", "worker", "-c", "1", "-P", "solo", "-l", "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _test_database_url() -> str:
    db = connection.settings_dict
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def test_worker_killed_mid_push_the_change_lands_once(postgres, redis_url, shopify, shelf):
    from config.celery import app
    from inventory.tasks import sweep_outbox_task

    app.control.purge()
    redis.Redis.from_url(redis_url).delete(_KICK_KEY)
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
