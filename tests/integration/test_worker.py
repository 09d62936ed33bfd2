"""The flow of one number with real parts: PostgreSQL, Redis, a Celery worker, and the
storefront fake over HTTP. Nothing here is eager."""

import threading

import pytest
from django.db import connection

from inventory.models import Discrepancy, InboxEvent, OutboxEntry, StockMovement, SyncState
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust
from inventory.tasks import sweep_outbox_task
from tests.factories import BinFactory, SkuFactory
from tests.integration.conftest import wait_for
from tests.storefront.fakes import shopify_order_payload, shopify_webhook

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mug(shopify, shelf):
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    return SkuFactory(code="MUG-1"), BinFactory(code="A-14")


def _receive(mug, shelf, qty, event):
    sku, bin = mug
    return on_hand_adjust(bin=bin, sku=sku, delta=qty, kind=Kind.RECEIVE, source_system=shelf,
                          source_event_id=event)  # fmt: skip


def test_worker_smoke_a_movement_reaches_the_storefront(celery_live_worker, shopify, mug, shelf):
    _receive(mug, shelf, 7, "r-1")
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 7, what="the push")
    state = wait_for(lambda: SyncState.objects.filter(pushed_value=7).first(), what="sync state")
    assert state.lag_ms is not None and state.lag_ms >= 0


def test_worker_retries_5xx_timeouts_and_throttling_until_success(
    celery_live_worker, shopify, mug, shelf
):
    shopify.fake.fail_next(2, status=503)
    shopify.fake.throttle_next(1)
    _receive(mug, shelf, 3, "r-1")
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 3, timeout=60, what="retried push")
    shopify.fake.delay_next(1, seconds=6.0)  # the adapter's 5 s timeout fires; the write landed
    _receive(mug, shelf, 2, "r-2")
    wait_for(lambda: SyncState.objects.filter(pushed_value=5).exists(), timeout=60,
             what="push after a timeout")  # fmt: skip
    assert shopify.fake.on_hand("MUG-1") == 5
    assert not Discrepancy.objects.filter(kind=Discrepancy.Kind.STALE_PUSH).exists()


def test_worker_concurrent_writers_never_regress_the_storefront(
    celery_live_worker, shopify, mug, shelf
):
    shopify.fake.delay_next(3, seconds=0.3)  # slow pushes overlap with new commits

    def writer(n):
        try:
            for i in range(15):
                _receive(mug, shelf, 1, f"w{n}-{i}")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 60, timeout=60, what="final value")
    writes = [
        q["quantity"]
        for r in shopify.fake.operations("OneFactSetOnHand")
        for q in r.json["variables"]["input"]["quantities"]
    ]
    assert writes == sorted(writes), "an older value overwrote a newer one"


def test_worker_stale_compare_records_a_discrepancy(celery_live_worker, shopify, mug, shelf):
    _receive(mug, shelf, 4, "r-1")
    wait_for(lambda: SyncState.objects.filter(pushed_value=4).exists(), what="first push")
    shopify.fake.set_on_hand("MUG-1", 11)
    _receive(mug, shelf, 1, "r-2")
    stale = wait_for(
        lambda: Discrepancy.objects.filter(kind=Discrepancy.Kind.STALE_PUSH).first(),
        what="stale discrepancy",
    )
    assert (stale.owner_value, stale.consumer_value) == (5, 11)
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 5, what="the shelf wins")


def test_worker_processes_webhooks_once(celery_live_worker, shopify, mug, shelf, client):
    _receive(mug, shelf, 6, "r-1")
    body, headers = shopify_webhook(
        "orders/fulfilled",
        shopify_order_payload(77, [(1, "MUG-1", 2)], fulfillment_status="fulfilled"),
        secret=shopify.fake.webhook_secret,
    )
    headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    for _ in range(3):  # Shopify delivers again when it does not hear back in time
        response = client.post(f"/webhooks/{shopify.name}/", body,
                               content_type="application/json", headers=headers)  # fmt: skip
        assert response.status_code == 200
    wait_for(lambda: InboxEvent.objects.filter(status="processed").exists(), what="processing")
    wait_for(lambda: shopify.fake.on_hand("MUG-1") == 4, what="the ship reaching the shop")
    assert StockMovement.objects.filter(kind=Kind.SHIP).count() == 1


def test_redis_stopped_during_writes_loses_nothing(
    private_redis, postgres, transactional_db, shopify, mug, shelf, settings
):
    """Writes go on while the broker is down; once it is back, the sweep pushes them all."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    settings.REDIS_URL = private_redis.url
    previous = app.conf.broker_url
    app.conf.broker_url = private_redis.url
    _reset_broker_connections(app)
    try:
        _receive(mug, shelf, 1, "before")
        private_redis.stop()  # Redis goes away in the middle of the day
        skus = [SkuFactory(code=f"DOWN-{n}") for n in range(5)]
        shopify.fake.add_product("Down", [(s.code, 0) for s in skus])
        for n, sku in enumerate(skus):
            on_hand_adjust(bin=mug[1], sku=sku, delta=n + 1, kind=Kind.RECEIVE,
                           source_system=shelf, source_event_id=f"down-{n}")  # fmt: skip
        _receive(mug, shelf, 2, "during")
        assert StockMovement.objects.count() == 7  # every write succeeded
        assert OutboxEntry.objects.count() >= 7
        private_redis.start()  # … and comes back
        _reset_broker_connections(app)
        with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False,
                          shutdown_timeout=20):  # fmt: skip
            sweep_outbox_task.delay()  # what beat sends every 30 s
            wait_for(lambda: shopify.fake.on_hand("MUG-1") == 3, timeout=60, what="sweep")
            for n, sku in enumerate(skus):
                wait_for(lambda s=sku, q=n + 1: shopify.fake.on_hand(s.code) == q,
                         what=f"{sku.code} pushed")  # fmt: skip
    finally:
        app.conf.broker_url = previous
        _reset_broker_connections(app)
    assert ledger_mismatches() == []


def _reset_broker_connections(app) -> None:
    """Drop pooled broker connections so the next publish connects to ``broker_url`` anew."""
    from kombu import pools

    pools.reset()  # closes and forgets kombu's global connection and producer pools
    app._pool = None
    app.amqp._producer_pool = None
