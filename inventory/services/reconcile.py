"""Reconciliation: read the storefront's numbers, compare with the shelf, surface every gap.

The storefront's pages are streamed into a temporary table of this connection (COPY on
PostgreSQL), each row with the mark taken before its page was read (the newest outbox
version and the time); one set-based query then compares the whole table with the shelf
and keeps only what needs a look: disagreements, SKUs we do not know, and SKUs whose number
is in flight. Memory stays a few pages (and one chunk of gaps), whatever the catalog's
size.

Every disagreement becomes a discrepancy (both values, the owner, the winner: always the
owner), recorded and committed a chunk at a time (one INSERT … SELECT from the compare's
table) before batched calls correct the storefront. A gap past the tolerance, or a SKU
that disagrees again within the repeat window, asks for a count of the bins holding it,
all of the chunk's requests in one announcement.

In flight is lag, not a disagreement, and is skipped: a push not yet acknowledged (an
outbox version newer than the storefront's ``SyncState.pushed_version``), a shelf change
after the SKU's page was read (an outbox version, or a pushed version, newer than the
newest one when it was read), or a push acknowledged after the page was read
(``SyncState.pushed_at`` later).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from inventory import hooks, selectors
from inventory.models import (
    CorrectionBatch,
    Discrepancy,
    Fact,
    OnHand,
    ShelfEvidence,
    Sku,
    SyncState,
    System,
)
from inventory.selectors.adoption import held_batch_for
from inventory.services.breaker import Breaker, Measure, batch_close, batch_hold
from inventory.services.discrepancies import discrepancies_create
from inventory.services.reconcile_table import (
    CHUNK,
    DIFF,
    LEVELS,
    ReadMark,
    _diff,
    _gap_chunks,
    _levels_table,
    _levels_total,
    _Loader,
    _temp,
    read_mark,
)
from inventory.storefront import adapter_for, capabilities_of
from inventory.storefront.base import (
    Level,
    LevelWrite,
    Mirrors,
    StorefrontAdapter,
    WriteStatus,
)

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    storefront: str
    pages: int = 0
    skus_compared: int = 0
    skipped_in_flight: int = 0
    unknown_skus: int = 0
    gaps: int = 0
    discrepancies_written: int = 0
    corrected: int = 0
    settled: int = 0
    counts_requested: int = 0
    orders_at_risk: int = 0
    not_yet_counted: int = 0
    held: int = 0
    points: int = 0  # the storefront's rate-limit points spent (Shopify's query cost)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def add(self, other: "ReconcileReport") -> None:
        for key, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, key, getattr(self, key) + value)


@dataclass(frozen=True)
class _Run:
    """How this run treats what it finds: write corrections (a live storefront), hold them
    (the breaker tripped, or sync is paused), collect them (a go-live preview), or only
    record them (an observed storefront)."""

    live: bool
    preview: bool = False


def _settle(
    *,
    storefront: System,
    adapter: StorefrontAdapter,
    owner: System | None,
    rows: int,
    few: bool,
    report: ReconcileReport,
    preview: bool = False,
) -> None:
    """Compare the loaded levels with the shelf; record every gap, then correct, hold or
    collect the corrections as the storefront's mode and the circuit breaker say."""
    run = _Run(live=storefront.sync_mode == System.SyncMode.LIVE, preview=preview)
    mirrors_available = adapter.capabilities.mirrors == Mirrors.AVAILABLE
    states = _diff(storefront, mirrors_available, few=few, live=run.live) if rows else {}
    report.unknown_skus += states.get("unknown", 0)
    report.skipped_in_flight += states.get("in_flight", 0)
    report.skus_compared += rows - states.get("unknown", 0) - states.get("in_flight", 0)
    if rows:
        _settle_agreeing(storefront, report)
    if states.get("uncounted"):
        _record_uncounted(storefront=storefront, owner=owner, live=run.live, report=report)
    hold = False
    if states.get("gap") and run.live and not run.preview:
        hold = _breaker_holds(storefront, report)
    collected: list[list] = []
    for gaps in _gap_chunks() if states.get("gap") else ():
        report.gaps += len(gaps)
        # Recorded and committed before the storefront is touched, so a worker killed
        # mid-run never leaves a correction without its record; corrected after.
        _record_gaps(storefront=storefront, owner=owner, gaps=gaps, report=report,
                     observing=not run.live)  # fmt: skip
        writes = [(row["pk"], row["code"], ours, theirs) for row, ours, theirs in gaps]
        if run.preview:
            collected += [list(w) for w in writes]
        elif hold:
            batch_hold(storefront=storefront, origin=CorrectionBatch.Origin.RECONCILE,
                       writes=writes, trip=None)  # fmt: skip
            report.held += len(writes)
        elif run.live:
            _correct(storefront, adapter, gaps, report)
    if run.preview:
        _preview_save(storefront=storefront, writes=collected)


def _gaps_measure() -> Measure:
    """What correcting every gap found would do, summed in the compare's table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(CASE WHEN ours > theirs THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ours < theirs THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ours = 0 AND theirs > 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ours > theirs THEN ours - theirs ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ours < theirs THEN theirs - ours ELSE 0 END), 0) "
            f"FROM {_temp(DIFF)} WHERE state = 'gap'"
        )
        return Measure(*(int(v) for v in cursor.fetchone()))


def _breaker_holds(storefront: System, report: ReconcileReport) -> bool:
    """Whether this run's corrections are held: sync is paused (a batch already waits), or
    they trip the breaker now, against the units the storefront was just read holding. A
    trip opens the held batch with its reason; the chunks then join it."""
    if held_batch_for(storefront=storefront) is not None:
        return True
    trip = Breaker.for_storefront(storefront).check_measure(_gaps_measure(), _levels_total())
    if trip is None:
        return False
    batch_hold(storefront=storefront, origin=CorrectionBatch.Origin.RECONCILE, writes=[],
               trip=trip)  # fmt: skip
    return True


def _preview_figures() -> dict:
    """The storefront's side of readiness, from what was just read: SKUs and units, and how
    many of them the shelf knows."""
    sku, evidence = (connection.ops.quote_name(m._meta.db_table) for m in (Sku, ShelfEvidence))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(f.quantity), 0), "
            "COALESCE(SUM(CASE WHEN ev.sku_id IS NOT NULL THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ev.sku_id IS NOT NULL THEN f.quantity ELSE 0 END), 0) "
            f"FROM {_temp(LEVELS)} f LEFT JOIN {sku} s ON s.code = f.code "
            f"LEFT JOIN {evidence} ev ON ev.sku_id = s.id"
        )
        skus, units, known, known_units = (int(v) for v in cursor.fetchone())
    return {
        "storefront_skus": skus,
        "storefront_units": units,
        "storefront_skus_known": known,
        "storefront_units_known": known_units,
    }


@transaction.atomic
def _preview_save(*, storefront: System, writes: list[list]) -> CorrectionBatch:
    """The go-live preview: exactly the corrections going live would send now. A newer
    preview supersedes the one before."""
    for old in CorrectionBatch.objects.select_for_update().filter(
        storefront=storefront, status=CorrectionBatch.Status.PREVIEW
    ):
        batch_close(batch=old, status=CorrectionBatch.Status.SUPERSEDED,
                    note="A newer preview replaced it.", actor=None)  # fmt: skip
    figures = _preview_figures()
    return CorrectionBatch.objects.create(
        storefront=storefront,
        origin=CorrectionBatch.Origin.GO_LIVE,
        status=CorrectionBatch.Status.PREVIEW,
        writes=writes,
        storefront_skus=figures["storefront_skus"],
        storefront_units=figures["storefront_units"],
        figures=figures,
        **Measure.of(writes).as_fields(),
    )


@transaction.atomic
def _record_uncounted(
    *, storefront: System, owner: System | None, live: bool, report: ReconcileReport
) -> None:
    """A SKU the shelf has not counted yet, where the storefront says otherwise: listed as
    not yet counted with the storefront's number, never corrected. An open row is kept up to
    date rather than written again; on a live storefront a new one asks for an opening
    count (an observed one is counted by the opening stock-take)."""
    for chunk in _gap_chunks("uncounted"):
        by_sku = {row["pk"]: (row["code"], ours, theirs) for row, ours, theirs in chunk}
        open_rows = Discrepancy.objects.open().filter(
            kind=Discrepancy.Kind.NOT_YET_COUNTED, consumer=storefront, sku_id__in=list(by_sku)
        )
        existing = {d.sku_id: d for d in open_rows.only("pk", "sku_id", "owner_value",
                                                          "consumer_value")}  # fmt: skip
        changed = []
        for sku_id, d in existing.items():
            code, ours, theirs = by_sku[sku_id]
            if (d.owner_value, d.consumer_value) != (ours, theirs):
                d.owner_value, d.consumer_value = ours, theirs
                d.detail = _uncounted_detail(storefront, code, theirs, ours, live)
                changed.append(d)
        Discrepancy.objects.bulk_update(changed, ["owner_value", "consumer_value", "detail"])
        new = discrepancies_create(
            [
                Discrepancy(
                    kind=Discrepancy.Kind.NOT_YET_COUNTED,
                    fact=Fact.ON_HAND,
                    sku_id=sku_id,
                    owner=owner,
                    consumer=storefront,
                    owner_value=ours,
                    consumer_value=theirs,
                    winner=None,
                    detail=_uncounted_detail(storefront, code, theirs, ours, live),
                    count_requested_at=timezone.now() if live else None,
                )
                for sku_id, (code, ours, theirs) in by_sku.items()
                if sku_id not in existing
            ]
        )
        report.not_yet_counted += len(chunk)
        if live and new:
            _request_counts(new, report)


def _uncounted_detail(storefront: System, code: str, theirs: int, ours: int, live: bool) -> str:
    shelf = f" (the shelf's record holds {ours}, not counted)" if ours else ""
    then = (
        "an opening count is asked for; nothing is corrected until it is counted."
        if live
        else "nothing is corrected until it is counted."
    )
    return (
        f"{storefront.name} says {theirs}, the shelf has not counted {code} yet{shelf}; {then}"
    )[:500]


def _reconcile_page(
    *,
    storefront: System,
    adapter: StorefrontAdapter,
    owner: System | None,
    levels: list[Level],
    report: ReconcileReport,
    mark: ReadMark | None = None,
) -> None:
    """Reconcile levels already read (one page); ``mark`` is when they were read (now, when
    not given)."""
    with _levels_table():
        loader = _Loader()
        loader.before_read(mark or read_mark())
        loader.add(levels)
        loader.flush()
        report.pages += 1
        _settle(storefront=storefront, adapter=adapter, owner=owner, rows=loader.rows,
                few=True, report=report)  # fmt: skip


@transaction.atomic
def _record_gaps(
    *, storefront: System, owner: System | None, gaps, report, observing: bool = False
) -> None:
    # A gap recorded by an earlier run that never got its correction (a killed worker, a
    # stale write) is the same disagreement: it is not recorded twice.
    # A SKU that disagreed within the repeat window asks for a count. One query for both.
    now = timezone.now()
    window = now - timedelta(hours=settings.ONEFACT_RECONCILE_REPEAT_HOURS)
    earlier = Discrepancy.objects.filter(
        Q(status=Discrepancy.Status.OPEN, corrected_at__isnull=True) | Q(created_at__gte=window),
        kind=Discrepancy.Kind.STOREFRONT_GAP,
        consumer=storefront,
        sku_id__in=[row["pk"] for row, _, _ in gaps],
    ).values_list("sku_id", "status", "corrected_at", "created_at")
    pending, repeated = set(), set()
    for sku_id, status, corrected_at, created_at in earlier:
        if status == Discrepancy.Status.OPEN and corrected_at is None:
            pending.add(sku_id)
        if created_at >= window:
            repeated.add(sku_id)
    gaps = [gap for gap in gaps if gap[0]["pk"] not in pending]
    if not gaps:
        return
    counted = _insert_gaps(storefront=storefront, owner=owner, gaps=gaps, repeated=repeated,
                           now=now, report=report, observing=observing)  # fmt: skip
    _request_counts(list(Discrepancy.objects.filter(pk__in=counted).order_by("pk")), report)


def _insert_gaps(
    *,
    storefront: System,
    owner: System | None,
    gaps: list[tuple[dict, int, int]],
    repeated: set[int],
    now: datetime,
    report: ReconcileReport,
    observing: bool = False,
) -> list[int]:
    """One discrepancy per gap, written from the compare's table in one statement.

    The rows ``discrepancies_create`` would write, without a model instance per
    gap (a thousand of them cost more than the statement): the gap's columns come from the
    compare's table, the unit cost is the SKU's as it is now (as that service notes it),
    every other column is the same for all and takes its value from one model instance.
    Returns the ids of the discrepancies that ask for a count. Before go-live (an observed
    storefront) a gap is labelled so, and asks for no count: the opening stock-take does.
    """
    q = connection.ops.quote_name
    owner_name = owner.name if owner else "nobody"
    wins = (
        f"; {owner_name} owns on-hand. Before go-live: nothing is corrected yet."
        if observing
        else f"; {owner_name} owns on-hand and wins."
    )
    again = [row["pk"] for row, _, _ in gaps if row["pk"] in repeated] or [None]
    seen_again = f"d.sku_id IN ({', '.join(['%s'] * len(again))})"
    per_gap = {  # column → (SQL over the compare's row d and its SKU s, parameters)
        "sku_id": ("d.sku_id", []),
        "owner_value": ("d.ours", []),
        "consumer_value": ("d.theirs", []),
        "unit_cost": ("s.unit_cost", []),
        "detail": (
            "%s || CAST(d.theirs AS varchar(20)) || %s || CAST(d.ours AS varchar(20)) || %s"
            f" || CASE WHEN {seen_again} THEN %s ELSE '' END",
            [f"{storefront.name} says ", ", shelf says ", wins, *again,
             " Seen again within the window."],
        ),
        "count_requested_at": ("NULL", []) if observing else (
            f"CASE WHEN ABS(d.theirs - d.ours) > %s OR {seen_again} THEN %s END",
            [settings.ONEFACT_RECONCILE_TOLERANCE, *again,
             connection.ops.adapt_datetimefield_value(now)],
        ),
    }  # fmt: skip
    same = Discrepancy(kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND, owner=owner,
                       consumer=storefront, winner=owner)  # fmt: skip
    columns, values, params = [], [], []
    for field in Discrepancy._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(q(field.column))
        if field.attname in per_gap:
            sql, args = per_gap[field.attname]
            values.append(sql)
            params += args
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(same, add=True), connection))
    ns = [row["n"] for row, _, _ in gaps]
    requested = Discrepancy._meta.get_field("count_requested_at")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(Discrepancy._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {_temp(DIFF)} d "
            f"JOIN {q(Sku._meta.db_table)} s ON s.id = d.sku_id "
            f"WHERE d.n IN ({', '.join(['%s'] * len(ns))}) ORDER BY d.n "
            f"RETURNING {q(Discrepancy._meta.pk.column)}, {q(requested.column)}",
            [*params, *ns],
        )
        rows = cursor.fetchall()
    report.discrepancies_written += len(rows)
    return [pk for pk, requested_at in rows if requested_at is not None]


def _request_counts(discrepancies: list[Discrepancy], report: ReconcileReport) -> None:
    """One announcement for the chunk: subscribers open their tasks in a few queries."""
    if not discrepancies:
        return
    bins: dict[int, list] = {}
    for row in OnHand.objects.filter(
        sku_id__in=[d.sku_id for d in discrepancies], quantity__gt=0
    ).select_related("bin"):
        bins.setdefault(row.sku_id, []).append(row.bin)
    skus = Sku.objects.in_bulk([d.sku_id for d in discrepancies])
    hooks.request_counts(
        [
            hooks.CountRequest(
                sku=skus[d.sku_id],
                bins=bins.get(d.sku_id, []),
                reason=d.detail,
                discrepancy=d,
                trigger="reconciliation",
            )
            for d in discrepancies
        ]
    )
    report.counts_requested += len(discrepancies)


def _correct(storefront, adapter, gaps, report: ReconcileReport) -> None:
    """Send the shelf's value, compared with what the storefront just said it holds."""
    writes = [
        LevelWrite(
            sku=row["code"],
            quantity=value,
            expected=theirs,
            idempotency_key=f"onefact-reconcile-{row['pk']}-{theirs}-{value}",
            reason="correction",
            ledger_ref="onefact://reconcile",
        )
        for row, value, theirs in gaps
    ]
    applied: dict[int, int] = {}
    by_code = {row["code"]: (row, value) for row, value, _ in gaps}
    step = max(1, adapter.capabilities.max_batch)
    for i in range(0, len(writes), step):
        for result in adapter.set_levels(writes[i : i + step]):
            row, value = by_code[result.sku]
            if result.status == WriteStatus.APPLIED or (
                result.status == WriteStatus.STALE and result.actual == value
            ):
                applied[row["pk"]] = value
    if applied:
        _mark_corrected(storefront, applied, report)


def _sync_states_set(storefront: System, values: dict[int, int], now: datetime) -> None:
    """The storefront holds ``values`` (SKU id → quantity) as of ``now``: one upsert.

    ``SyncState.objects.bulk_create(update_conflicts=True)`` in effect, without a model
    instance per SKU: a new row's other columns take their values from one instance.
    """
    q = connection.ops.quote_name
    same = SyncState(storefront=storefront, pushed_at=now)
    columns, values_sql, params = [], [], []
    for field in SyncState._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(q(field.column))
        if field.attname in ("sku_id", "pushed_value"):  # the VALUES list's two columns
            values_sql.append("column1" if field.attname == "sku_id" else "column2")
        else:
            values_sql.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(same, add=True), connection))
    pushed_value, pushed_at = (q(SyncState._meta.get_field(f).column)
                               for f in ("pushed_value", "pushed_at"))  # fmt: skip
    unique = ("storefront", "sku")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(SyncState._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values_sql)} "
            f"FROM (VALUES {', '.join(['(%s, %s)'] * len(values))}) v WHERE TRUE "
            f"ON CONFLICT ({', '.join(q(SyncState._meta.get_field(f).column) for f in unique)}) "
            "DO UPDATE SET "
            f"{pushed_value} = excluded.{pushed_value}, {pushed_at} = excluded.{pushed_at}",
            [*params, *(x for pair in values.items() for x in pair)],
        )


@transaction.atomic
def _mark_corrected(storefront: System, applied: dict[int, int], report) -> None:
    now = timezone.now()
    _sync_states_set(storefront, applied, now)
    fixed = (
        Discrepancy.objects.open()
        .filter(
            kind=Discrepancy.Kind.STOREFRONT_GAP,
            consumer=storefront,
            sku_id__in=list(applied),
            corrected_at__isnull=True,
        )
        .values_list("pk", "sku_id", "owner_value")
    )
    # The correction is the shelf's value, which is the recorded owner value, except for a
    # gap left uncorrected by an earlier run while the shelf moved on: one update per value.
    by_value: dict[int | None, list[int]] = {}
    for pk, sku_id, owner_value in fixed:
        value = applied[sku_id]
        by_value.setdefault(None if value == owner_value else value, []).append(pk)
    # Corrected; and resolved by the correction unless a count was asked for.
    uncounted = Q(count_requested_at__isnull=True)
    for value, group in by_value.items():
        Discrepancy.objects.filter(pk__in=group).update(
            correction=F("owner_value") if value is None else Value(value),
            corrected_at=now,
            status=Case(When(uncounted, then=Value(Discrepancy.Status.RESOLVED)),
                        default=F("status")),
            resolution=Case(When(uncounted, then=Value(Discrepancy.Resolution.CORRECTION)),
                            default=F("resolution")),
            resolved_at=Case(When(uncounted, then=Value(now)), default=F("resolved_at")),
        )  # fmt: skip
    report.corrected += len(applied)


SETTLED_NOTE = (
    "Agreed with the shelf when reconciled again: the correction sent by a run that stopped "
    "before recording it had landed, or the storefront came back to the shelf's number."
)


def _settle_agreeing(storefront: System, report: ReconcileReport) -> None:
    """Gaps recorded by an earlier run but never marked corrected, whose SKU now agrees.

    A worker killed after the storefront applied its correction but before the answer was
    recorded leaves such a gap; the redelivered run finds no disagreement to correct. The
    storefront holds the shelf's number: the gap is corrected with it (resolved unless a
    count was asked for), instead of staying open forever.
    """
    pending = list(
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.STOREFRONT_GAP, consumer=storefront,
                corrected_at__isnull=True)
        .values_list("pk", "sku_id", "sku__code")
    )  # fmt: skip
    for i in range(0, len(pending), CHUNK):
        chunk = {code: (pk, sku_id) for pk, sku_id, code in pending[i : i + CHUNK]}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT f.code, f.quantity FROM {_temp(LEVELS)} f "
                f"WHERE f.code IN ({', '.join(['%s'] * len(chunk))}) AND NOT EXISTS "
                f"(SELECT 1 FROM {_temp(DIFF)} d WHERE d.code = f.code)",
                list(chunk),
            )
            agreeing = {chunk[code]: quantity for code, quantity in cursor.fetchall()}
        if not agreeing:
            continue
        with transaction.atomic():
            # Not a correction of this run: its own report is not this one's.
            _mark_corrected(storefront, {sku_id: value for (_, sku_id), value in agreeing.items()},
                            ReconcileReport(storefront=storefront.name))  # fmt: skip
            Discrepancy.objects.filter(
                pk__in=[pk for pk, _ in agreeing], status=Discrepancy.Status.RESOLVED
            ).update(resolution_note=SETTLED_NOTE)
        report.settled += len(agreeing)


def _read_page(
    adapter: StorefrontAdapter,
    loader: _Loader,
    codes: list[str] | None,
    wanted: set[str] | None,
    cursor: str | None,
) -> str | None:
    """Take the mark, read one page and load it; returns the next page's cursor. The page
    is let go here, before the next one is read."""
    loader.before_read()
    page = adapter.read_levels(codes, cursor)
    loader.add(page.items if wanted is None else [lv for lv in page.items if lv.sku in wanted])
    return page.next_cursor


def storefront_reconcile(
    *, storefront: System, codes: list[str] | None = None, preview: bool = False
) -> ReconcileReport:
    """Reconcile one storefront (all its SKUs, or only ``codes``).

    Its pages are read into this connection's levels table, each with the mark of when it
    was read; then one compare, and the gaps in chunks. A live storefront's gaps are
    corrected (through the circuit breaker); an observed one's are only recorded. With
    ``preview`` (the whole catalog) the corrections are kept as the go-live preview instead
    of being sent, whatever the mode.
    """
    if preview and codes is not None:
        raise ValueError("A go-live preview reads the whole catalog.")
    report = ReconcileReport(storefront=storefront.name)
    adapter = adapter_for(storefront)
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    wanted = set(codes) if codes is not None else None
    with _levels_table():
        loader = _Loader()
        cursor = _read_page(adapter, loader, codes, wanted, None)
        report.pages += 1
        while cursor:
            cursor = _read_page(adapter, loader, codes, wanted, cursor)
            report.pages += 1
        loader.flush()
        _settle(storefront=storefront, adapter=adapter, owner=owner, rows=loader.rows,
                few=codes is not None, report=report, preview=preview)  # fmt: skip
    report.points = round(getattr(adapter, "points_used", 0))
    log.info("Reconciled %s: %d pages, %d SKUs compared, %d gaps, %d points.", storefront,
             report.pages, report.skus_compared, report.gaps, report.points)  # fmt: skip
    return report


storefront_reconcile.alters_data = True


def reconcile_parts(*, storefront: System) -> list[tuple[str | None, str | None]]:
    """The pieces one storefront is reconciled in, each a task: SKU ranges of about
    ``ONEFACT_RECONCILE_RANGE_SIZE`` codes, or the whole location as one piece (``(None,
    None)``) for a storefront whose adapter reads it whole (a Shopify bulk export of the
    location is cheaper than ranges that would each export it)."""
    if capabilities_of(storefront).whole_reads:
        return [(None, None)]
    return reconcile_ranges(size=settings.ONEFACT_RECONCILE_RANGE_SIZE)


def reconcile_ranges(*, size: int) -> list[tuple[str, str]]:
    """Split the active catalog into SKU-code ranges of about ``size`` codes (streamed)."""
    ranges, first, last = [], None, None
    codes = Sku.objects.filter(active=True).order_by("code").values_list("code", flat=True)
    for n, code in enumerate(codes.iterator(chunk_size=5000)):
        if n % size == 0:
            if first is not None:
                ranges.append((first, last))
            first = code
        last = code
    if first is not None:
        ranges.append((first, last))
    return ranges


def range_codes(*, first: str | None, last: str | None) -> list[str] | None:
    """The active SKU codes of a range; None (every SKU) for the whole-location piece."""
    if first is None and last is None:
        return None
    return list(
        Sku.objects.filter(active=True, code__gte=first, code__lte=last)
        .order_by("code")
        .values_list("code", flat=True)
    )


@transaction.atomic
def orders_at_risk_check() -> int:
    """Open storefront commitments above the shelf's on-hand: one discrepancy per SKU.

    A SKU already flagged (this check's row, or an order's own row recorded when the order
    arrived) gets no second row. A SKU no longer at risk has its rows resolved (the shelf
    caught up). A SKU the shelf has not counted yet is not at risk on its word: its number
    is not known.
    """
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    at_risk = list(
        selectors.skus_with_stock()
        .filter(committed__gt=F("on_hand"), shelf_evidence__isnull=False)
        .values("pk", "code", "on_hand", "committed")
    )
    open_risk = Discrepancy.objects.open().filter(kind=Discrepancy.Kind.ORDERS_AT_RISK)
    known = set(open_risk.values_list("sku_id", flat=True))
    new = discrepancies_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.ORDERS_AT_RISK,
                fact=Fact.ORDER,
                sku_id=r["pk"],
                owner=owner,
                owner_value=r["on_hand"],
                consumer_value=r["committed"],
                winner=owner,
                detail=(
                    f"Open orders want {r['committed']} of {r['code']}, "
                    f"the shelf holds {r['on_hand']}."
                ),
            )
            for r in at_risk
            if r["pk"] not in known
        ]
    )
    # A row about an order placed at truth moment ``order`` (fact on_hand: the shelf could
    # not ship it) holds no commitment to cover; only its count resolves it.
    open_risk.filter(~Q(sku_id__in=[r["pk"] for r in at_risk]), fact=Fact.ORDER).update(
        status=Discrepancy.Status.RESOLVED,
        resolution=Discrepancy.Resolution.CORRECTION,
        resolved_at=timezone.now(),
        resolution_note="No longer at risk: the shelf covers the open orders.",
    )
    return len(new)
