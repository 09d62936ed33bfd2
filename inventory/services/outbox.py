"""The outbox: a row per change of a SKU's on-hand or commitments, written in the same
transaction as the change, and the kick that asks a worker to drain it after commit.

Kicks coalesce on a leading and a trailing edge: a commit when the storefront push is idle
is drained at once; commits while a drain waits to start share it, and the next drain
starts ``ONEFACT_PUSH_COALESCE_SECONDS`` after the previous one started (or as soon as the
previous one ends, when it took longer). Two Redis keys carry it: the kick key (a drain is
enqueued and has not started; its value is when it is due) and when the last drain
started, both on Redis's clock.

A drain due later is a promise: it reads what is pending no earlier than its due time (it
waits for it, on Redis's clock). So a process that saw it knows that every commit it makes
before then is taken by it, and asks Redis nothing until then: in a burst, a process asks
once per window instead of once per commit.

A drain that is due but has not started yet (enqueued at once when the push was idle, or a
worker slow to take it) has its promise moved a few milliseconds on by the commit that
finds it so (``OVERDUE_GRACE_MS``, never more than the window), and reads no earlier than
the latest promise when it starts. So a busy writer asks Redis once per few milliseconds
while no worker has started the drain, not once per commit, and a drain starts at most
that grace later.
"""

import logging
import threading
import time
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from inventory import dispatch
from inventory.models import OutboxEntry, Sku

log = logging.getLogger(__name__)

_KICK_KEY = "onefact:push-kicked"
_STARTED_KEY = "onefact:push-started"
PUSH_TASK = "inventory.tasks.push_storefronts_task"

# On a commit, in one round trip. When a drain is enqueued and has not started: {-1, its
# due time, now}, the due time first moved on to now + the grace (ARGV[3]) once passed.
# Otherwise note one (the kick key, due when the window since the last drain's start has
# passed; it lives past that by the kick TTL, until the drain clears it) and answer {its
# wait in ms (0: idle, drain now), its due time, now}. Times in ms.
_KICK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('GET', KEYS[1])
if due then
  due = tonumber(due) or 0
  if due <= now and tonumber(ARGV[3]) > 0 then
    due = now + tonumber(ARGV[3])
    redis.call('SET', KEYS[1], due, 'PX', tonumber(ARGV[3]) + tonumber(ARGV[1]))
  end
  return {-1, due, now}
end
local window = tonumber(ARGV[2])
local started = redis.call('GET', KEYS[2])
local wait = 0
if started then wait = tonumber(started) + window - now end
if wait < 0 then wait = 0 end
if wait > window then wait = window end
redis.call('SET', KEYS[1], now + wait, 'PX', wait + tonumber(ARGV[1]))
return {wait, now + wait, now}
"""

# On a drain's start, before it reads what is pending: a commit from now on kicks again
# (its change may be later than what this drain reads), and the window starts now. Answers
# the latest due time promised to commits (0: none), which the drain waits for.
_START_SCRIPT = """
local due = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
redis.call('DEL', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], now, 'PX', ARGV[1])
return {due, now}
"""
OVERDUE_GRACE_MS = 5

_NOW_SCRIPT = """
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# This process's commits before this moment (time.monotonic()) are taken by a drain that
# is enqueued and due later: no need to ask Redis.
_covered = threading.local()


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
    """The scripts, registered once per process (sent by their SHA after the first)."""
    client = _redis(url)
    return (client.register_script(_KICK_SCRIPT), client.register_script(_START_SCRIPT),
            client.register_script(_NOW_SCRIPT))  # fmt: skip


def _window_ms() -> int:
    return max(0, round(settings.ONEFACT_PUSH_COALESCE_SECONDS * 1000))


def push_countdown() -> tuple[float | None, int]:
    """Note a drain as enqueued unless one already is, in one round trip: the seconds the
    new drain must wait (0: at once; None when an enqueued drain will take the commit),
    and the drain's due time (Redis's clock, ms), which it is handed. Remembers until when
    this process's commits are taken by a drain due later."""
    kick, _, _ = _scripts(settings.REDIS_URL)
    asked = time.monotonic()
    ttl_ms = settings.ONEFACT_PUSH_KICK_TTL * 1000
    window = _window_ms()
    wait_ms, due, now = kick(
        keys=[_KICK_KEY, _STARTED_KEY], args=[ttl_ms, window, min(window, OVERDUE_GRACE_MS)]
    )
    if due > now:  # measured from before the question: Redis answered later than that
        _covered.until = asked + (due - now) / 1000
    return (None if wait_ms < 0 else wait_ms / 1000), due


def _kick() -> None:
    """Enqueue one drain per storefront. Many commits within a moment share one task, and a
    broker that is down costs a log line, not the write: the beat sweep drains later."""
    if not settings.REDIS_URL:
        dispatch.enqueue(PUSH_TASK)  # the embedded default: runs in-process now
        return
    if time.monotonic() < getattr(_covered, "until", 0.0):
        return  # a drain due later takes this commit
    try:
        # Coalesce: a drain clears the kick key before it reads what is pending, so a
        # commit after that kicks again and nothing committed is left behind.
        countdown, due = push_countdown()
        if countdown is not None:
            dispatch.enqueue(PUSH_TASK, due, countdown=countdown or None, retry=False)
    except Exception as error:  # noqa: BLE001 - the outbox row is already committed
        log.warning("Storefront push not enqueued (%s); the sweep will push it.", error)


def push_wait_until(due: int | None) -> None:
    """A drain handed its due time (Redis's clock, ms) does not start before it: commits
    made until then were told it would take them. Normally the task's countdown has
    waited already; this covers a worker whose clock runs ahead of the sender's."""
    if due is None or not settings.REDIS_URL:
        return
    try:
        _, _, now = _scripts(settings.REDIS_URL)
        early = min(due - now(), _window_ms())
    except Exception as error:  # noqa: BLE001 - then the window passes while we ask
        log.warning("Could not read Redis's clock (%s); waiting the whole window.", error)
        early = _window_ms()
    if early > 0:
        time.sleep(early / 1000)


def push_kick_clear() -> float:
    """A drain starts: commits from now on kick the next one, which waits for the window
    since this start to pass. Answers the seconds the drain must still wait before it
    reads what is pending: until the latest due time promised to commits (0: none ahead;
    never more than the window)."""
    if not settings.REDIS_URL:
        return 0.0
    try:
        _, start, _ = _scripts(settings.REDIS_URL)
        due, now = start(keys=[_KICK_KEY, _STARTED_KEY], args=[max(1000, 10 * _window_ms())])
    except Exception as error:  # noqa: BLE001
        log.warning("Could not clear the push kick key: %s", error)
        return 0.0
    return max(0, min(int(due) - int(now), _window_ms())) / 1000


def push_kicks_forget() -> None:
    """Forget every enqueued drain, after the broker's queue was purged: the next commit
    kicks afresh instead of counting on a drain that will not come. (Another process's
    memory of a promise lasts one window at most.)"""
    _covered.until = 0.0
    if settings.REDIS_URL:
        _redis(settings.REDIS_URL).delete(_KICK_KEY, _STARTED_KEY)
