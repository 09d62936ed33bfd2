"""Coverage: every SKU's sell-through, position and suggestion, computed from the truth.

Computed set-based each time it is read, for every SKU at once, in two steps inside one
transaction: each SKU's inputs (on-hand and commitments from inventory's grouped reads,
``inventory.selectors.on_hand_by_sku`` and ``committed_by_sku``, whether the shelf's number
is known, and the window's sales from the shelf's ledger) are staged in a temporary table
that lives for the read; then one query adds in-stock days, in-transit from the open
purchase order lines and the reorder policy, and works out the suggestion. Nothing here
keeps a copy of on-hand: a count correction on the shelf is in the very next suggestion.

A SKU the shelf has not counted (no ``inventory.models.ShelfEvidence`` row) has no known
on-hand: its 0, or whatever receipts put in its bins, is not a fact yet. Its position, days
of cover, need and suggestion are unknown (NULL), never worked out from that number, and it
sorts after every known SKU as "not yet counted".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from operator import attrgetter
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from inventory import selectors as shelf_selectors
from inventory.models import ShelfEvidence, Sku, StockMovement
from replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderPolicy,
    Supplier,
    Transfer,
    TransferLine,
)

EPSILON = 1e-9  # float arithmetic: 2.1 × 10 must round up to 21, not to 22

UNCOUNTED = -1  # the urgency of a SKU whose shelf number is not known: below every other
URGENCY_LABELS = {3: "urgent", 2: "reorder", 1: "ok", 0: "no policy", UNCOUNTED: "not yet counted"}
NOT_COUNTED_WHY = (
    "Not yet counted: the shelf has not counted this SKU; count it before ordering on its number."
)
SORTS = {
    # Most urgent first, then the least cover; SKUs without demand (no cover figure) last,
    # then the SKUs not yet counted (no urgency, no cover). NULLS LAST, not a key of its own
    # (``days_of_cover IS NULL``): the sort reads the column rather than a computed key
    # placed behind every other column.
    "urgency": "urgency DESC, days_of_cover NULLS LAST, code",
    "cover": "days_of_cover NULLS LAST, urgency DESC, code",
    "code": "code",
}


def _cover(c: Coverage) -> float:
    """Days of cover as a sort key: no demand (no figure) after every figure."""
    return math.inf if c.days_of_cover is None else c.days_of_cover


# The same orders for rows already fetched: a whole catalog is sorted in Python rather than
# by the server, which spills 100,000 wide rows to disk to sort them. Each order is stable
# sorts from its least significant key to its most, on keys that are numbers or strings
# (cheaper than a tuple key for each row). A test holds each to its SQL order.
SORT_PASSES = {
    "urgency": [(attrgetter("code"), False), (_cover, False), (attrgetter("urgency"), True)],
    "cover": [(attrgetter("code"), False), (attrgetter("urgency"), True), (_cover, False)],
    "code": [(attrgetter("code"), False)],
}


@dataclass(frozen=True)
class CoverageWindow:
    """The trailing window of whole days sell-through is measured over: [start, end)."""

    days: int
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.start).date()

    @property
    def last_day(self) -> date:
        return timezone.localtime(self.end).date() - timedelta(days=1)


def coverage_window(*, now: datetime | None = None, days: int | None = None) -> CoverageWindow:
    """The ``days`` whole days before today (local time): today is not over, so not counted."""
    days = days or settings.ONEFACT_REPLENISHMENT_WINDOW_DAYS
    today = timezone.localtime(now or timezone.now()).date()
    tz = timezone.get_current_timezone()
    end = datetime.combine(today, time.min, tzinfo=tz)
    start = datetime.combine(today - timedelta(days=days), time.min, tzinfo=tz)
    return CoverageWindow(days=days, start=start, end=end)


class Coverage(NamedTuple):
    """One SKU's coverage and suggestion, with every input, so it can be checked by hand.

    A named tuple: a whole catalog is 100,000 of them, made straight from result rows. The
    sort keys come first: the server sorts rows in the order of these columns, and reads a
    key at the front of a row without walking the columns before it (behind thirty columns,
    some of them empty, a whole catalog took seconds to sort instead of a fraction of one).
    """

    urgency: int
    days_of_cover: float | None
    code: str
    sku_id: int
    title: str
    supplier_id: int | None
    supplier_name: str | None
    policy_id: int | None
    own_policy: bool
    lead_time_days: int | None
    review_period_days: int | None
    safety_stock_days: int | None
    safety_stock_units: int | None
    min_order_qty: int | None
    case_pack: int | None
    target_days: int | None
    known: bool
    on_hand: int
    committed: int
    in_transit: int
    on_draft: int
    shipped: int
    in_stock_days: int
    rate: float
    position: int | None
    safety_stock: float | None
    reorder_point: float | None
    target: float | None
    raw_need: float | None
    whole_need: int | None
    suggested: int | None
    window_days: int

    @property
    def urgency_label(self) -> str:
        return URGENCY_LABELS[self.urgency]

    @property
    def is_urgent(self) -> bool:
        return self.urgency == 3

    def why(self) -> list[str]:
        """The suggestion's inputs and steps, in words a manager can recompute by hand."""
        lines = [
            f"Window: the last {self.window_days} whole days.",
            f"Shipped: {self.shipped} units (ship movements, net of cancelled put-backs).",
        ]
        out_days = self.window_days - self.in_stock_days
        if self.in_stock_days == 0:
            lines.append(f"In stock on 0 of {self.window_days} days: no demand data, daily rate 0.")
        else:
            lines.append(
                f"In stock on {self.in_stock_days} of {self.window_days} days"
                + (f" ({out_days} stock-out days are not zero-demand days)." if out_days else ".")
            )
            lines.append(
                f"Daily rate: {self.shipped} ÷ {self.in_stock_days} = {_n(self.rate)} units/day."
            )
        if not self.known:
            lines.append(NOT_COUNTED_WHY)
            lines.append(
                f"The ledger holds {self.on_hand} from receipts and movements so far, but other "
                "units may sit in bins not counted yet: no position, days of cover or "
                "suggestion until a count (a count task, or the counts CSV)."
            )
            return lines
        lines.append(
            f"Position: on-hand {self.on_hand} − committed {self.committed} "
            f"+ in-transit {self.in_transit} = {self.position}."
        )
        if self.days_of_cover is None:
            lines.append("Days of cover: no demand, so it does not run out (∞).")
        else:
            lines.append(
                f"Days of cover: {self.position} ÷ {_n(self.rate)} = {_n(self.days_of_cover)} days."
            )
        if self.policy_id is None:
            lines.append(
                "No reorder policy for this SKU and no default policy: no suggestion. "
                "Add a policy (or a default) in the admin."
            )
            return lines
        source = "its own policy" if self.own_policy else "the default policy"
        lines.append(
            f"Policy ({source}): supplier {self.supplier_name}, lead time "
            f"{self.lead_time_days} d, review period {self.review_period_days} d, "
            f"target {self.target_days} d, minimum order {self.min_order_qty}, "
            f"case pack {self.case_pack}."
        )
        if self.safety_stock_units is not None:
            lines.append(f"Safety stock: {self.safety_stock_units} units.")
        else:
            lines.append(
                f"Safety stock: {self.safety_stock_days} d × {_n(self.rate)} = "
                f"{_n(self.safety_stock)} units."
            )
        lines.append(
            f"Reorder point: {_n(self.rate)} × ({self.lead_time_days} + "
            f"{self.review_period_days}) + {_n(self.safety_stock)} = {_n(self.reorder_point)}."
        )
        lines.append(
            f"Target (order up to): reorder point {_n(self.reorder_point)} + {_n(self.rate)} × "
            f"{self.target_days} = {_n(self.target)}."
        )
        if self.suggested is None:
            if self.position > self.reorder_point + EPSILON:
                lines.append(
                    f"Position {self.position} is above the reorder point "
                    f"{_n(self.reorder_point)}: nothing to order yet."
                )
            else:
                lines.append(
                    f"Position {self.position} already reaches the target: nothing to order."
                )
            return lines
        lines.append(
            f"Raw need: target {_n(self.target)} − position {self.position} = "
            f"{_n(self.raw_need)} → {self.whole_need} whole units."
        )
        at_least = max(self.whole_need, self.min_order_qty)
        lines.append(
            f"Rounding: at least the minimum order {self.min_order_qty} → {at_least}; "
            f"up to whole cases of {self.case_pack} → {self.suggested}."
        )
        if self.on_draft:
            lines.append(f"Note: {self.on_draft} more are on a draft purchase order (not sent).")
        return lines


def _n(value: float | None) -> str:
    """A number as a person writes it: at most two decimals, no trailing zeros."""
    if value is None:
        return "—"
    if math.isclose(value, round(value), abs_tol=1e-9):
        return str(round(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


COVERAGE_FIELDS = [name for name in Coverage._fields if name != "window_days"]
POLICY_COLUMNS = [
    "supplier_id",
    "lead_time_days",
    "review_period_days",
    "safety_stock_days",
    "safety_stock_units",
    "min_order_qty",
    "case_pack",
    "target_days",
]


def _dialect(vendor: str) -> dict[str, str]:
    """The expressions SQLite and PostgreSQL spell differently.

    ``day`` is the whole day of the window a time falls on, counted from ``start`` (epoch
    seconds); the callers only apply it to times inside the window, so truncating is
    flooring.
    """
    if vendor == "postgresql":
        return {
            "day": "CAST(FLOOR((EXTRACT(EPOCH FROM {col}) - {start}) / 86400) AS INTEGER)",
            "ceil": "CAST(CEIL({x}) AS INTEGER)",
            # Each SKU's figures are computed once rather than inlined into every formula
            # that reads them (a subquery with an OFFSET is not merged into its parent).
            "once": "OFFSET 0",
        }
    if vendor == "sqlite":
        return {
            "day": "((CAST(strftime('%%s', {col}) AS INTEGER) - {start}) / 86400)",
            "ceil": "(CAST({x} AS INTEGER) + (({x}) > CAST({x} AS INTEGER)))",
            "once": "",
        }
    raise ImproperlyConfigured(f"Coverage runs on PostgreSQL and SQLite, not {vendor}.")


# This connection's temporary table of per-SKU inputs (PostgreSQL's pg_temp, SQLite's temp
# schema), made and dropped by each read.
INPUTS = "onefact_coverage_inputs"


def _inputs_sql(
    *, window: CoverageWindow, using: str, sku_ids: list[int] | None, active_only: bool = True
) -> tuple[str, list]:
    """The per-SKU inputs, one row per active SKU, into the temporary table.

    On-hand and open commitments come from inventory's grouped reads; ``known`` says the
    shelf has evidence for the SKU (inventory's ShelfEvidence, one row per SKU at most, so
    the join adds no rows); ``balance`` is the SKU's total on-hand at the window's end (the
    balance now, the shelf's truth, minus the movements since); ``net``, ``first_at``,
    ``shipped`` and ``added`` sum the window's movements (``moved`` says whether it had any).
    """
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    ledger, sku = StockMovement._meta.db_table, Sku._meta.db_table
    evidence = ShelfEvidence._meta.db_table
    on_hand, committed = shelf_selectors.on_hand_by_sku(), shelf_selectors.committed_by_sku()
    only_skus, only_moves, sku_params = "", "", []
    if sku_ids is not None:
        sku_params = list(sku_ids) or [0]
        on_hand = on_hand.filter(sku_id__in=sku_params)
        committed = committed.filter(sku_id__in=sku_params)
        listed = f"IN ({', '.join(['%s'] * len(sku_params))})"
        only_skus, only_moves = f" AND s.id {listed}", f" AND m.sku_id {listed}"
    on_hand_sql, on_hand_params = on_hand.query.get_compiler(using=using).as_sql()
    committed_sql, committed_params = committed.query.get_compiler(using=using).as_sql()
    sql = f"""
CREATE TEMP TABLE {INPUTS} AS
SELECT s.id AS sku_id, s.code, s.title,
       ev.sku_id IS NOT NULL AS known,
       COALESCE(oh.on_hand, 0) AS on_hand, COALESCE(cm.committed, 0) AS committed,
       COALESCE(oh.on_hand, 0) - COALESCE(l.net, 0) AS balance,
       t.sku_id IS NOT NULL AS moved, COALESCE(t.net, 0) AS net, t.first_at,
       COALESCE(t.shipped, 0) AS shipped, COALESCE(t.added, 0) AS added
FROM {sku} s
LEFT JOIN ({on_hand_sql}) oh ON oh.sku_id = s.id
LEFT JOIN ({committed_sql}) cm ON cm.sku_id = s.id
LEFT JOIN {evidence} ev ON ev.sku_id = s.id
LEFT JOIN (
    SELECT m.sku_id, SUM(m.quantity) AS net, MIN(m.created_at) AS first_at,
           -SUM(CASE WHEN m.kind = 'ship' THEN m.quantity ELSE 0 END) AS shipped,
           SUM(CASE WHEN m.quantity > 0 THEN m.quantity ELSE 0 END) AS added
    FROM {ledger} m
    WHERE m.created_at >= %s AND m.created_at < %s{only_moves}
    GROUP BY m.sku_id
) t ON t.sku_id = s.id
LEFT JOIN (
    SELECT m.sku_id, SUM(m.quantity) AS net FROM {ledger} m
    WHERE m.created_at >= %s{only_moves} GROUP BY m.sku_id
) l ON l.sku_id = s.id
WHERE {"s.active" if active_only else "TRUE"}{only_skus}
"""
    params = [
        *on_hand_params,
        *committed_params,
        adapt(window.start),
        adapt(window.end),
        *sku_params,
        adapt(window.end),
        *sku_params,
        *sku_params,
    ]
    return sql, params


def _day_expr(connection, window: CoverageWindow):
    d = _dialect(connection.vendor)
    start_epoch = int(window.start.timestamp())

    def day(column: str) -> str:
        return d["day"].format(col=column, start=start_epoch)

    return day


def _figures_ctes(*, window: CoverageWindow, using: str) -> tuple[str, list]:
    """``quiet`` and ``figures``: each staged SKU's units shipped and in-stock days.

    In-stock days, set-based. A day counts as in stock when it opened with stock or had any
    movement (the total never goes below zero, so a day's first movement from zero is a
    receipt that left stock). So the stock-out days are the quiet days after a movement that
    left the SKU's total at zero and, when the window opened with nothing, the quiet days
    before its first movement. Walking back from the window's end over the movements, newest
    first (one window function), gives the total after each one. Only SKUs that can have hit
    zero are walked: going back from the end, the total can fall by no more than the units
    added during the window, so a SKU whose closing total exceeds them was in stock every
    day. The window's movements are all in the past, so the walk reads the same rows the
    inputs summed.
    """
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    ledger = StockMovement._meta.db_table
    day = _day_expr(connection, window)
    days = int(window.days)
    sql = f"""
quiet AS (
    SELECT sku_id, SUM(CASE WHEN balance_after <= 0 AND next_day > day + 1
                            THEN next_day - day - 1 ELSE 0 END) AS out_days
    FROM (
        SELECT m.sku_id, {day("m.created_at")} AS day,
               k.balance - SUM(m.quantity) OVER w + m.quantity AS balance_after,
               LAG({day("m.created_at")}, 1, {days}) OVER w AS next_day
        FROM {ledger} m JOIN {INPUTS} k ON k.sku_id = m.sku_id
        WHERE k.balance - k.added <= 0 AND m.created_at >= %s AND m.created_at < %s
        WINDOW w AS (PARTITION BY m.sku_id ORDER BY m.created_at DESC, m.id DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ) walked
    GROUP BY sku_id
),
figures AS (
    SELECT i.sku_id,
           CASE WHEN i.shipped > 0 THEN i.shipped ELSE 0 END AS shipped,
           CASE WHEN NOT i.moved THEN (CASE WHEN i.balance > 0 THEN {days} ELSE 0 END)
                ELSE {days} - COALESCE(q.out_days, 0)
                     - (CASE WHEN i.balance - i.net <= 0
                             THEN {day("i.first_at")} ELSE 0 END)
           END AS in_stock_days
    FROM {INPUTS} i LEFT JOIN quiet q ON q.sku_id = i.sku_id
)"""
    return sql, [adapt(window.start), adapt(window.end)]


def figures_sql(*, window: CoverageWindow, using: str) -> tuple[str, list]:
    """Every staged SKU's (sku_id, shipped, in_stock_days), from the raw ledger (run it in
    ``staged_inputs``)."""
    ctes, params = _figures_ctes(window=window, using=using)
    return f"WITH {ctes}\nSELECT sku_id, shipped, in_stock_days FROM figures", params


@dataclass(frozen=True)
class Kept:
    """A read from the kept history: the figures of ``SalesWindow``, except the SKUs the
    unfolded tail of the ledger touched (``fresh``: their figures recomputed from the
    ledger for this read)."""

    fresh: list[tuple[int, int, int]]


def _kept_inputs_ctes(*, using: str, sku_ids: list[int] | None, kept: Kept) -> tuple[str, list]:
    """``figures`` from the kept history and ``inputs``: the live shelf, read now."""
    from replenishment.models import SalesWindow

    kept_table = SalesWindow._meta.db_table
    sku, evidence = Sku._meta.db_table, ShelfEvidence._meta.db_table
    on_hand, committed = shelf_selectors.on_hand_by_sku(), shelf_selectors.committed_by_sku()
    only_skus, sku_params = "", []
    if sku_ids is not None:
        sku_params = list(sku_ids) or [0]
        on_hand = on_hand.filter(sku_id__in=sku_params)
        committed = committed.filter(sku_id__in=sku_params)
        only_skus = f" AND s.id IN ({', '.join(['%s'] * len(sku_params))})"
    on_hand_sql, on_hand_params = on_hand.query.get_compiler(using=using).as_sql()
    committed_sql, committed_params = committed.query.get_compiler(using=using).as_sql()
    params: list = []
    figures = f"SELECT sku_id, shipped, sellable_days AS in_stock_days FROM {kept_table}"
    if kept.fresh:
        fresh_ids = [row[0] for row in kept.fresh]
        figures += f" WHERE sku_id NOT IN ({', '.join(['%s'] * len(fresh_ids))})"
        values = ", ".join(["(%s, %s, %s)"] * len(kept.fresh))
        figures += (
            f"\n    UNION ALL SELECT column1, column2, column3 FROM (VALUES {values}) AS fresh"
        )
        params += fresh_ids + [value for row in kept.fresh for value in row]
    sql = f"""
figures AS ({figures}),
inputs AS (
    SELECT s.id AS sku_id, s.code, s.title, ev.sku_id IS NOT NULL AS known,
           COALESCE(oh.on_hand, 0) AS on_hand, COALESCE(cm.committed, 0) AS committed
    FROM {sku} s
    LEFT JOIN ({on_hand_sql}) oh ON oh.sku_id = s.id
    LEFT JOIN ({committed_sql}) cm ON cm.sku_id = s.id
    LEFT JOIN {evidence} ev ON ev.sku_id = s.id
    WHERE s.active{only_skus}
)"""
    return sql, [*params, *on_hand_params, *committed_params, *sku_params]


def _coverage_sql(
    *,
    window: CoverageWindow,
    using: str,
    supplier_id: int | None,
    needed_only: bool,
    uncounted_only: bool,
    sort: str | None,
    limit: int | None,
    offset: int,
    kept: Kept | None = None,
    sku_ids: list[int] | None = None,
) -> tuple[str, list]:
    """Every SKU's position and suggestion, from its inputs and its window's figures.

    The figures (units shipped, in-stock days) come either from the staged inputs and the
    raw ledger (``_figures_ctes``) or, with ``kept``, from the kept history; the rest (the
    shelf's on-hand, commitments, in-transit, the policy) is read live either way.
    """
    connection = connections[using]
    d = _dialect(connection.vendor)
    policy = ReorderPolicy._meta.db_table
    supplier = Supplier._meta.db_table
    line = PurchaseOrderLine._meta.db_table
    po = PurchaseOrder._meta.db_table
    transfer, transfer_line = Transfer._meta.db_table, TransferLine._meta.db_table
    ceil = d["ceil"].format
    days = int(window.days)  # a whole number of our own making, written into the statement
    paged = limit is not None

    if kept is None:
        figures_sql, params = _figures_ctes(window=window, using=using)
        figures_sql += f""",
inputs AS (SELECT sku_id, code, title, known, on_hand, committed FROM {INPUTS})"""
    else:
        figures_sql, params = _kept_inputs_ctes(using=using, sku_ids=sku_ids, kept=kept)

    # A SKU's own policy, or else the default (one row at most: a unique constraint), each
    # with its supplier's name: each column picked from the two, rather than a third join
    # on the policy picked and a fourth on its supplier (which, merged, sorted the whole
    # catalog by supplier first).
    policies = (
        f"(SELECT p.id, p.sku_id, {', '.join(f'p.{name}' for name in POLICY_COLUMNS)}, "
        f"sup.name AS supplier_name FROM {policy} p JOIN {supplier} sup ON sup.id = p.supplier_id)"
    )
    policy_columns = ",\n           ".join(
        [
            "CASE WHEN own.id IS NULL THEN dflt.id ELSE own.id END AS policy_id",
            *(
                f"CASE WHEN own.id IS NULL THEN dflt.{name} ELSE own.{name} END AS {name}"
                for name in [*POLICY_COLUMNS, *([] if paged else ["supplier_name"])]
            ),
        ]
    )
    open_statuses = list(PurchaseOrder.OPEN)
    # A page carries no titles or supplier names through the whole catalog's rows: they
    # are joined to the page's own rows once the server has picked them.
    title = "" if paged else " i.title,"

    sql = f"""
WITH {figures_sql},
transit AS (  -- open purchase orders' outstanding units and dispatched transfers' unreceived
    SELECT sku_id, SUM(in_transit) AS in_transit, SUM(on_draft) AS on_draft
    FROM (
        SELECT l.sku_id,
               CASE WHEN o.status IN (%s, %s) AND l.ordered > l.received
                    THEN l.ordered - l.received ELSE 0 END AS in_transit,
               CASE WHEN o.status = %s THEN l.ordered ELSE 0 END AS on_draft
        FROM {line} l JOIN {po} o ON o.id = l.po_id
        WHERE o.status IN (%s, %s, %s)
        UNION ALL
        SELECT tl.sku_id, tl.quantity - tl.received, 0
        FROM {transfer_line} tl JOIN {transfer} tr ON tr.id = tl.transfer_id
        WHERE tr.status IN (%s, %s) AND tl.quantity > tl.received
    ) moving
    GROUP BY sku_id
),
base AS (
    SELECT i.sku_id, i.code,{title} i.known, i.on_hand, i.committed,
           COALESCE(t.in_transit, 0) AS in_transit, COALESCE(t.on_draft, 0) AS on_draft,
           COALESCE(f.shipped, 0) AS shipped, COALESCE(f.in_stock_days, 0) AS in_stock_days,
           {policy_columns}, own.id IS NOT NULL AS own_policy
    FROM inputs i
    LEFT JOIN figures f ON f.sku_id = i.sku_id
    LEFT JOIN transit t ON t.sku_id = i.sku_id
    LEFT JOIN {policies} own ON own.sku_id = i.sku_id
    LEFT JOIN {policies} dflt ON dflt.sku_id IS NULL
    {d["once"]}
),
rated AS (
    SELECT base.*,
           CASE WHEN in_stock_days > 0
                THEN CAST(shipped AS DOUBLE PRECISION) / in_stock_days ELSE 0.0 END AS rate,
           CASE WHEN known THEN on_hand - committed + in_transit END AS position
    FROM base
),
safety AS (
    SELECT rated.*,
           CASE WHEN policy_id IS NULL THEN NULL
                WHEN safety_stock_units IS NOT NULL
                THEN CAST(safety_stock_units AS DOUBLE PRECISION)
                ELSE rate * safety_stock_days END AS safety_stock
    FROM rated
),
points AS (
    SELECT safety.*,
           CASE WHEN rate > 0 THEN position / rate END AS days_of_cover,
           rate * (lead_time_days + review_period_days) + safety_stock AS reorder_point
    FROM safety
),
targets AS (
    SELECT points.*,
           reorder_point + rate * target_days AS target,
           reorder_point + rate * target_days - position AS raw_need
    FROM points
),
needs AS (
    SELECT targets.*,
           CASE WHEN policy_id IS NOT NULL AND position <= reorder_point + {EPSILON}
                     AND raw_need > {EPSILON}
                THEN {ceil(x=f"(raw_need - {EPSILON})")} END AS whole_need
    FROM targets
),
planned AS (
    SELECT needs.*,
           CASE WHEN whole_need IS NULL THEN NULL
                ELSE ((CASE WHEN whole_need < min_order_qty THEN min_order_qty ELSE whole_need END)
                      + case_pack - 1) / case_pack * case_pack END AS suggested,
           CASE WHEN NOT known THEN {UNCOUNTED}
                WHEN policy_id IS NULL THEN 0
                WHEN position < rate * lead_time_days THEN 3
                WHEN whole_need IS NOT NULL THEN 2
                ELSE 1 END AS urgency
    FROM needs
)
"""
    params += [
        *open_statuses,
        PurchaseOrder.Status.DRAFT,
        *open_statuses,
        PurchaseOrder.Status.DRAFT,
        *Transfer.OPEN,
    ]
    where = []
    if supplier_id is not None:
        where.append("supplier_id = %s")
        params.append(supplier_id)
    if needed_only:
        where.append("suggested IS NOT NULL")
    if uncounted_only:
        where.append("NOT known")
    where_sql = ("WHERE " + " AND ".join(where) + "\n") if where else ""
    order_sql = f"ORDER BY {SORTS.get(sort, SORTS['urgency'])}\n" if sort is not None else ""
    if not paged:
        columns = ", ".join([*COVERAGE_FIELDS, f"{days} AS window_days"])
        return sql + f"SELECT {columns}\nFROM planned\n{where_sql}{order_sql}", params
    # A page: its rows picked (and how many rows there are in all) before their titles and
    # supplier names are read; the same order again for the page's own rows, each key the
    # page's (SQLite finds a bare "code" ambiguous beside the catalog's).
    outer_order_sql = (
        order_sql
        and "ORDER BY "
        + ", ".join(f"page.{key.strip()}" for key in SORTS.get(sort, SORTS["urgency"]).split(","))
        + "\n"
    )
    inner = ", ".join(name for name in COVERAGE_FIELDS if name not in ("title", "supplier_name"))
    picked = {"title": "s.title", "supplier_name": "sup.name AS supplier_name"}
    columns = ", ".join(picked.get(name, f"page.{name}") for name in COVERAGE_FIELDS)
    sql += f"""SELECT {columns}, {days} AS window_days, page.total
FROM (
    SELECT {inner}, COUNT(*) OVER () AS total
    FROM planned
    {where_sql}{order_sql}LIMIT %s OFFSET %s
) page
JOIN {Sku._meta.db_table} s ON s.id = page.sku_id
LEFT JOIN {supplier} sup ON sup.id = page.supplier_id
{outer_order_sql}"""
    return sql, [*params, limit, offset]


@contextmanager
def _staged(
    *,
    window: CoverageWindow,
    using: str,
    sku_ids: list[int] | None,
    active_only: bool = True,
    jit_off: bool = False,
) -> Iterator:
    """A cursor, in a transaction, with this read's per-SKU inputs in the temporary table.

    Two steps rather than one statement: the planner knows the staged table's size and the
    spread of its SKUs, where it had to guess the sizes of a chain of CTEs (guesses off by
    up to 10^16 rows, which made the plan, and the time, change with each ANALYZE of the
    ledger). On PostgreSQL the formulas' estimated cost is high enough for the JIT compiler,
    which then spends longer compiling them than running them: JIT is off for the
    transaction. The table goes with the transaction when a read fails.
    """
    connection = connections[using]
    postgresql = connection.vendor == "postgresql"
    # No savepoint inside an outer transaction: the steps only read the shelf.
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        if postgresql and not jit_off:
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            *_inputs_sql(window=window, using=using, sku_ids=sku_ids, active_only=active_only)
        )
        if postgresql:
            cursor.execute(f"ANALYZE {INPUTS} (sku_id)")
        yield cursor
        cursor.execute(f"DROP TABLE {INPUTS}")


staged_inputs = _staged  # the kept history's rebuild stages the same inputs


def _rows_as_coverages(cursor) -> None:
    """Have the driver make each result row a Coverage (the columns in its order) as it
    reads it: no tuple per row to copy and drop, which for a whole catalog is 100,000
    objects less for the garbage collector to go over."""
    if cursor.db.vendor == "postgresql":
        cursor.cursor.row_factory = lambda _cursor: Coverage._make
    else:
        cursor.cursor.row_factory = lambda _cursor, row: Coverage._make(row)


def _paged(rows: list[tuple]) -> list[Coverage]:
    """A page's result rows (the Coverage fields, then the total) as Coverages."""
    return [Coverage._make(row[:-1]) for row in rows]


@dataclass
class CoveragePage:
    """One page of suggestions and the number of SKUs matching the filters."""

    rows: list[Coverage]
    number: int
    per_page: int
    count: int
    window: CoverageWindow

    def __iter__(self):
        return iter(self.rows)

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(self.count / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_other_pages(self) -> bool:
        return self.num_pages > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


# More SKUs than this touched by the unfolded tail, and a read recomputes every SKU from the
# ledger (as before the history was kept) rather than each of them; the next fold catches up.
FRESH_LIMIT = 500


def _tail_skus(
    *,
    window: CoverageWindow,
    using: str,
    sku_ids: list[int] | None,
    limit: int | None = FRESH_LIMIT,
    merge_joins: bool = False,
) -> list | None:
    """The SKUs whose kept figures the unfolded ledger rows (the tail) may have changed, or
    None when the kept history is not of this window (not built yet, or the day turned).

    ``merge_joins`` (a whole catalog read from the kept history): on PostgreSQL, hash joins
    are off for the rest of the read's transaction when the history is of this window. Every
    set the read joins (the catalog, on-hand by SKU, the shelf's evidence, the kept figures,
    the policies) comes off an index in SKU order, so merging them streams; hashing builds a
    table of 100,000 rows for each, which took about twice as long at full scale, more so on
    a busy machine.

    The tail is every ledger row above the watermark, or at a gap below it, dated before
    the window's end: a movement backdated into a closed day. Today's movements change the
    shelf now, not the closed days' figures, so they leave the kept figures as they are.
    """
    from replenishment.models import SalesHistoryGap, SalesHistoryState

    connection = connections[using]
    ops = connection.ops
    ledger, gaps = StockMovement._meta.db_table, SalesHistoryGap._meta.db_table
    state = SalesHistoryState._meta.db_table
    only, only_params = "", []
    if sku_ids is not None:
        only_params = list(sku_ids) or [0]
        only = f" AND m.sku_id IN ({', '.join(['%s'] * len(only_params))})"
    kept = f"FROM {state} WHERE id = 1 AND first_day = %s AND days = %s"
    kept_params = [ops.adapt_datefield_value(window.first_day), int(window.days)]
    end = ops.adapt_datetimefield_value(window.end)
    # One statement: a NULL row when the kept history is of this window, and the tail's SKUs.
    union = f"""SELECT NULL {kept}
                UNION
                SELECT m.sku_id FROM {ledger} m
                WHERE m.id > (SELECT watermark {kept}) AND m.created_at < %s{only}
                UNION
                SELECT m.sku_id FROM {gaps} g JOIN {ledger} m ON m.id = g.ledger_id
                WHERE EXISTS (SELECT 1 {kept}) AND m.created_at < %s{only}
                {"" if limit is None else f"LIMIT {int(limit) + 2}"}"""
    params = [*kept_params, *kept_params, end, *only_params, *kept_params, end, *only_params]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # And, in the same round trip, JIT off for the rest of the read's transaction:
            # the formulas' estimated cost wakes the compiler, which compiles longer than
            # the query runs.
            merge = "'off'" if merge_joins else "current_setting('enable_hashjoin')"
            cursor.execute(
                f"SELECT set_config('jit', 'off', true), set_config('enable_hashjoin', "
                f"CASE WHEN EXISTS (SELECT 1 {kept}) THEN {merge} "
                f"ELSE current_setting('enable_hashjoin') END, true), ARRAY({union})",
                [*kept_params, *params],
            )
            rows = cursor.fetchone()[2]
        else:
            cursor.execute(union, params)
            rows = [row[0] for row in cursor.fetchall()]
    if None not in rows:
        return None
    return [sku_id for sku_id in rows if sku_id is not None]


def window_figures(
    *, window: CoverageWindow, using: str = "default", sku_ids: list[int] | None = None
) -> list[tuple[int, int, int]]:
    """(sku_id, shipped, in_stock_days) of every SKU, active or not (or of ``sku_ids``),
    recomputed from the raw ledger: what the kept history must hold."""
    with _staged(window=window, using=using, sku_ids=sku_ids, active_only=False) as cursor:
        cursor.execute(*figures_sql(window=window, using=using))
        return cursor.fetchall()


@contextmanager
def _reading(
    *, window: CoverageWindow, using: str, sku_ids: list[int] | None, kept_history: bool = True
) -> Iterator[tuple]:
    """A cursor, in a transaction, and how the window's figures are read: ``Kept`` (from
    the kept history, the tail's SKUs recomputed) or None (the inputs staged and every
    SKU's figures computed from the raw ledger, as every read did before the history)."""
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):
        # On PostgreSQL this also turns JIT off for the transaction, and hash joins for a
        # whole catalog read from the kept history (see ``_tail_skus``).
        merge_joins = kept_history and sku_ids is None
        tail = _tail_skus(window=window, using=using, sku_ids=sku_ids, merge_joins=merge_joins)
        if not kept_history or tail is None or len(tail) > FRESH_LIMIT:
            if merge_joins and tail is not None and connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # staging the ledger's sums hashes them
                    cursor.execute("SET LOCAL enable_hashjoin = DEFAULT")
            with _staged(window=window, using=using, sku_ids=sku_ids, jit_off=True) as cursor:
                yield cursor, None
            return
        fresh = window_figures(window=window, using=using, sku_ids=tail) if tail else []
        with connection.cursor() as cursor:
            yield cursor, Kept(fresh=fresh)


def coverage_rows(
    *,
    now: datetime | None = None,
    window_days: int | None = None,
    supplier_id: int | None = None,
    sku_ids: list[int] | None = None,
    needed_only: bool = False,
    uncounted_only: bool = False,
    sort: str = "urgency",
    limit: int | None = None,
    offset: int = 0,
    using: str = "default",
    kept_history: bool = True,
) -> list[Coverage]:
    """Coverage of every active SKU (or of ``sku_ids``): one query over the live shelf and
    the window's figures, kept or recomputed (sorted here when every row is fetched, by the
    server when a page is). ``kept_history=False`` recomputes every figure from the ledger."""
    window = coverage_window(now=now, days=window_days)
    common = dict(
        window=window,
        using=using,
        supplier_id=supplier_id,
        needed_only=needed_only,
        uncounted_only=uncounted_only,
        sort=sort if limit is not None else None,
        limit=limit,
        offset=offset,
        sku_ids=sku_ids,
    )
    with _reading(window=window, using=using, sku_ids=sku_ids, kept_history=kept_history) as (
        cursor,
        kept,
    ):
        sql, params = _coverage_sql(kept=kept, **common)
        if limit is not None:
            cursor.execute(sql, params)
            return _paged(cursor.fetchall())
        _rows_as_coverages(cursor)
        cursor.execute(sql, params)
        coverages = cursor.fetchall()
    for key, reverse in SORT_PASSES.get(sort, SORT_PASSES["urgency"]):
        coverages.sort(key=key, reverse=reverse)
    return coverages


def coverage_for_sku(*, sku, now: datetime | None = None, window_days: int | None = None):
    """One SKU's coverage (None for a SKU the catalog no longer has)."""
    rows = coverage_rows(sku_ids=[sku.pk], now=now, window_days=window_days)
    return rows[0] if rows else None


def coverage_page(
    *,
    page: int = 1,
    per_page: int = 50,
    supplier_id: int | None = None,
    needed_only: bool = True,
    uncounted_only: bool = False,
    sort: str = "urgency",
    now: datetime | None = None,
) -> CoveragePage:
    """One page of suggestions with the total, in one query (two past the last page): the
    server sorts every SKU's figures and sends only the page's rows."""
    window = coverage_window(now=now)
    page = max(page, 1)
    common = dict(
        window=window,
        using="default",
        supplier_id=supplier_id,
        needed_only=needed_only,
        uncounted_only=uncounted_only,
        sort=sort,
        limit=per_page,
    )
    with _reading(window=window, using="default", sku_ids=None) as (cursor, kept):
        cursor.execute(*_coverage_sql(offset=(page - 1) * per_page, kept=kept, **common))
        rows = cursor.fetchall()
        if not rows and page > 1:  # past the end: show the last page
            cursor.execute(*_coverage_sql(offset=0, kept=kept, **common))
            first = cursor.fetchone()
            count = first[-1] if first else 0
            page = max(1, math.ceil(count / per_page))
            cursor.execute(*_coverage_sql(offset=(page - 1) * per_page, kept=kept, **common))
            rows = cursor.fetchall()
    count = rows[0][-1] if rows else 0
    return CoveragePage(
        rows=_paged(rows),
        number=page,
        per_page=per_page,
        count=count,
        window=window,
    )


def coverage_iter(
    *,
    supplier_id: int | None = None,
    needed_only: bool = True,
    uncounted_only: bool = False,
    sort: str = "urgency",
    now: datetime | None = None,
    chunk: int = 2000,
    using: str = "default",
) -> Iterator[Coverage]:
    """Every matching SKU's coverage, streamed (the CSV export): one query, sorted by the
    server and read through a server-side cursor ``chunk`` rows at a time on PostgreSQL, so
    memory stays flat whatever the catalog's size."""
    window = coverage_window(now=now)
    connection = connections[using]
    with _reading(window=window, using=using, sku_ids=None) as (cursor, kept):
        sql, params = _coverage_sql(
            window=window,
            using=using,
            supplier_id=supplier_id,
            needed_only=needed_only,
            uncounted_only=uncounted_only,
            sort=sort,
            limit=None,
            offset=0,
            kept=kept,
        )
        if connection.vendor == "postgresql":
            # Every row will be read: plan for the whole result, not its first tenth (a
            # cursor's default), and sort 100,000 wide rows in memory, not on disk.
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        with connection.chunked_cursor() as stream:
            _rows_as_coverages(stream)
            if connection.vendor == "postgresql":
                stream.cursor.itersize = chunk
            stream.execute(sql, params)
            while rows := stream.fetchmany(chunk):
                yield from rows
