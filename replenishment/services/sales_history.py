"""The kept sales history: each SKU's figures over the current window of closed days.

Why it exists: a suggestion needs every SKU's units shipped and in-stock days over the
window (the 28 whole days before today), and working them out walks a month of the ledger
(two thirds of a million rows at 100,000 SKUs), which made every suggestions page cost the
whole catalog's history. Those figures are facts about days that are over: they change only
when the day turns or when a movement is dated into one of them. So they are kept, one row
per SKU (``SalesWindow``), and a read joins them to the live shelf (on-hand, commitments,
in-transit: never kept here).

How it stays equal to the ledger without touching the write path: the single state row
holds a watermark, the highest ledger id folded in (with the ids below it that had no
committed row then, ``SalesHistoryGap``: ids are taken before commit, so a slow transaction
can commit below the watermark). A read takes the rows above the watermark (and at the
gaps) from the ledger itself; those dated before today (a backdated movement) mark their
SKU, whose figures that read recomputes from the ledger. So a backdated movement counts at
once; ``sales_history_fold`` (beat, every minute) recomputes those SKUs' rows and moves the
watermark, and when the day has turned it rebuilds every row for the new window. Each fold
recomputes a SKU's figures whole from the ledger, never adds to them: folding a row twice
changes nothing.

``manage.py rebuild_sales_history`` rebuilds from the ledger; ``manage.py verify_ledger``
recomputes every SKU's figures and reports each one that differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inventory.models import StockMovement
from replenishment.models import SalesHistoryGap, SalesHistoryState, SalesWindow
from replenishment.selectors.coverage import (
    CoverageWindow,
    coverage_window,
    figures_sql,
    staged_inputs,
    window_figures,
)

# A ledger id missing below the watermark this long is a rolled-back movement, not a slow one.
GAP_GRACE = timedelta(hours=1)
# A rebuild looks for ids not committed yet among this many below the highest.
GAP_SCAN = 10_000
# A fold whose tail touches more SKUs than this rebuilds every row instead (one pass).
FOLD_REBUILD_ABOVE = 5_000
BATCH = 5_000


@dataclass
class FoldReport:
    rebuilt: bool
    skus: int
    watermark: int
    gaps: int

    def summary(self) -> str:
        what = "rebuilt" if self.rebuilt else "folded"
        return (
            f"Sales history {what}: {self.skus} SKU(s) recomputed, ledger folded up to id "
            f"{self.watermark}, {self.gaps} id(s) awaiting their commit."
        )


def _locked_state(using: str) -> SalesHistoryState:
    """The state row, locked: one fold or rebuild at a time."""
    state, _ = SalesHistoryState.objects.using(using).select_for_update().get_or_create(pk=1)
    return state


def _missing(using: str, low: int, high: int) -> list[int]:
    """Ledger ids in (low, high] that have no committed row."""
    if high <= low:
        return []
    seen = set(
        StockMovement.objects.using(using)
        .filter(id__gt=low, id__lte=high)
        .values_list("id", flat=True)
    )
    return [i for i in range(low + 1, high + 1) if i not in seen]


def _write_rows(using: str, rows) -> int:
    """Insert the figures worth a row (a SKU that shipped nothing and was never in stock
    in the window has none)."""
    kept = [
        SalesWindow(sku_id=sku_id, shipped=shipped, sellable_days=days)
        for sku_id, shipped, days in rows
        if shipped or days
    ]
    SalesWindow.objects.using(using).bulk_create(kept, batch_size=BATCH)
    return len(rows)


def _insert_all(*, window: CoverageWindow, using: str) -> int:
    """Every SKU's figures written from the ledger in one statement, set-based."""
    table = SalesWindow._meta.db_table
    with staged_inputs(window=window, using=using, sku_ids=None, active_only=False) as cursor:
        sql, params = figures_sql(window=window, using=using)
        cursor.execute(
            f"INSERT INTO {table} (sku_id, shipped, sellable_days) "
            f"SELECT sku_id, shipped, in_stock_days FROM ({sql}) f "
            "WHERE shipped > 0 OR in_stock_days > 0",
            params,
        )
        return cursor.rowcount


def sales_history_rebuild(*, now: datetime | None = None, using: str = "default") -> FoldReport:
    """Every SKU's figures recomputed from the ledger for today's window."""
    with transaction.atomic(using=using):
        return _rebuild(now=now or timezone.now(), using=using, state=None)


def _rebuild(*, now: datetime, using: str, state) -> FoldReport:
    window = coverage_window(now=now)
    state = state or _locked_state(using)
    # The watermark and the gaps first, the figures after: every row the watermark covers
    # was committed before the figures were read, so the figures include it.
    top = StockMovement.objects.using(using).aggregate(top=Max("id"))["top"] or 0
    missing = _missing(using, max(0, top - GAP_SCAN), top)
    SalesHistoryGap.objects.using(using).all().delete()
    SalesHistoryGap.objects.using(using).bulk_create(
        [SalesHistoryGap(ledger_id=i, seen_at=now) for i in missing]
    )
    SalesWindow.objects.using(using).all().delete()
    skus = _insert_all(window=window, using=using)
    _save(state, window=window, watermark=top, now=now, built=True, using=using)
    return FoldReport(rebuilt=True, skus=skus, watermark=top, gaps=len(missing))


def _save(state, *, window: CoverageWindow, watermark: int, now, built: bool, using: str):
    state.first_day, state.days, state.watermark = window.first_day, window.days, watermark
    state.folded_at = now
    if built:
        state.built_at = now
    state.save(using=using)


def sales_history_fold(*, now: datetime | None = None, using: str = "default") -> FoldReport:
    """Fold the ledger's new rows in: the SKUs with a movement dated before today are
    recomputed; the whole history is rebuilt when the day has turned (or was never built)."""
    with transaction.atomic(using=using):
        return _fold(now=now or timezone.now(), using=using)


def _fold(*, now: datetime, using: str) -> FoldReport:
    window = coverage_window(now=now)
    state = _locked_state(using)
    if state.first_day != window.first_day or state.days != window.days:
        return _rebuild(now=now, using=using, state=state)
    gaps = SalesHistoryGap.objects.using(using)
    gap_ids = list(gaps.values_list("ledger_id", flat=True))
    tail = list(
        StockMovement.objects.using(using)
        .filter(id__gt=state.watermark)
        .values_list("id", "sku_id", "created_at")
        .order_by()
    ) + list(
        StockMovement.objects.using(using)
        .filter(id__in=gap_ids)
        .values_list("id", "sku_id", "created_at")
        .order_by()
    )
    top = max([state.watermark, *(row[0] for row in tail)])
    present = {row[0] for row in tail}
    gaps.filter(ledger_id__in=present).delete()
    gaps.filter(seen_at__lt=now - GAP_GRACE).delete()
    new_gaps = [i for i in _missing(using, state.watermark, top) if i not in present]
    gaps.bulk_create([SalesHistoryGap(ledger_id=i, seen_at=now) for i in new_gaps])
    touched = sorted({sku_id for _id, sku_id, at in tail if at < window.end})
    if len(touched) > FOLD_REBUILD_ABOVE:
        return _rebuild(now=now, using=using, state=state)
    if touched:
        figures = window_figures(window=window, using=using, sku_ids=touched)
        SalesWindow.objects.using(using).filter(sku_id__in=touched).delete()
        _write_rows(using, figures)
    _save(state, window=window, watermark=top, now=now, built=False, using=using)
    return FoldReport(rebuilt=False, skus=len(touched), watermark=top, gaps=gaps.count())
