"""Reads for the managers' discrepancy dashboard: figures, breakdowns, charts, rows.

Everything is aggregated in SQL with a fixed number of queries whatever the data size;
apps built on inventory add their figures, charts and per-discrepancy notes through
``inventory.hooks`` (``dashboard_providers``), never by being imported here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import TruncDate
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inventory.charts import duration_display
from inventory.models import (
    AuthorityConflict,
    Bin,
    Discrepancy,
    InboxEvent,
    OnHand,
    Sku,
    SyncLog,
    System,
    fact_name,
)

SORTS = {
    "age": ("created_at", "id"),
    "-age": ("-created_at", "-id"),
    "units": ("-units", "-id"),
    "value": ("-value", "-id"),
}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: str
    note: str = ""
    url: str = ""


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    days: list[date]
    # label → value per day; None: no data that day (a gap, never drawn as a zero)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    kind: str = "line"  # line | stacked
    top: float | None = None  # the axis top, when the unit has one (100 %)
    note: str = ""


def discrepancies_with_measures() -> QuerySet[Discrepancy]:
    """Discrepancies with their measures: ``units`` (|gap|, or the consumer's number alone)
    and ``value`` (units at the unit cost noted when found) are columns kept by the
    database, so every sum is over one table."""
    return Discrepancy.objects.all()


def dashboard_rows(
    *,
    status: str = "open",
    fact: str = "",
    kind: str = "",
    sku_code: str = "",
    bin_code: str = "",
    system: str = "",
    older_than_days: int | None = None,
    sort: str = "-age",
    whole: bool = False,
) -> QuerySet[Discrepancy]:
    """The discrepancies matching the filters, sorted, with the SKU and the bin the table
    shows; ``whole`` adds the systems, who won and who resolved it (the CSV, a discrepancy's
    page): joining and building those for a page of the table cost it more than its rows."""
    related = ("sku", "bin") + (("owner", "consumer", "winner", "resolved_by") if whole else ())
    qs = discrepancies_with_measures().select_related(*related)
    if status:
        qs = qs.filter(status=status)
    if fact:
        qs = qs.filter(fact=fact)
    if kind:
        qs = qs.filter(kind=kind)
    if sku_code:
        qs = qs.filter(sku__code__iexact=sku_code)
    if bin_code:
        # A bin's discrepancies: those recorded at it, and those of the SKUs it holds.
        held_here = OnHand.objects.filter(sku=OuterRef("sku"), bin__code__iexact=bin_code)
        qs = qs.filter(Q(bin__code__iexact=bin_code) | Q(bin__isnull=True) & Exists(held_here))
    if system:
        qs = qs.filter(Q(consumer__name=system) | Q(owner__name=system))
    if older_than_days is not None:
        qs = qs.filter(created_at__lt=timezone.now() - timedelta(days=older_than_days))
    return qs.order_by(*SORTS.get(sort, SORTS["-age"]))


def _named(grouped: QuerySet, **names: tuple[str, type, str]) -> list[dict]:
    """The rows of a grouped (perhaps limited) query, each with the names of the ids it was
    grouped on, joined once per group after the grouping: ``code=("sku", Sku, "code")`` is
    the code of the group's ``sku``. (A join or a subquery inside the grouping would run once
    per row.)"""
    connection = connections[grouped.db]
    q = connection.ops.quote_name
    sql, params = _sql(grouped)
    columns, joins = ["grouped.*"], []
    for n, (name, (key, model, column)) in enumerate(names.items()):
        columns.append(f"named{n}.{q(column)} AS {q(name)}")
        joins.append(f"LEFT JOIN {q(model._meta.db_table)} named{n} "
                     f"ON named{n}.{q('id')} = grouped.{q(key)}")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM ({sql}) grouped {' '.join(joins)}",
                       params)  # fmt: skip
        keys = [c[0] for c in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def _top_skus(rows: QuerySet[Discrepancy]) -> list[dict]:
    """The ten SKUs with the most units: grouped on the id (read off a covering index of the
    open rows); the ten named in the same query."""
    top = (
        rows.filter(sku__isnull=False)
        .values("sku")
        .annotate(n=Count("*"), total_units=Sum("units"))
        .order_by("-total_units", "sku")[:10]
    )
    return sorted(
        _named(top, code=("sku", Sku, "code")), key=lambda r: (-r["total_units"], r["sku"])
    )


def _top_bins(rows: QuerySet[Discrepancy]) -> list[dict]:
    """The ten bins with the most units open: a discrepancy recorded at a bin counts there;
    one of a whole SKU (a storefront's number) counts at every bin that holds the SKU, where
    its count is asked for, as the bin filter finds it. One grouped query (a union), the
    bins named in it (a warehouse has hundreds of bins, not a catalog's worth)."""
    at_bin = rows.filter(bin__isnull=False).values(at=F("bin"))
    held = rows.filter(bin__isnull=True, sku__balances__isnull=False).values(
        at=F("sku__balances__bin")
    )
    measures = {"n": Count("*"), "total_units": Sum("units")}
    grouped = at_bin.annotate(**measures).union(held.annotate(**measures), all=True)
    totals: dict[int, dict] = {}
    for r in _named(grouped, code=("at", Bin, "code")):
        total = totals.setdefault(r["at"], {"bin": r["at"], "code": r["code"], "n": 0,
                                            "total_units": 0})  # fmt: skip
        total["n"] += r["n"]
        total["total_units"] += r["total_units"] or 0
    return sorted(totals.values(), key=lambda r: (-r["total_units"], r["bin"]))[:10]


def _rolled_up(groups: list[dict], keys: list[str]) -> list[dict]:
    """Sum fine groups into coarser ones (by ``keys``), most discrepancies first."""
    totals: dict[tuple, dict] = {}
    for g in groups:
        key = tuple(g[k] for k in keys)
        zero = {"n": 0, "total_units": 0, "total_value": 0}
        total = totals.setdefault(key, dict(zip(keys, key, strict=True)) | zero)
        for measure in zero:
            total[measure] += g[measure] or 0
    return sorted(totals.values(), key=lambda r: -r["n"])


def dashboard_breakdowns(*, rows: QuerySet[Discrepancy]) -> dict:
    """Open discrepancies by fact, system pair, age, SKU and bin, with units and value, and
    their ``totals`` (the open-gaps figure, and the table's count when it shows them all).

    Fact, pair, age and the totals come from one query grouped on the systems' ids (a few
    dozen groups at most, read off a covering index of the open rows; the systems named
    per group); the SKU and bin tops are one query each (three queries in all).
    """
    now = timezone.now()
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    # Counted on columns the index carries (never the id, which it does not).
    measures = {"n": Count("*"), "total_units": Sum("units"), "total_value": Sum("value")}
    rows = rows.order_by()
    groups = _named(
        rows.values("fact", "owner_id", "consumer_id")
        .annotate(
            **measures,
            today=Count("created_at", filter=Q(created_at__gte=day_ago)),
            week=Count("created_at", filter=Q(created_at__lt=day_ago, created_at__gte=week_ago)),
            older=Count("created_at", filter=Q(created_at__lt=week_ago)),
        )
        .order_by(),
        owner_name=("owner_id", System, "name"),
        consumer_name=("consumer_id", System, "name"),
    )
    [totals] = _rolled_up(groups, []) or [{"n": 0, "total_units": 0, "total_value": 0}]
    return {
        "totals": totals,
        "fact": _rolled_up(groups, ["fact"]),
        "pair": _rolled_up(groups, ["owner_name", "consumer_name"])[:10],
        "age": [
            {"label": _("under a day"), "n": sum(g["today"] for g in groups)},
            {"label": _("1–7 days"), "n": sum(g["week"] for g in groups)},
            {"label": _("over 7 days"), "n": sum(g["older"] for g in groups)},
        ],
        "sku": _top_skus(rows),
        "bin": _top_bins(rows),
    }


def _sql(qs: QuerySet) -> tuple[str, tuple]:
    return qs.query.get_compiler(using=qs.db).as_sql()


@dataclass(frozen=True)
class Read:
    """One value read beside others in a single round trip (``read_together``): a scalar
    subquery, and how its value is converted to what its queryset would have given."""

    sql: str
    params: tuple
    convert: Callable[[Any], Any] | None = None


def read_count(qs: QuerySet) -> Read:
    """How many rows ``qs`` has."""
    sql, params = _sql(qs.order_by().values("pk"))
    return Read(f"SELECT COUNT(*) FROM ({sql}) counted", params)


def read_exists(qs: QuerySet) -> Read:
    """Whether ``qs`` has a row (the database stops at the first)."""
    sql, params = _sql(qs.order_by().values("pk"))
    return Read(f"SELECT EXISTS ({sql})", params, convert=bool)


def read_first(qs: QuerySet) -> Read:
    """The only column of ``qs``'s first row (``qs.values_list(field)``, ordered), or None
    without a row; converted as the queryset converts it (a date, an aware datetime)."""
    compiler = qs[:1].query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    [(expression, _, _)] = compiler.select
    converters = compiler.get_converters([expression])

    def convert(value: Any) -> Any:
        if value is None or not converters:
            return value
        [row] = compiler.apply_converters([[value]], converters)
        return row[0]

    return Read(sql, params, convert)


def _nearest_rank(qs: QuerySet, field: str, percent: int) -> Read:
    """The ``percent``th percentile of ``field`` by nearest rank (the value ranked
    ceil(percent/100 × n) in ascending order; none when there is no row)."""
    sql, params = _sql(qs.order_by().values(field))
    ranked = (
        f"SELECT {field} AS v, ROW_NUMBER() OVER (ORDER BY {field}) AS r, COUNT(*) OVER () AS n "
        f"FROM ({sql}) picked"
    )
    return Read(f"SELECT v FROM ({ranked}) ranked WHERE r = (n * {percent} + 99) / 100", params)


def read_together(**reads: Read) -> dict:
    """Several single values (counts, percentiles, first rows' columns), from any app, in one
    round trip: ``SELECT (…), (…)``, each read as its queryset would be on its own."""
    if not reads:
        return {}
    connection = connections[SyncLog.objects.db]
    columns = ", ".join(f"({read.sql}) AS v{n}" for n, read in enumerate(reads.values()))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}", [p for read in reads.values() for p in read.params])
        values = cursor.fetchone()
    return {name: read.convert(value) if read.convert else value
            for (name, read), value in zip(reads.items(), values, strict=True)}  # fmt: skip


@dataclass(frozen=True)
class SyncLagFigures:
    """Commit → storefront acknowledged, over live pushes, in ms; first pushes of a SKU and
    released batches (go-live, held corrections) are counted apart: theirs is no lag."""

    p50: int | None
    p95: int | None
    live: int
    first: int
    batch: int


def _sync_lag_reads(*, since: datetime) -> dict[str, Read]:
    pushes = SyncLog.objects.filter(pushed_at__gte=since, lag_ms__isnull=False)
    live = pushes.filter(kind=SyncLog.Kind.LIVE)
    return {
        "live": read_count(live),
        "first": read_count(pushes.filter(kind=SyncLog.Kind.FIRST)),
        "batch": read_count(pushes.filter(kind=SyncLog.Kind.BATCH)),
        "p50": _nearest_rank(live, "lag_ms", 50),
        "p95": _nearest_rank(live, "lag_ms", 95),
    }


def _sync_lag(read: dict) -> SyncLagFigures:
    return SyncLagFigures(**{key: read[key] for key in ("p50", "p95", "live", "first", "batch")})


def sync_lag_figures(*, since: datetime) -> SyncLagFigures:
    """The sync lag over live pushes since ``since`` (one query)."""
    return _sync_lag(read_together(**_sync_lag_reads(since=since)))


def _not_lag(first: int, batch: int) -> str:
    """The pushes kept out of the lag, said plainly ("" when none)."""
    parts = []
    if first:
        parts.append(f"{first} first push{pluralize(first, 'es')} of a SKU")
    if batch:
        parts.append(f"{batch} push{pluralize(batch, 'es')} of a released batch")
    return f"not counted as lag: {' and '.join(parts)}" if parts else ""


def _inventory_reads(*, now: datetime) -> dict[str, Read]:
    return {
        **_sync_lag_reads(since=now - timedelta(hours=24)),
        "conflicts": read_count(
            AuthorityConflict.objects.filter(created_at__gte=now - timedelta(days=7))
        ),
        "parked": read_count(InboxEvent.objects.filter(status=InboxEvent.Status.FAILED)),
    }


def _open_totals() -> dict:
    return (
        discrepancies_with_measures()
        .filter(status=Discrepancy.Status.OPEN)
        .aggregate(n=Count("id"), total_units=Sum("units"), total_value=Sum("value"))
    )


def inventory_figures(*, open_totals: dict | None = None) -> list[Figure]:
    """The shelf's figures: open gaps (``open_totals`` when the caller has already summed
    the open rows, as the dashboard's breakdowns do), the sync lag, conflicts of the week
    and parked storefront events: one query, and one more without ``open_totals``."""
    read = read_together(**_inventory_reads(now=timezone.now()))
    return _inventory_figures(read, open_totals if open_totals is not None else _open_totals())


def _inventory_figures(read: dict, open_totals: dict) -> list[Figure]:
    lag, conflicts, parked = _sync_lag(read), read["conflicts"], read["parked"]
    spread = (
        _("95th percentile %(p95)s") % {"p95": duration_display(lag.p95)}
        if lag.live
        else _("no live push in 24 h")
    )
    totals = {"n": open_totals["n"], "sum_units": open_totals["total_units"],
              "sum_value": open_totals["total_value"]}  # fmt: skip
    figures = [
        Figure(
            "open_gaps",
            _("open gaps"),
            str(totals["n"]),
            _("%(units)s units, %(value)s at cost")
            % {"units": totals["sum_units"] or 0, "value": f"{totals['sum_value'] or 0:.2f}"},
        ),
        Figure(
            "sync_lag",
            _("storefront sync lag, median of live pushes (24 h)"),
            duration_display(lag.p50) if lag.live else _("0 pushes"),
            "; ".join(filter(None, [spread, _not_lag(lag.first, lag.batch)])),
        ),
        Figure("conflicts_7d", _("authority conflicts, last 7 days"), str(conflicts)),
    ]
    if parked:  # shown only when a storefront event is parked
        figures.append(
            Figure(
                "inbox_failed",
                ngettext(
                    "storefront event could not be processed",
                    "storefront events could not be processed",
                    parked,
                ),
                str(parked),
                _("each with its error and a Retry"),
                url=reverse("inventory:inbox-failed"),
            )
        )
    return figures


def _days(n: int) -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=n - 1 - i) for i in range(n)]


def _day_start(day: date) -> datetime:
    """The first instant of ``day`` in the current time zone: a range on the timestamp reads
    an index, where a date computed from each row reads every row."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class ChartRows:
    """A chart's rows, grouped per day (and series), in the shape every dashboard chart's
    rows share, so that one query (a union) reads every chart's: ``rows`` filtered, its
    ``day`` and ``series`` (an expression, or "" for a single series) and up to
    ``CHART_MEASURES`` aggregates by name. ``read_chart_rows`` hands back plain dicts:
    ``day``, ``series`` and each measure by its name."""

    key: str
    rows: QuerySet
    day: Any
    series: Any
    measures: dict[str, Any]


CHART_MEASURES = 3


def _chart_query(part: ChartRows, n: int) -> QuerySet:
    measures = list(part.measures.values())
    if len(measures) > CHART_MEASURES:
        raise ValueError(f"chart {part.key}: over {CHART_MEASURES} measures")
    none = Value(None, output_field=IntegerField())
    padded = measures + [none] * (CHART_MEASURES - len(measures))
    return (
        part.rows.order_by()
        .annotate(chart_day=part.day, chart_series=part.series)
        .values("chart_day", "chart_series")
        .annotate(chart=Value(n), **{f"m{i}": m for i, m in enumerate(padded)})
    )


def read_chart_rows(parts: list[ChartRows]) -> dict[str, list[dict]]:
    """Every part's rows (by its key), oldest day first, in one query: a union of the
    parts' grouped queries."""
    if not parts:
        return {}
    queries = [_chart_query(part, n) for n, part in enumerate(parts)]
    union = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
    found: dict[str, list[dict]] = {part.key: [] for part in parts}
    for r in union.order_by("chart_day", "chart_series"):
        part = parts[r["chart"]]
        measures = {name: r[f"m{i}"] for i, name in enumerate(part.measures)}
        found[part.key].append({"day": r["chart_day"], "series": r["chart_series"], **measures})
    return found


def _sync_lag_rows(span: list[date]) -> ChartRows:
    return ChartRows(
        "sync_lag",
        SyncLog.objects.filter(pushed_at__gte=_day_start(span[0]), lag_ms__isnull=False),
        day=TruncDate("pushed_at"),
        series=F("kind"),
        measures={"worst": Max("lag_ms"), "pushes": Count("id"), "total": Sum("lag_ms")},
    )


def sync_lag_chart(*, days: int = 14, rows: list[dict] | None = None) -> Chart:
    """Mean and worst lag per day over live pushes; a day without one is a gap. First pushes
    and released batches are said in a note, not drawn as lag (one query, none with
    ``rows``, read with the other charts')."""
    span = _days(days)
    if rows is None:
        rows = read_chart_rows([_sync_lag_rows(span)])["sync_lag"]
    live, first, batch = {}, 0, 0
    for r in rows:
        if r["series"] == SyncLog.Kind.LIVE:
            live[r["day"]] = r
        elif r["series"] == SyncLog.Kind.FIRST:
            first += r["pushes"]
        else:
            batch += r["pushes"]
    mean = [round(live[d]["total"] / live[d]["pushes"]) if d in live else None for d in span]
    worst = [live[d]["worst"] if d in live else None for d in span]
    note = _not_lag(first, batch)
    return Chart("sync_lag", _("Storefront sync lag per day (live pushes)"), "ms", span,
                 {"mean": mean, "worst": worst}, note=note[:1].upper() + note[1:])  # fmt: skip


def _corrections_rows(span: list[date]) -> ChartRows:
    return ChartRows(
        "corrections",
        discrepancies_with_measures().filter(corrected_at__gte=_day_start(span[0])),
        day=TruncDate("corrected_at"),
        series=F("kind"),
        measures={"units": Sum("units")},
    )


def corrections_chart(*, days: int = 14, rows: list[dict] | None = None) -> Chart:
    """Units the owner's value corrected per day, by cause (the discrepancy's kind): one
    query, none with ``rows``, read with the other charts'."""
    span = _days(days)
    if rows is None:
        rows = read_chart_rows([_corrections_rows(span)])["corrections"]
    labels = dict(Discrepancy.Kind.choices)
    series: dict[str, list[float]] = {}
    index = {d: i for i, d in enumerate(span)}
    for r in rows:
        label = labels.get(r["series"], r["series"])
        series.setdefault(label, [0] * len(span))
        if r["day"] in index:
            series[label][index[r["day"]]] += r["units"] or 0
    return Chart("corrections", _("Units corrected per day, by cause"), "units", span, series,
                 kind="stacked")  # fmt: skip


def discrepancy_notes(*, ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Sentence parts (with a link, or "") the apps add for these discrepancies (one query
    per provider)."""
    from inventory import hooks

    notes: dict[int, list[tuple[str, str]]] = {}
    for provider in hooks.dashboard_providers():
        if provider.notes and ids:
            for pk, parts in provider.notes(ids).items():
                notes.setdefault(pk, []).extend(parts)
    return notes


# Who a discrepancy is between when no second system said anything: each side in words
# (owner_value, consumer_value, and the reference, e.g. the purchase order).
BETWEEN = {
    Discrepancy.Kind.RECEIPT_MISMATCH: "Purchase order {ref} expected {owner}, the shelf received "
    "{other}",
    Discrepancy.Kind.COUNT_VARIANCE: "The shelf's record held {owner}, the count found {other}",
    Discrepancy.Kind.LEDGER_MISMATCH: "The ledger adds up to {owner}, the bin's balance says "
    "{other}",
    Discrepancy.Kind.ORDERS_AT_RISK: "The shelf holds {owner}, open orders want {other}",
    Discrepancy.Kind.RETURN_MISMATCH: "Return {ref}: the shelf counted {owner}, {other} expected",
    Discrepancy.Kind.GHOST_ROW: "The shelf holds {owner}; nothing supports it",
}


def discrepancy_between(discrepancy: Discrepancy) -> str:
    """Who disagreed, in words: both systems with what each said, or, with no second system
    (a purchase order, a count, the ledger), the two sides the discrepancy is between."""
    d = discrepancy

    def said(value) -> str:
        return "—" if value is None else str(value)

    owner = d.owner.name if d.owner else "no owner"
    if d.consumer:
        return (
            f"{owner} (owns {fact_name(d.fact)}) says {said(d.owner_value)}, "
            f"{d.consumer.name} says {said(d.consumer_value)}"
        )
    if words := BETWEEN.get(d.kind):
        return words.format(
            ref=d.reference or "—", owner=said(d.owner_value), other=said(d.consumer_value)
        )
    return f"{owner} (owns {fact_name(d.fact)}) says {said(d.owner_value)}; no other system"


def discrepancy_lines(rows) -> list[Discrepancy]:
    """These discrepancies, each with its whole ``sentence`` (the count-task part included)
    and who it is ``between``: one query per app that adds notes."""
    rows = list(rows)
    notes = discrepancy_notes(ids=[d.pk for d in rows])
    for d in rows:
        d.sentence = discrepancy_sentence(d, notes.get(d.pk))
        d.between = discrepancy_between(d)
    return rows


def discrepancy_sentence(
    discrepancy: Discrepancy, notes: list[tuple[str, str]] | None = None
) -> str:
    """One discrepancy read as a sentence: what each side said, who won, what was done."""
    parts = [discrepancy.detail.rstrip(". ") or discrepancy.get_kind_display()]
    if discrepancy.corrected_at:
        when = timezone.localtime(discrepancy.corrected_at)
        parts.append(f"corrected to {discrepancy.correction} at {when:%H:%M}")
    parts += [text for text, _ in notes or []]
    if discrepancy.count_requested_at and discrepancy.is_open and not notes:
        parts.append("a count was asked for")
    if not discrepancy.is_open:
        how = discrepancy.get_resolution_display().lower()
        ref = f" ({discrepancy.resolution_reference})" if discrepancy.resolution_reference else ""
        why = f": {discrepancy.resolution_note}" if discrepancy.resolution_note else ""
        parts.append(f"{how}{ref}{why}")
    return "; ".join(parts) + "."


ORDERS_AT_RISK_SHOWN = 20


def orders_at_risk_open(
    *, sku: Sku | None = None
) -> list[tuple[Discrepancy, list[tuple[str, str]]]]:
    """The open orders-at-risk rows (of one SKU, when given), newest first, each with the
    notes the apps add (the count task it opened, with its link): the block at the top of
    the dashboard and of a SKU's page. One query, and one per provider when any row is open;
    at most ``ORDERS_AT_RISK_SHOWN`` rows."""
    rows = Discrepancy.objects.open().filter(kind=Discrepancy.Kind.ORDERS_AT_RISK)
    if sku is not None:
        rows = rows.filter(sku=sku)
    shown = list(rows.select_related("sku").order_by("-created_at", "-id")[:ORDERS_AT_RISK_SHOWN])
    notes = discrepancy_notes(ids=[d.pk for d in shown])
    return [(d, notes.get(d.pk, [])) for d in shown]


@dataclass(frozen=True)
class DashboardFigures:
    """The dashboard's figures (the shelf's, then each app's), and whether the circuit
    breaker holds a batch: the banner's check, read in the same round trip."""

    figures: list[Figure]
    batches_held: bool


def dashboard_figures(*, open_totals: dict | None = None) -> DashboardFigures:
    """Every figure in one query: the shelf's reads, the breaker's check and the reads of
    each app that offers them (``figure_reads``) go in one ``read_together``; an app that
    offers none runs its own ``figures()``."""
    from inventory import hooks
    from inventory.models import CorrectionBatch

    providers = [p for p in hooks.dashboard_providers() if p.figures]
    reads = {f"inventory.{k}": r for k, r in _inventory_reads(now=timezone.now()).items()}
    reads["held"] = read_exists(CorrectionBatch.objects.filter(status=CorrectionBatch.Status.HELD))
    for provider in providers:
        if provider.figure_reads:
            reads |= {f"{provider.name}.{k}": r for k, r in provider.figure_reads().items()}
    read = read_together(**reads)

    def of(prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in read.items() if k.startswith(prefix)}

    figures = _inventory_figures(
        of("inventory."), open_totals if open_totals is not None else _open_totals()
    )
    for provider in providers:
        if provider.figure_reads:
            figures += provider.figures(of(f"{provider.name}."))
        else:
            figures += provider.figures()
    return DashboardFigures(figures, batches_held=read["held"])


def dashboard_charts() -> list[Chart]:
    """Every chart from one query: the shelf's two and each app's that offers its rows
    (``chart_rows``) in one ``read_chart_rows``; an app that offers none runs its own."""
    from inventory import hooks

    span = _days(14)
    providers = [p for p in hooks.dashboard_providers() if p.charts]
    parts = [_corrections_rows(span), _sync_lag_rows(span)]
    offered = {p.name: p.chart_rows() for p in providers if p.chart_rows}
    rows = read_chart_rows(parts + [part for offer in offered.values() for part in offer])
    charts = [corrections_chart(rows=rows["corrections"]), sync_lag_chart(rows=rows["sync_lag"])]
    for provider in providers:
        if provider.name in offered:
            charts += provider.charts({part.key: rows[part.key] for part in offered[provider.name]})
        else:
            charts += provider.charts()
    return charts


__all__ = [
    "CHART_MEASURES",
    "SORTS",
    "ChartRows",
    "DashboardFigures",
    "Read",
    "read_chart_rows",
    "read_count",
    "read_exists",
    "read_first",
    "read_together",
    "dashboard_charts",
    "dashboard_figures",
    "discrepancy_between",
    "discrepancy_lines",
    "discrepancy_notes",
    "discrepancy_sentence",
    "Chart",
    "Figure",
    "corrections_chart",
    "dashboard_breakdowns",
    "dashboard_rows",
    "discrepancies_with_measures",
    "inventory_figures",
    "orders_at_risk_open",
    "SyncLagFigures",
    "sync_lag_chart",
    "sync_lag_figures",
]
