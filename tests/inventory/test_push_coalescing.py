"""Commits share storefront pushes on a leading and a trailing edge: an idle commit is
drained at once, commits while a drain waits share it, and the next drain waits for the
window since the previous one started. Asserted on what is enqueued (its countdown), never
on wall time."""

import pytest
import redis

from inventory import dispatch
from inventory.models import StockMovement, SyncLog
from inventory.services import on_hand_adjust, outbox, push, runs, storefront_push
from inventory.storefront.demo.models import DemoLevel
from tests.factories import SkuFactory

WINDOW = 30.0  # seconds: far longer than any test step, so no step races the window


@pytest.fixture
def enqueued(redis_url, settings, monkeypatch):
    """The drains the commits enqueue, as (task, options); the kick keys start cleared."""
    settings.REDIS_URL = redis_url
    settings.ONEFACT_PUSH_COALESCE_SECONDS = WINDOW
    redis.Redis.from_url(redis_url).delete(outbox._KICK_KEY, outbox._STARTED_KEY)
    monkeypatch.setattr(outbox._covered, "until", 0.0, raising=False)  # this thread's memo
    sent = []
    monkeypatch.setattr(dispatch, "enqueue", lambda name, *args, **options: sent.append(
        (name, options)))  # fmt: skip
    yield sent
    redis.Redis.from_url(redis_url).delete(outbox._KICK_KEY, outbox._STARTED_KEY)


def _move(bin, sku, shelf, event, delta=1):
    return on_hand_adjust(bin=bin, sku=sku, delta=delta, kind=StockMovement.Kind.RECEIVE,
                          source_system=shelf, source_event_id=event)  # fmt: skip


def _committed_move(capture, bin, sku, shelf, event):
    """A movement whose transaction commits (its after-commit kick runs)."""
    with capture(execute=True):
        return _move(bin, sku, shelf, event)


def test_an_idle_commit_is_drained_at_once_not_after_a_window(enqueued):
    outbox._kick()
    assert enqueued == [(outbox.PUSH_TASK, {"countdown": None, "retry": False})]


def test_commits_while_a_drain_waits_share_it(enqueued, bin, sku, shelf,
                                              django_capture_on_commit_callbacks):  # fmt: skip
    for n in range(40):
        _committed_move(django_capture_on_commit_callbacks, bin, sku, shelf, f"burst-{n}")
    assert len(enqueued) == 1


def test_a_commit_after_a_drain_started_waits_for_the_window_since_that_start(enqueued):
    outbox.push_kick_clear()  # a drain starts: it reads what is pending after this
    outbox._kick()
    outbox._kick()
    ((_, options),) = enqueued
    assert WINDOW - 1 < options["countdown"] <= WINDOW


def test_within_the_window_a_process_asks_redis_once_not_once_per_commit(enqueued, monkeypatch):
    """The drain due at the window's end takes every commit made before then: the process
    remembers it, and its later commits cost no round trip."""
    asked = []
    countdown = outbox.push_countdown
    monkeypatch.setattr(outbox, "push_countdown", lambda: asked.append(1) or countdown())
    outbox.push_kick_clear()
    for _ in range(20):
        outbox._kick()
    assert (len(asked), len(enqueued)) == (1, 1)


def test_a_drain_not_started_when_due_is_promised_a_grace_and_commits_stop_asking(
    enqueued, monkeypatch
):
    """A drain enqueued at once is due now. The next commit that finds it not started
    moves its promise on by the grace (never more than the window) and remembers it: later
    commits within the grace ask nothing. The drain, when it starts, waits for that
    promise before it reads, so those commits are in what it reads."""
    monkeypatch.setattr(outbox, "OVERDUE_GRACE_MS", 20_000)  # far longer than the test
    asked = []
    countdown = outbox.push_countdown
    monkeypatch.setattr(outbox, "push_countdown", lambda: asked.append(1) or countdown())
    for _ in range(5):
        outbox._kick()
    assert (len(asked), len(enqueued)) == (2, 1)
    wait = outbox.push_kick_clear()  # the drain starts
    assert 19 < wait <= 20
    assert outbox.push_kick_clear() == 0.0  # nothing promised since


def test_a_drain_waits_for_the_promise_before_it_reads(enqueued, monkeypatch, db):
    monkeypatch.setattr(outbox, "OVERDUE_GRACE_MS", 20_000)
    outbox._kick()
    outbox._kick()  # finds the drain due and not started: a promise 20 s on
    slept = []
    monkeypatch.setattr(runs.time, "sleep", slept.append)
    monkeypatch.setattr(runs, "storefront_push", lambda **kw: push.PushReport(storefront="x"))
    runs.storefronts_push()
    assert len(slept) == 1 and 19 < slept[0] <= 20


def test_the_grace_is_never_longer_than_the_window(enqueued, settings, monkeypatch):
    settings.ONEFACT_PUSH_COALESCE_SECONDS = 0  # coalescing off: no promise at all
    asked = []
    countdown = outbox.push_countdown
    monkeypatch.setattr(outbox, "push_countdown", lambda: asked.append(1) or countdown())
    for _ in range(3):
        outbox._kick()
    assert len(asked) == 3 and outbox.push_kick_clear() == 0.0


def test_a_drain_never_starts_before_it_is_due(enqueued, monkeypatch):
    """A worker whose clock runs ahead of the sender's waits for the due time itself
    (Redis's clock), so a commit promised to it is never left out."""
    slept = []
    monkeypatch.setattr(outbox.time, "sleep", slept.append)
    outbox.push_kick_clear()
    outbox._kick()
    ((name, options),) = enqueued
    seconds, due = outbox.push_countdown()  # the kick key's due time, as a commit sees it
    assert seconds is None
    outbox.push_wait_until(due)
    assert len(slept) == 1 and WINDOW - 1 < slept[0] <= WINDOW
    outbox.push_wait_until(due - int(WINDOW * 1000) - 1000)  # already due: no wait
    assert len(slept) == 1


def test_a_commit_once_the_window_has_passed_is_drained_at_once(enqueued, redis_url):
    client = redis.Redis.from_url(redis_url)
    seconds, micros = client.time()
    long_ago = int(seconds * 1000 + micros // 1000 - (WINDOW + 1) * 1000)
    client.set(outbox._STARTED_KEY, long_ago)  # the last drain started a window ago and more
    outbox._kick()
    assert enqueued == [(outbox.PUSH_TASK, {"countdown": None, "retry": False})]


def test_a_burst_on_one_sku_is_one_adapter_call_and_the_storefront_ends_at_the_shelf(
    enqueued, storefront, bin, shelf, django_capture_on_commit_callbacks
):
    sku = SkuFactory(code="BURST-1")
    DemoLevel.objects.create(sku_code="BURST-1", quantity=0)
    for n in range(25):
        _committed_move(django_capture_on_commit_callbacks, bin, sku, shelf, f"burst-{n}")
    assert len(enqueued) == 1
    (report,) = [r for r in runs.storefronts_push() if r["storefront"] == storefront.name]
    assert (report["adapter_calls"], report["applied"]) == (1, 1)
    assert DemoLevel.objects.get(sku_code="BURST-1").quantity == 25
    assert list(SyncLog.objects.filter(sku=sku).values_list("value", flat=True)) == [25]


def test_a_drain_that_waited_for_the_lock_takes_what_was_committed_while_it_waited(
    storefront, bin, shelf, monkeypatch
):
    """A kicked drain's bound is read once it holds the storefront's lock: a change that
    committed while it waited for the drain before it is pushed by it, not left for a
    third drain."""
    first, second = SkuFactory(code="WAIT-1"), SkuFactory(code="WAIT-2")
    DemoLevel.objects.bulk_create([DemoLevel(sku_code=c, quantity=0) for c in ["WAIT-1", "WAIT-2"]])
    _move(bin, first, shelf, "before", delta=3)
    lock, waited = push._lock, []

    def lock_after_a_commit_lands(system):
        if not waited:  # the drain before this one still holds the lock; a commit lands
            waited.append(_move(bin, second, shelf, "while-waiting", delta=4))
        return lock(system)

    monkeypatch.setattr(push, "_lock", lock_after_a_commit_lands)
    report = storefront_push(storefront=storefront, committed_only=True)
    assert (report.skus, report.adapter_calls) == (2, 1)
    levels = dict(DemoLevel.objects.values_list("sku_code", "quantity"))
    assert (levels["WAIT-1"], levels["WAIT-2"]) == (3, 4)


def test_a_kicked_drain_asks_what_is_pending_once_when_its_batch_was_not_full(
    storefront, bin, shelf, monkeypatch
):
    sku = SkuFactory(code="ONCE-1")
    DemoLevel.objects.create(sku_code="ONCE-1", quantity=0)
    _move(bin, sku, shelf, "r-1", delta=2)
    pending, asked = push._pending, []
    monkeypatch.setattr(push, "_pending", lambda *a: asked.append(a) or pending(*a))
    assert storefront_push(storefront=storefront, committed_only=True).applied == 1
    assert len(asked) == 1
    assert storefront_push(storefront=storefront).skus == 0  # nothing was left behind


def test_the_sweep_still_drains_until_nothing_is_pending(storefront, bin, shelf, monkeypatch):
    """Without a bound (the beat sweep), a drain asks again after each batch."""
    sku = SkuFactory(code="SWEEP-1")
    DemoLevel.objects.create(sku_code="SWEEP-1", quantity=0)
    _move(bin, sku, shelf, "r-1", delta=2)
    pending, asked = push._pending, []
    monkeypatch.setattr(push, "_pending", lambda *a: asked.append(a) or pending(*a))
    assert storefront_push(storefront=storefront).applied == 1
    assert len(asked) == 2 and DemoLevel.objects.get(sku_code="SWEEP-1").quantity == 2
