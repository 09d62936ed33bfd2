"""Replenishment's benchmark section: coverage of every SKU, set-based.

Full size: 100,000 SKUs with 1,000,000 ledger rows over the last ~6 weeks (about half in
the 28-day window), balances equal to their ledger, open commitments, purchase orders in
transit, a default policy and per-SKU policies, and every SKU known to the shelf (shelf
evidence, as on a store past its go-live, so every SKU's figures are worked out). Timed:
the kept sales history rebuilt from the ledger (once a day), every SKU's coverage streamed
as the CSV export reads it (and how far the process's resident memory rose meanwhile), every
SKU's coverage fetched into a list, the same recomputed from the raw ledger (as every read
did before the history was kept), and the suggestions page through its view (p50, p95 of
15 requests, its query count).
"""

import contextlib
import ctypes
import gc
import resource
import statistics
import threading
import time

from django.utils import timezone

from inventory.bench import BenchContext, register
from inventory.models import Bin, Commitment, OnHand, ShelfEvidence, Sku, StockMovement, System
from replenishment.models import PurchaseOrder, PurchaseOrderLine, ReorderPolicy, Supplier
from replenishment.selectors import coverage_iter, coverage_rows

FULL_SKUS = 100_000
FULL_LEDGER_ROWS = 1_000_000
HISTORY_DAYS = 42


def _table(model) -> str:
    return model._meta.db_table


def _load(ctx: BenchContext, *, skus: int, ledger_rows: int) -> int:
    now = timezone.now()
    bins = max(10, skus // 50)
    shelf = System.objects.using(ctx.alias).get(name="shelf").pk
    storefront = System.objects.using(ctx.alias).get(name="storefront").pk
    tables = [_table(m) for m in (Bin, Sku, StockMovement, OnHand, ShelfEvidence)]
    warehouse = ctx.bin_warehouse("i")
    with ctx.bulk_load(*tables, seed=0.2024) as cursor:
        ctx.progress(f"loading {skus:,} SKUs in {bins:,} bins")
        cursor.execute(
            f"INSERT INTO {_table(Bin)} (id, code, zone, walk_order, active, warehouse_id) "
            f"SELECT i, 'B-' || {ctx.zero_padded('i', 5)}, 'Z', i, TRUE, {warehouse} "
            f"FROM {ctx.numbers(bins)}",
            [],
        )
        cursor.execute(
            f"INSERT INTO {_table(Sku)} (id, code, title, active, unit_cost) "
            f"SELECT i, 'S-' || {ctx.zero_padded('i', 6)}, 'Item ' || i, TRUE, 1 "
            f"FROM {ctx.numbers(skus)}",
            [],
        )
        ctx.progress(f"loading {ledger_rows:,} ledger rows")
        loaded = _load_ledger(ctx, cursor, skus=skus, ledger_rows=ledger_rows, bins=bins,
                              shelf=shelf, storefront=storefront, now=now)  # fmt: skip
        cursor.execute(
            f"INSERT INTO {_table(OnHand)} (bin_id, sku_id, quantity, updated_at) "
            f"SELECT bin_id, sku_id, SUM(quantity), %s FROM {_table(StockMovement)} "
            f"GROUP BY bin_id, sku_id ORDER BY sku_id",
            [ctx.param(now)],
        )
        cursor.execute(  # every SKU known, in one statement
            f"INSERT INTO {_table(ShelfEvidence)} (sku_id, kind, reference, recorded_at) "
            f"SELECT id, %s, '', %s FROM {_table(Sku)}",
            [ShelfEvidence.Kind.ADOPTED, ctx.param(now)],
        )
    ctx.progress("loading commitments, policies and purchase orders")
    ctx.bulk_insert(
        _table(Commitment),
        ["sku_id", "source_system_id", "order_ref", "line_ref", "quantity", "status", "created_at"],
        (
            (sku, storefront, f"#B{sku}", "1", 1 + sku % 3, "open", now)
            for sku in range(1, skus + 1, 20)
        ),
    )
    ctx.bulk_insert(
        _table(Supplier),
        ["id", "name", "email", "active"],
        ((i, f"Supplier {i}", "", True) for i in range(1, 21)),
    )
    policy_columns = [
        "sku_id",
        "supplier_id",
        "lead_time_days",
        "review_period_days",
        "safety_stock_days",
        "safety_stock_units",
        "min_order_qty",
        "case_pack",
        "target_days",
        "updated_at",
    ]
    ctx.bulk_insert(
        _table(ReorderPolicy), policy_columns, [(None, 1, 7, 7, 3, None, 1, 1, 14, now)]
    )
    ctx.bulk_insert(
        _table(ReorderPolicy),
        policy_columns,
        (
            (sku, 1 + sku % 20, 3 + sku % 12, 7, None, 5 + sku % 10, 12, 6, 21, now)
            for sku in range(1, skus + 1, 10)
        ),
    )
    orders = max(1, skus // 100)
    ctx.bulk_insert(
        _table(PurchaseOrder),
        ["id", "number", "supplier_id", "status", "request_key", "created_at"],
        (
            (i, f"PO-B{i:05}", 1 + i % 20, "sent" if i % 4 else "partially_received", "", now)
            for i in range(1, orders + 1)
        ),
    )
    ctx.bulk_insert(
        _table(PurchaseOrderLine),
        ["po_id", "sku_id", "ordered", "received"],
        (
            (po, 1 + (po * 37 + k * 7919) % skus, 24, 0 if po % 4 else 6)
            for po in range(1, orders + 1)
            for k in range(3)
        ),
    )
    with ctx.connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    _check_ledger(ctx)
    return loaded


def _load_ledger(
    ctx: BenchContext,
    cursor,
    *,
    skus: int,
    ledger_rows: int,
    bins: int,
    shelf: int,
    storefront: int,
    now,
) -> int:
    """Each SKU's ledger rows over the last ``HISTORY_DAYS`` days, oldest first, made by the
    server: a sales rate drawn per SKU (0.2, 0.5, 1, 2 or 4 units a day); a receipt of
    20 days' worth plus 5 first, whenever the shelf is empty and with a chance of 0.08;
    otherwise a sale of 1 + an exponential draw of mean the rate, never more than the
    balance. The times are uniform draws in the window, sorted: the oldest of ``c`` is the
    window × u^(1/c), each next one the last × u^(1/the ones left) (the order statistics
    drawn one at a time, so each row needs only the one before it)."""
    per_sku, extra = divmod(ledger_rows, skus)
    draw = f"(1 - {ctx.random})"  # in (0, 1]: safe under LN and a root
    # A row holds its movement, the balance before it, and the next row's two draws (a
    # sale's size and the receipt's chance), each drawn once and read twice.
    sale = f"1 + CAST(FLOOR(-LN({draw}) * rate) AS INTEGER)"
    cursor.execute(
        f"""
        INSERT INTO {_table(StockMovement)} (kind, bin_id, sku_id, quantity, balance_after,
                                            source_system_id, source_event_id, leg, reference,
                                            actor_id, note, created_at)
        WITH RECURSIVE walk(sku, n, rows, rate, receipt, age, balance, delta, sale, chance)
        AS (
            SELECT sku, 1, rows, rate, CAST(ROUND(rate * 20) AS INTEGER) + 5,
                   {HISTORY_DAYS} * POWER({draw}, 1.0 / rows), 0,
                   CAST(ROUND(rate * 20) AS INTEGER) + 5, {sale}, {ctx.random}
            FROM (SELECT i AS sku, %s + CASE WHEN i <= %s THEN 1 ELSE 0 END AS rows,
                         CASE CAST(FLOOR({ctx.random} * 5) AS INTEGER) WHEN 0 THEN 0.2
                              WHEN 1 THEN 0.5 WHEN 2 THEN 1 WHEN 3 THEN 2 ELSE 4 END AS rate
                  FROM {ctx.numbers(skus)}) skus
            UNION ALL
            SELECT sku, n + 1, rows, rate, receipt, age * POWER({draw}, 1.0 / (rows - n)),
                   balance + delta,
                   CASE WHEN balance + delta = 0 OR chance < 0.08 THEN receipt
                        WHEN sale < balance + delta THEN -sale
                        ELSE -(balance + delta) END,
                   {sale}, {ctx.random}
            FROM walk WHERE n < rows
        )
        SELECT CASE WHEN delta > 0 THEN 'receive' ELSE 'ship' END, 1 + sku %% %s, sku, delta,
               balance + delta, CASE WHEN delta > 0 THEN %s ELSE %s END,
               'bench-' || ((sku - 1) * %s + CASE WHEN sku - 1 < %s THEN sku - 1 ELSE %s END
                            + n),
               0, '', NULL, '', {ctx.days_before("%s", "age")}
        FROM walk ORDER BY sku, n
        """,
        [per_sku, extra, bins, shelf, storefront, per_sku, extra, extra, ctx.param(now)],
    )
    return cursor.rowcount


def _check_ledger(ctx: BenchContext) -> None:
    """The generated data keeps the shelf's invariant: every balance equals its ledger."""
    with ctx.connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COUNT(*) FROM {_table(OnHand)} o
                LEFT JOIN (SELECT bin_id, sku_id, SUM(quantity) AS total
                           FROM {_table(StockMovement)} GROUP BY bin_id, sku_id) m
                  ON m.bin_id = o.bin_id AND m.sku_id = o.sku_id
                WHERE o.quantity < 0 OR o.quantity <> COALESCE(m.total, 0)"""
        )
        wrong = cursor.fetchone()[0]
    if wrong:
        raise RuntimeError(f"Benchmark data broke the ledger invariant for {wrong} balances.")


def _streamed(using: str) -> int:
    """The whole catalog's coverage as the CSV export and beat read it: streamed."""
    return sum(1 for _ in coverage_iter(needed_only=False, using=using))


def _page_query_times(using: str, runs: int = 15) -> tuple[float, float]:
    """p50 and p95 of the suggestions page's read (its first page, most urgent first)."""
    times = []
    for _ in range(runs + 2):
        started = time.perf_counter()
        coverage_rows(using=using, needed_only=True, sort="urgency", limit=50)
        times.append((time.perf_counter() - started) * 1000)
    times = sorted(times[2:])
    return round(statistics.median(times), 1), round(times[int(0.95 * (len(times) - 1))], 1)


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def _peak_growth_kib(func) -> tuple[int, object]:
    """How far the process's resident memory rose above where it started while ``func``
    ran (sampled every 2 ms: the driver's result buffers are C memory tracemalloc cannot
    see), in KiB."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc: what the loading freed goes
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # back to the system, so growth shows
    start, peak, done = _rss_kib(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = func()
    finally:
        done.set()
        sampler.join()
    return max(0, max(peak[0], _rss_kib()) - start), result


@register("coverage", help="Every SKU's coverage (streamed) and the suggestions page.")
def coverage(ctx: BenchContext) -> dict:
    from django.db import connections

    from inventory.bench.sections import _manager, _page_times, default_database
    from replenishment.services.sales_history import sales_history_rebuild
    from replenishment.views import suggestion_list

    skus, ledger_rows = ctx.scaled(FULL_SKUS), ctx.scaled(FULL_LEDGER_ROWS)
    loaded = _load(ctx, skus=skus, ledger_rows=ledger_rows)
    alias = ctx.alias
    ctx.progress("building the kept sales history from the ledger")
    rebuild_ms, _ = ctx.timed(lambda: sales_history_rebuild(using=alias), runs=1)
    ctx.progress("timing coverage for every SKU, streamed")
    ms, streamed = ctx.timed(lambda: _streamed(alias))
    rss_kib, _ = _peak_growth_kib(lambda: _streamed(alias))
    ctx.progress("timing coverage for every SKU into a list, and recomputed from the ledger")
    rows_ms, rows = ctx.timed(lambda: coverage_rows(using=alias))
    recompute_ms, _ = ctx.timed(lambda: coverage_rows(using=alias, kept_history=False), runs=1)
    ctx.progress("timing the suggestions page")
    query_p50, query_p95 = _page_query_times(alias)
    result = {
        "skus": streamed,
        "ledger_rows": loaded,
        "ms": ms,
        "rss_growth_kib": rss_kib,
        "rows_ms": rows_ms,
        "recompute_ms": recompute_ms,
        "rebuild_ms": rebuild_ms,
        "page_query_p50_ms": query_p50,
        "page_query_p95_ms": query_p95,
        "suggestions": sum(1 for row in rows if row.suggested),
    }
    if not connections["default"].in_atomic_block:  # not inside a test's transaction
        with default_database(ctx):  # the whole view, as a manager's browser gets it
            p50, p95, queries = _page_times(
                suggestion_list, "/replenishment/suggestions/", _manager()
            )
        result.update(page_p50_ms=p50, page_p95_ms=p95, page_queries=queries)
    return result
