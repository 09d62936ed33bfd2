"""The outbox: a row per change of a SKU's on-hand or commitments, written in the same
transaction as the change, and the kick that asks a worker to drain it after commit.

Kicks coalesce on a leading and a trailing edge: a commit when the storefront push is idle
is drained at once; commits while a drain is waiting or has just started share the next
one, which starts ``ONEFACT_PUSH_COALESCE_SECONDS`` after the previous drain started (or
as soon as the previous one ends, when it took longer). Two Redis keys carry it: the kick
key (a drain is enqueued and has not started) and the time the last drain started.
"""

import logging
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from inventory import dispatch
from inventory.models import OutboxEntry, Sku

log = logging.getLogger(__name__)

_KICK_KEY = "onefact:push-kicked"
_STARTED_KEY = "onefact:push-started"
PUSH_TASK = "inventory.tasks.push_storefronts_task"

# On a commit: when no drain is enqueued, note one (the kick key) and answer how many
# milliseconds it must wait for the window since the last drain's start to pass (0: idle,
# drain now); -1 when one is already enqueued and has not started, so it takes this commit.
# Redis's own clock measures both ends of the window.
_KICK_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local started = redis.call('GET', KEYS[2])
local wait = 0
if started then wait = tonumber(started) + tonumber(ARGV[2]) - now end
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[2]) then wait = tonumber(ARGV[2]) end
return wait
"""

# On a drain's start, before it reads what is pending: a commit from now on kicks again
# (its change may be later than what this drain reads), and the window starts now.
_START_SCRIPT = """
redis.call('DEL', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], now, 'PX', ARGV[1])
return now
"""


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


@cache
def _scripts(url: str):
    """The two scripts, registered once per process (sent by their SHA after the first)."""
    client = _redis(url)
    return client.register_script(_KICK_SCRIPT), client.register_script(_START_SCRIPT)


def _window_ms() -> int:
    return max(0, round(settings.ONEFACT_PUSH_COALESCE_SECONDS * 1000))


def push_countdown() -> float | None:
    """Note a drain as enqueued unless one already is, in one round trip: the seconds the
    new drain must wait (0: at once), or None when an enqueued drain will take the commit."""
    kick, _ = _scripts(settings.REDIS_URL)
    wait_ms = kick(keys=[_KICK_KEY, _STARTED_KEY],
                   args=[settings.ONEFACT_PUSH_KICK_TTL * 1000, _window_ms()])  # fmt: skip
    return None if wait_ms < 0 else wait_ms / 1000


def _kick() -> None:
    """Enqueue one drain per storefront. Many commits within a moment share one task, and a
    broker that is down costs a log line, not the write: the beat sweep drains later."""
    if not settings.REDIS_URL:
        dispatch.enqueue(PUSH_TASK)  # the embedded default: runs in-process now
        return
    try:
        # Coalesce: a drain clears the kick key before it reads what is pending, so a
        # commit after that kicks again and nothing committed is left behind.
        countdown = push_countdown()
        if countdown is not None:
            dispatch.enqueue(PUSH_TASK, countdown=countdown or None, retry=False)
    except Exception as error:  # noqa: BLE001 - the outbox row is already committed
        log.warning("Storefront push not enqueued (%s); the sweep will push it.", error)


def push_kick_clear() -> None:
    """A drain starts: commits from now on kick the next one, which waits for the window
    since this start to pass."""
    if not settings.REDIS_URL:
        return
    try:
        _, start = _scripts(settings.REDIS_URL)
        start(keys=[_KICK_KEY, _STARTED_KEY], args=[max(1000, 10 * _window_ms())])
    except Exception as error:  # noqa: BLE001
        log.warning("Could not clear the push kick key: %s", error)
