"""Draining the outbox: the storefront mirrors the shelf.

Per storefront and batch: the SKUs whose newest outbox version the storefront has not
acknowledged, coalesced (many changes of one SKU → one write of its current value), sent
in as few adapter calls as its largest batch allows, each with the value we believe it
holds (compare-and-set). Drains of one storefront are serialized, so an older value never
overwrites a newer one; a stale compare is a discrepancy, and the shelf's number wins.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Case, Count, Max, Min, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import hooks, selectors
from inventory.models import (
    CorrectionBatch,
    Discrepancy,
    Fact,
    OutboxEntry,
    ShelfEvidence,
    Sku,
    SyncLog,
    SyncState,
    System,
)
from inventory.selectors.adoption import held_batch_for, storefronts_for_push
from inventory.services.breaker import Breaker, Measure, batch_hold
from inventory.services.discrepancies import discrepancies_create
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    LevelWrite,
    Mirrors,
    StorefrontAdapter,
    StorefrontError,
    WriteResult,
    WriteStatus,
)

log = logging.getLogger(__name__)

_LOCK_BASE = 0x0F1E_0000
MAX_BATCH = 250

# Open discrepancies of these kinds are settled once the storefront holds the shelf's value.
SETTLED_BY_PUSH = [
    Discrepancy.Kind.STALE_PUSH,
    Discrepancy.Kind.NON_OWNER_WRITE,
    Discrepancy.Kind.STOREFRONT_GAP,
    Discrepancy.Kind.PUSH_FAILED,
]


@dataclass
class PushReport:
    storefront: str
    batches: int = 0
    skus: int = 0
    adapter_calls: int = 0
    applied: int = 0
    stale: int = 0
    failed: int = 0
    error: str = ""
    points: int = 0  # the storefront's rate-limit points spent (Shopify's query cost)
    lags_ms: list[int] = field(default_factory=list)

    def summary(self) -> dict:
        """What a task returns and logs: counts, and the lag as its worst value."""
        data = {k: v for k, v in self.__dict__.items() if k != "lags_ms"}
        return data | {"max_lag_ms": max(self.lags_ms, default=None)}


@dataclass
class _Row:
    sku_id: int
    code: str
    version: int
    value: int
    expected: int | None
    first_at: object
    # Known only by a first receipt, never told: sent comparing with 0, which checks at the
    # storefront the receipt's assumption that it holds none.
    assumed: bool = False
    # The storefront was never told this SKU's value: its first write carries changes made
    # before the storefront was connected, so its wait is not a sync lag.
    first: bool = False


def _lock(storefront: System) -> None:
    """Serialize drains of one storefront (PostgreSQL; SQLite has one writer anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_BASE + storefront.pk])


def _pending(storefront: System, limit: int, upto: int | None) -> list[dict]:
    acknowledged = SyncState.objects.filter(storefront=storefront, sku=OuterRef("sku")).values(
        "pushed_version"
    )
    entries = OutboxEntry.objects.filter(id__gt=Coalesce(Subquery(acknowledged), Value(0)))
    if upto is not None:
        entries = entries.filter(id__lte=upto)
    return list(
        entries.values("sku")
        .annotate(version=Max("id"), first_at=Min("created_at"), oldest=Min("id"))
        .order_by("oldest")[:limit]
    )


def _rows(storefront: System, adapter: StorefrontAdapter, pending: list[dict]) -> list[_Row]:
    """The pending SKUs' current values, each with what the storefront was last told, in
    one query. A SKU the shelf has not counted yet is left out: its number is not believed,
    so it is never pushed (``_acknowledge_unknown`` lets its versions go)."""
    evidence = ShelfEvidence.objects.filter(sku=OuterRef("pk")).values("kind")
    told = SyncState.objects.filter(storefront=storefront, sku=OuterRef("pk")).values(
        "pushed_value"
    )
    stock = {
        s["pk"]: s
        for s in selectors.skus_with_stock()
        .filter(pk__in=[p["sku"] for p in pending])
        .annotate(evidence=Subquery(evidence), told=Subquery(told))
        .filter(evidence__isnull=False)
        .values("pk", "code", "on_hand", "committed", "evidence", "told")
    }
    mirrors_available = adapter.capabilities.mirrors == Mirrors.AVAILABLE
    rows = []
    for p in pending:
        if (s := stock.get(p["sku"])) is None:
            continue
        value = s["on_hand"] - s["committed"] if mirrors_available else s["on_hand"]
        expected = s["told"]
        assumed = expected is None and s["evidence"] == ShelfEvidence.Kind.FIRST_RECEIPT
        rows.append(
            _Row(
                sku_id=p["sku"],
                code=s["code"],
                version=p["version"],
                value=max(value, 0),
                expected=0 if assumed else expected,
                first_at=p["first_at"],
                assumed=assumed,
                first=expected is None,
            )
        )
    return rows


def _call_size(adapter: StorefrontAdapter) -> int:
    """SKUs one call to the storefront carries: its largest batch, at most ours."""
    return max(1, min(adapter.capabilities.max_batch, MAX_BATCH))


def _send(
    adapter: StorefrontAdapter, rows: list[_Row], report: PushReport, reason: str
) -> dict[str, WriteResult]:
    results: dict[str, WriteResult] = {}
    step = _call_size(adapter)
    for i in range(0, len(rows), step):
        chunk = rows[i : i + step]
        # One reference per call: storefronts (Shopify) take it once per mutation.
        ref = f"onefact://outbox/v{min(r.version for r in chunk)}-v{max(r.version for r in chunk)}"
        writes = [
            LevelWrite(
                sku=r.code,
                quantity=r.value,
                expected=r.expected,
                idempotency_key=f"onefact-{r.sku_id}-v{r.version}-{r.expected}",
                reason=reason,
                ledger_ref=ref,
            )
            for r in chunk
        ]
        report.adapter_calls += 1
        for result in adapter.set_levels(writes):
            results[result.sku] = result
    return results


def _record_applied(
    storefront: System, rows: list[_Row], report: PushReport, kind: str = SyncLog.Kind.LIVE
) -> None:
    """``kind``: ``batch`` for a released batch; a live drain's rows are ``first`` for a SKU
    the storefront is told for the first time (``SyncLog.Kind``)."""
    if not rows:
        return
    now = timezone.now()
    lags = {r.sku_id: max(0, int((now - r.first_at).total_seconds() * 1000)) for r in rows}
    SyncState.objects.bulk_create(
        [
            SyncState(
                storefront=storefront,
                sku_id=r.sku_id,
                pushed_value=r.value,
                pushed_version=r.version,
                pushed_at=now,
                lag_ms=lags[r.sku_id],
                last_error="",
                last_error_at=None,
            )
            for r in rows
        ],
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=[
            "pushed_value",
            "pushed_version",
            "pushed_at",
            "lag_ms",
            "last_error",
            "last_error_at",
        ],
    )
    SyncLog.objects.bulk_create(
        [
            SyncLog(
                storefront=storefront,
                sku_id=r.sku_id,
                value=r.value,
                version=r.version,
                result="applied",
                lag_ms=lags[r.sku_id],
                kind=SyncLog.Kind.FIRST if kind == SyncLog.Kind.LIVE and r.first else kind,
                pushed_at=now,
            )
            for r in rows
        ]
    )
    settling = dict(  # discrepancy → its SKU; usually none: the storefront only caught up
        Discrepancy.objects.open()
        .filter(consumer=storefront, sku_id__in=[r.sku_id for r in rows], kind__in=SETTLED_BY_PUSH)
        .values_list("pk", "sku_id")
    )
    if settling:
        settled = Discrepancy.objects.filter(pk__in=list(settling))
        value = {r.sku_id: r.value for r in rows}
        skus = set(settling.values())
        settled.filter(corrected_at__isnull=True).update(
            correction=Case(*[When(sku_id=k, then=Value(value[k])) for k in skus]),
            corrected_at=now,
        )
        settled.filter(count_requested_at__isnull=True).update(
            status=Discrepancy.Status.RESOLVED,
            resolution=Discrepancy.Resolution.CORRECTION,
            resolved_at=now,
        )
    _prune_acknowledged(rows)
    report.applied += len(rows)
    report.lags_ms += list(lags.values())


def _prune_acknowledged(rows: list[_Row]) -> None:
    """Delete these SKUs' outbox rows that every pushing storefront has acknowledged, so
    the outbox stays as small as what is in flight (the sweep prunes the rest). One
    statement: a row goes when its id is at most the lowest version every storefront has."""
    storefronts = [s.pk for s in storefronts_for_push()]
    acknowledged = (
        SyncState.objects.filter(storefront__in=storefronts, sku=OuterRef("sku"))
        .values("sku")
        .annotate(every=Count("storefront"), version=Min("pushed_version"))
        .filter(every=len(storefronts))
        .values("version")
    )
    OutboxEntry.objects.filter(sku__in=[r.sku_id for r in rows], id__lte=Subquery(acknowledged)
                               ).delete()  # fmt: skip


def _record_failed(
    storefront: System, owner: System | None, failed: list[tuple[_Row, WriteResult]]
) -> None:
    """NOT_FOUND / REJECTED: surfaced once, not retried until the SKU changes again."""
    if not failed:
        return
    now = timezone.now()
    SyncState.objects.bulk_create(
        [
            SyncState(
                storefront=storefront,
                sku_id=r.sku_id,
                pushed_value=r.expected,
                pushed_version=r.version,
                last_error=f"{res.status}: {res.message}"[:500],
                last_error_at=now,
            )
            for r, res in failed
        ],
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=["pushed_version", "last_error", "last_error_at"],
    )
    already = set(
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.PUSH_FAILED, consumer=storefront)
        .filter(sku_id__in=[r.sku_id for r, _ in failed])
        .values_list("sku_id", flat=True)
    )
    discrepancies_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.PUSH_FAILED,
                fact=Fact.ON_HAND,
                sku_id=r.sku_id,
                owner=owner,
                consumer=storefront,
                owner_value=r.value,
                winner=owner,
                detail=f"{storefront.name} answered {res.status}: {res.message}"[:500],
            )
            for r, res in failed
            if r.sku_id not in already
        ]
    )


def _first_receipt_withdraw(
    storefront: System, owner: System | None, wrong: list[tuple[_Row, WriteResult]]
) -> None:
    """The storefront holds units of a SKU whose first receipt was taken as the whole truth
    (no storefront held any): the assumption was wrong. Nothing is sent; the SKU is not known
    any more, listed as not yet counted with the storefront's number, and a count asked for.
    """
    ShelfEvidence.objects.filter(
        sku_id__in=[r.sku_id for r, _ in wrong], kind=ShelfEvidence.Kind.FIRST_RECEIPT
    ).delete()
    SyncState.objects.bulk_create(
        [SyncState(storefront=storefront, sku_id=r.sku_id, pushed_version=r.version,
                   pushed_value=res.actual) for r, res in wrong],
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=["pushed_version", "pushed_value"],
    )  # fmt: skip
    found = discrepancies_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.NOT_YET_COUNTED,
                fact=Fact.ON_HAND,
                sku_id=r.sku_id,
                owner=owner,
                consumer=storefront,
                owner_value=r.value,
                consumer_value=res.actual,
                count_requested_at=timezone.now(),
                detail=(
                    f"{storefront.name} says {res.actual}, the shelf has not counted {r.code} "
                    f"yet: its first receipt ({r.value}) was taken for the whole stock, but "
                    "the storefront holds some; nothing was sent, an opening count is asked for."
                )[:500],
            )
            for r, res in wrong
        ]
    )
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=[d.sku_id for d in found])}
    hooks.request_counts(
        [hooks.CountRequest(sku=skus[d.sku_id], bins=[], reason=d.detail, discrepancy=d,
                            trigger="reconciliation") for d in found]
    )  # fmt: skip


def _record_stale(
    storefront: System, owner: System | None, stale: list[tuple[_Row, WriteResult]]
) -> None:
    discrepancies_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.STALE_PUSH,
                fact=Fact.ON_HAND,
                sku_id=r.sku_id,
                owner=owner,
                consumer=storefront,
                owner_value=r.value,
                consumer_value=res.actual,
                winner=owner,
                detail=(
                    f"{storefront.name} held {res.actual} where it was last told "
                    f"{r.expected}: changed outside the shelf; the shelf's {r.value} wins."
                ),
            )
            for r, res in stale
        ]
    )


def _record_error(storefront: System, rows: list[_Row], error: StorefrontError) -> None:
    now = timezone.now()
    SyncState.objects.bulk_create(
        [
            SyncState(
                storefront=storefront,
                sku_id=r.sku_id,
                last_error=f"{type(error).__name__}: {error}"[:500],
                last_error_at=now,
            )
            for r in rows
        ],
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=["last_error", "last_error_at"],
    )


def _acknowledge_unknown(storefront: System, pending: list[dict], rows: list[_Row]) -> None:
    """Versions of SKUs not yet counted are passed over, not sent: the storefront keeps its
    own number until the shelf has counted (and the count's outbox row pushes it then)."""
    sent = {r.sku_id for r in rows}
    unknown = [p for p in pending if p["sku"] not in sent]
    if not unknown:
        return
    SyncState.objects.bulk_create(
        [SyncState(storefront=storefront, sku_id=p["sku"], pushed_version=p["version"])
         for p in unknown],
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=["pushed_version"],
    )  # fmt: skip


def _deliver(
    storefront: System,
    adapter: StorefrontAdapter,
    owner: System | None,
    rows: list[_Row],
    report: PushReport,
    reason: str = "movement",
    kind: str = SyncLog.Kind.LIVE,
) -> StorefrontError | None:
    """Send the rows (compare-and-set) and record what the storefront answered; a stale
    compare is recorded and the shelf's number sent again. A storefront error is returned
    for the caller to record on the SKUs' sync state (``_record_error``) once its
    transaction has ended, and to raise."""
    try:
        results = _send(adapter, rows, report, reason=reason)
        applied, stale, failed = _sort(rows, results)
        wrong = [(r, res) for r, res in stale if r.assumed]
        if wrong:
            _first_receipt_withdraw(storefront, owner, wrong)
            stale = [(r, res) for r, res in stale if not r.assumed]
        if stale:
            # The shelf wins: record what the storefront held, then set it again,
            # comparing with what it actually holds now.
            _record_stale(storefront, owner, stale)
            report.stale += len(stale)
            retry = [
                _Row(r.sku_id, r.code, r.version, r.value, res.actual, r.first_at, first=r.first)
                for r, res in stale
            ]
            again, still_stale, failed_again = _sort(
                retry, _send(adapter, retry, report, reason="correction")
            )
            applied += again
            failed += failed_again  # a storefront changing again is left to the next drain
    except StorefrontError as error:
        return error
    _record_applied(storefront, applied, report, kind)
    _record_failed(storefront, owner, failed)
    report.failed += len(failed)
    report.skus += len(rows)
    report.batches += 1
    return None


def _held(storefront: System, rows: list[_Row]) -> bool:
    """The circuit breaker: a batch of several SKUs that would zero many of them or cut the
    storefront's units too far is held for a manager, not sent. A single SKU's change (one
    movement) is never held."""
    if len(rows) < 2:
        return False
    writes = [(r.sku_id, r.code, r.value, r.expected) for r in rows]
    measure = Measure.of(writes)
    if measure.zeroed == 0 and measure.units_down <= measure.units_up:
        return False  # no SKU zeroed, no units lost: nothing the breaker holds (no query)
    trip = Breaker.for_storefront(storefront).check_measure(measure)
    if trip is None:
        return False
    batch_hold(storefront=storefront, origin=CorrectionBatch.Origin.PUSH, writes=writes,
               trip=trip)  # fmt: skip
    return True


@dataclass
class _Bound:
    """Where a drain stops. A kicked drain (``committed_only``) stops at the newest change
    committed when it first holds the storefront's lock: read then, not when the task
    started, so a drain that waited for the one before it takes everything that waited
    with it. A later change kicked its own drain."""

    committed_only: bool
    upto: int | None = None

    def take(self) -> int | None:
        if self.committed_only and self.upto is None:
            self.upto = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
            self.upto = self.upto or 0
        return self.upto


def _push_batch(
    storefront: System,
    adapter: StorefrontAdapter,
    report: PushReport,
    bound: _Bound,
    owner: System | None,
) -> tuple[int, bool]:
    """One locked batch of the changes within ``bound``: how many SKUs it covered (0:
    nothing pending, or the batch was held by the circuit breaker), and whether more may be
    pending within the bound (a full batch)."""
    limit = _call_size(adapter) * 4  # one locked batch: a few of the storefront's largest calls
    with transaction.atomic():
        _lock(storefront)
        if held_batch_for(storefront=storefront) is not None:
            report.error = "paused: a batch waits for a manager"
            return 0, False
        pending = _pending(storefront, limit, bound.take())
        if not pending:
            return 0, False
        more = len(pending) == limit or bound.upto is None
        rows = _rows(storefront, adapter, pending)
        _acknowledge_unknown(storefront, pending, rows)
        if not rows:
            return len(pending), more
        if _held(storefront, rows):
            report.error = "paused: the circuit breaker held this batch"
            return 0, False
        failure = _deliver(storefront, adapter, owner, rows, report)
    if failure is not None:
        _record_error(storefront, rows, failure)
        raise failure
    return len(pending), more


def _sort(rows: list[_Row], results: dict[str, WriteResult]):
    applied, stale, failed = [], [], []
    for r in rows:
        res = results.get(r.code)
        if res is None:
            failed.append((r, WriteResult(sku=r.code, status=WriteStatus.REJECTED,
                                          message="no result returned")))  # fmt: skip
        elif res.status == WriteStatus.APPLIED or (
            res.status == WriteStatus.STALE and res.actual == r.value
        ):
            applied.append(r)
        elif res.status == WriteStatus.STALE:
            stale.append((r, res))
        else:
            failed.append((r, res))
    return applied, stale, failed


def storefront_push(
    *, storefront: System, max_batches: int | None = None, committed_only: bool = False
) -> PushReport:
    """Drain the outbox for one storefront until nothing is pending (or max_batches).

    With ``committed_only`` the drain stops at the newest change committed when it first
    holds the storefront's lock: a change committed later kicked its own drain (the kick
    key is cleared before this one starts), so a busy shelf is pushed in coalesced windows,
    not in a call per change. Such a drain ends after a batch that was not full, without
    asking again for what is pending.

    A retryable adapter error (timeout, 5xx, throttling) is recorded on the SKUs' sync state
    and raised for the task to retry; nothing acknowledged is lost.
    """
    from django.conf import settings

    report = PushReport(storefront=storefront.name)
    if storefront.sync_mode != System.SyncMode.LIVE:
        report.error = "observe mode: nothing is written back"
        return report
    adapter = adapter_for(storefront)
    bound = _Bound(committed_only=committed_only)
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    for _ in range(max_batches or settings.ONEFACT_PUSH_MAX_BATCHES):
        try:
            covered, more = _push_batch(storefront, adapter, report, bound, owner)
            if not covered or not more:
                break
        except StorefrontError as error:
            report.error = f"{type(error).__name__}: {error}"
            if error.retryable:
                raise
            log.error("Push to %s failed and will not be retried: %s", storefront, error)
            break
    report.points = round(getattr(adapter, "points_used", 0))
    if report.adapter_calls:
        log.info("Push to %s: %d SKUs in %d calls, %d points.", storefront, report.skus,
                 report.adapter_calls, report.points)  # fmt: skip
    return report


storefront_push.alters_data = True


# With no live storefront, outbox rows are kept this long: an observing reconciliation
# reads them to tell a change made while a page was read from a disagreement.
UNPUSHED_KEEP = timedelta(hours=1)


def outbox_prune() -> int:
    """Delete outbox rows that every pushing storefront has acknowledged (with none live,
    rows older than ``UNPUSHED_KEEP``: nobody will push them)."""
    storefronts = storefronts_for_push()
    if not storefronts:
        old = OutboxEntry.objects.filter(created_at__lt=timezone.now() - UNPUSHED_KEEP)
        return old.delete()[0]
    qs = OutboxEntry.objects.all()
    for storefront in storefronts:
        qs = qs.filter(
            id__lte=Coalesce(
                Subquery(
                    SyncState.objects.filter(storefront=storefront, sku=OuterRef("sku")).values(
                        "pushed_version"
                    )
                ),
                Value(0),
            )
        )
    deleted, _ = qs.delete()
    return deleted
