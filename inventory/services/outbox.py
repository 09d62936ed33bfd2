"""The outbox: a row per change of a SKU's on-hand or commitments, written in the same
transaction as the change, and the kick that asks a worker to drain it after commit."""

import logging
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from inventory import dispatch
from inventory.models import OutboxEntry, Sku

log = logging.getLogger(__name__)

_KICK_KEY = "onefact:push-kicked"
PUSH_TASK = "inventory.tasks.push_storefronts_task"


def outbox_record(*, sku: Sku) -> OutboxEntry:
    """Note that the SKU changed; its push is scheduled once, after the transaction commits."""
    entry = OutboxEntry.objects.create(sku=sku)
    push_schedule()
    return entry


def push_schedule() -> None:
    """Kick the storefront push after commit: once per transaction, never once per row."""
    if not connection.in_atomic_block:
        _kick()
        return
    if not any(func is _kick for _, func, _ in connection.run_on_commit):
        transaction.on_commit(_kick, robust=True)


@cache
def _redis(url: str):
    """One client (and connection pool) per process and URL: a commit reuses a connection
    instead of opening one. redis-py's pool starts afresh in a forked child."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)


def _kick() -> None:
    """Enqueue one drain per storefront. Many commits within a moment share one task, and a
    broker that is down costs a log line, not the write: the beat sweep drains later."""
    if not settings.REDIS_URL:
        dispatch.enqueue(PUSH_TASK)  # the embedded default: runs in-process now
        return
    try:
        client = _redis(settings.REDIS_URL)
        # Coalesce: the task clears the key before draining, so a commit after that
        # kicks again and nothing committed is left behind.
        if client.set(_KICK_KEY, "1", nx=True, ex=settings.ONEFACT_PUSH_KICK_TTL):
            dispatch.enqueue(
                PUSH_TASK, countdown=settings.ONEFACT_PUSH_COALESCE_SECONDS, retry=False
            )
    except Exception as error:  # noqa: BLE001 - the outbox row is already committed
        log.warning("Storefront push not enqueued (%s); the sweep will push it.", error)


def push_kick_clear() -> None:
    if not settings.REDIS_URL:
        return
    try:
        _redis(settings.REDIS_URL).delete(_KICK_KEY)
    except Exception as error:  # noqa: BLE001
        log.warning("Could not clear the push kick key: %s", error)
