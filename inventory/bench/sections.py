"""Inventory's benchmark sections: the write path (one connection and eight), the
reconciliation against an in-process storefront, and the managers' pages.

Each section loads its data straight into its throwaway database (ledger rows whose sums
equal the balances), then points Django's default connection at it while it times the
real code: services open their own transactions on the default connection.
"""

import gc
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from array import array
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from django.db import connection, connections, reset_queries
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.bench import BenchContext, register
from inventory.bench.baseline import RawMovements, ceiling_tps, in_threads
from inventory.models import (
    Bin,
    Discrepancy,
    OnHand,
    OutboxEntry,
    ShelfEvidence,
    Sku,
    StockMovement,
    System,
)
from inventory.storefront.base import (
    Capabilities,
    CatalogItem,
    Level,
    LevelWrite,
    Mirrors,
    Page,
    StorefrontAdapter,
    WebhookSignatureInvalid,
    WriteResult,
    WriteStatus,
)

T_BIN, T_SKU, T_ONHAND = Bin._meta.db_table, Sku._meta.db_table, OnHand._meta.db_table
T_MOVE, T_OUTBOX = StockMovement._meta.db_table, OutboxEntry._meta.db_table
T_DISC, T_EVIDENCE = Discrepancy._meta.db_table, ShelfEvidence._meta.db_table


@contextmanager
def default_database(ctx: BenchContext, *, push: bool = False):
    """Point the default connection (every thread's) at the section's database, with no
    router in between: the code under test runs exactly as it does in production."""
    from django.db import router

    from inventory.services import outbox

    ctx.connection.ensure_connection()  # the section's database exists from here on
    settings_dict = connections["default"].settings_dict
    saved_name, saved_routers = settings_dict["NAME"], router.routers
    connections["default"].close()
    settings_dict["NAME"] = ctx.connection.settings_dict["NAME"]
    router.routers = []
    kick = outbox._kick
    if not push:
        outbox._kick = lambda: None  # time the write path, not the storefront push
    try:
        yield
    finally:
        outbox._kick = kick
        router.routers = saved_routers
        connections["default"].close()
        settings_dict["NAME"] = saved_name


def load_shelf(ctx: BenchContext, *, skus: int, ledger_rows: int, bins: int = 200) -> dict:
    """Bins, SKUs, one balance per SKU and ledger rows that add up to it; the balances by
    SKU. Built once per run for each size and copied for every section that loads the same
    (``BenchContext.from_template``): a section may change its copy freely."""
    return ctx.from_template(
        f"shelf-{skus}-{ledger_rows}-{bins}",
        lambda: _build_shelf(ctx, skus=skus, ledger_rows=ledger_rows, bins=bins),
        reload=lambda: _reload_balances(ctx),
    )


def _build_shelf(ctx: BenchContext, *, skus: int, ledger_rows: int, bins: int) -> dict:
    """Made by the server (``ctx.bulk_load``): each SKU's ledger rows, in SKU order, are a
    walk from zero that receives 1-9 units while the balance is under 3 and otherwise with
    a chance of 0.6, and ships one unit the rest of the time; its balance is their sum."""
    now = ctx.param(timezone.now())
    ctx.progress(f"loading {skus:,} SKUs, {ledger_rows:,} ledger rows")
    shelf = System.objects.using(ctx.alias).get(name="shelf").pk
    per_sku, extra = divmod(ledger_rows, skus)
    receive = f"1 + CAST(FLOOR({ctx.random} * 9) AS INTEGER)"
    warehouse = ctx.bin_warehouse("i")
    with ctx.bulk_load(T_BIN, T_SKU, T_MOVE, T_ONHAND, T_EVIDENCE, seed=0.7) as cursor:
        cursor.execute(f"INSERT INTO {T_BIN} (id, code, zone, walk_order, active, warehouse_id) "
                       f"SELECT i, 'B-' || {ctx.zero_padded('i', 4)}, 'Z', i, TRUE, {warehouse} "
                       f"FROM {ctx.numbers(bins)}", [])  # fmt: skip
        cursor.execute(f"INSERT INTO {T_SKU} (id, code, title, active, unit_cost) "
                       f"SELECT i, 'S-' || {ctx.zero_padded('i', 6)}, 'Item ' || i, TRUE, 2 "
                       f"FROM {ctx.numbers(skus)}", [])  # fmt: skip
        # A row holds its movement and the balance before it: the next row's draw needs
        # the balance after it, which one expression can then read twice.
        cursor.execute(
            f"""
            INSERT INTO {T_MOVE} (kind, bin_id, sku_id, quantity, balance_after,
                                  source_system_id, source_event_id, leg, reference, note,
                                  created_at)
            WITH RECURSIVE walk(sku, n, balance, delta) AS (
                SELECT i, 1, 0, {receive} FROM {ctx.numbers(skus)}
                UNION ALL
                SELECT sku, n + 1, balance + delta,
                       CASE WHEN balance + delta < 3 OR {ctx.random} < 0.6 THEN {receive}
                            ELSE -1 END
                FROM walk
                WHERE n < %s + CASE WHEN sku <= %s THEN 1 ELSE 0 END
            )
            SELECT CASE WHEN delta > 0 THEN 'receive' ELSE 'ship' END, 1 + sku %% %s, sku,
                   delta, balance + delta, %s,
                   'seed-' || ((sku - 1) * %s + CASE WHEN sku - 1 < %s THEN sku - 1 ELSE %s END
                               + n),
                   0, '', '', %s
            FROM walk ORDER BY sku, n
            """,
            [per_sku, extra, bins, shelf, per_sku, extra, extra, now],
        )
        cursor.execute(f"INSERT INTO {T_ONHAND} (bin_id, sku_id, quantity, updated_at) "
                       f"SELECT bin_id, sku_id, SUM(quantity), %s FROM {T_MOVE} "
                       f"GROUP BY bin_id, sku_id ORDER BY sku_id", [now])  # fmt: skip
        # A shelf in production: every SKU counted, every storefront live.
        cursor.execute(f"INSERT INTO {T_EVIDENCE} (sku_id, kind, reference, recorded_at) "
                       f"SELECT id, 'adopted', '', %s FROM {T_SKU}", [now])  # fmt: skip
        System.objects.using(ctx.alias).filter(kind=System.Kind.STOREFRONT).update(
            sync_mode=System.SyncMode.LIVE
        )
        return _balances(cursor)


def _balances(cursor) -> dict:
    """The balances by SKU (a million rows: read raw, no model instance per row)."""
    cursor.execute(f"SELECT sku_id, quantity FROM {T_ONHAND} ORDER BY sku_id")
    return dict(cursor.fetchall())


def _reload_balances(ctx: BenchContext) -> dict:
    with ctx.connection.cursor() as cursor:
        return _balances(cursor)


def _picks(skus: int, count: int, *, seed: int, hot: bool = False) -> list[int]:
    """The SKUs a run of movements writes, in order: random among all, or always the first."""
    rng = random.Random(seed)
    return [1] * count if hot else [rng.randint(1, skus) for _ in range(count)]


def _service_seconds(picks: list[int], *, bins: int, shelf, tag: str) -> float:
    """Seconds for one movement of each picked SKU through ``on_hand_adjust`` (receive 1
    unit into the SKU's bin), on this thread's default connection."""
    from inventory.services import on_hand_adjust

    sku_objs = Sku.objects.in_bulk(set(picks))
    bin_objs = Bin.objects.in_bulk()
    started = time.perf_counter()
    for n, pk in enumerate(picks):
        sku = sku_objs[pk]
        on_hand_adjust(bin=bin_objs[1 + pk % bins], sku=sku, delta=1, kind="receive",
                       source_system=shelf, source_event_id=f"bench-{tag}-{n}")  # fmt: skip
    return time.perf_counter() - started


def _raw_seconds(raw: RawMovements, picks: list[int], *, bins: int, tag: str) -> float:
    """The same movements as the service's, as the raw one-statement baseline."""
    return raw.apply([(1 + pk % bins, pk) for pk in picks], tag=f"raw-{tag}")


def _movements_per_s(picks: list[int], *, bins: int, shelf, tag: str) -> float:
    return len(picks) / _service_seconds(picks, bins=bins, shelf=shelf, tag=tag)


def _raw_per_s(picks: list[int], *, bins: int, shelf_id: int, tag: str) -> float:
    with RawMovements(connection.settings_dict, source_system_id=shelf_id) as raw:
        return len(picks) / _raw_seconds(raw, picks, bins=bins, tag=tag)


ROUNDS = 3  # service and raw alternate in rounds, so a slow minute costs both alike


def _chunks(items: list, n: int) -> list[list]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sections_setup(ctx, full_skus: int = 100_000, full_rows: int = 1_000_000):
    skus, rows = ctx.scaled(full_skus), ctx.scaled(full_rows)
    load_shelf(ctx, skus=skus, ledger_rows=rows)
    return skus, rows


def _ceilings(ctx: BenchContext, *, skus: int, one: int, per_client: int, clients: int) -> dict:
    """pgbench's kind of ceiling on this server, in this run (PostgreSQL only)."""
    if ctx.vendor != "postgresql":
        return {"ceiling_tool": None}
    settings_dict = ctx.connection.settings_dict
    ctx.progress(f"ceilings: {one} transactions on 1 connection, {clients} × {per_client}")
    tps_1, tool = ceiling_tps(settings_dict, clients=1, per_client=one, rows=skus)
    tps_n, _ = ceiling_tps(settings_dict, clients=clients, per_client=per_client, rows=skus)
    return {"ceiling_1_conn_tps": round(tps_1), f"ceiling_{clients}_conn_tps": round(tps_n),
            "ceiling_tool": tool}  # fmt: skip


@register("write_path", help="movements/s through on_hand_adjust vs the same one raw statement")
def write_path(ctx: BenchContext) -> dict:
    """One connection: the service against the same movements as one raw statement each
    (psycopg, prepared, autocommit), in alternating rounds on the same SKUs."""
    skus, _ = _sections_setup(ctx)
    count, bins = max(300, ctx.scaled(3000)), 200
    with default_database(ctx):
        shelf = System.objects.get(name="shelf")
        tag = f"{time.time_ns()}"
        with RawMovements(connection.settings_dict, source_system_id=shelf.pk) as raw:
            warm = _picks(skus, 50, seed=0)
            _service_seconds(warm, bins=bins, shelf=shelf, tag=f"warm-{tag}")
            _raw_seconds(raw, warm, bins=bins, tag=f"warm-{tag}")
            statements = _statements_per_movement(shelf=shelf, bins=bins, count=20)
            ctx.progress(f"{count} movements through the service and as one raw statement")
            service_s = raw_s = 0.0
            for n, chunk in enumerate(_chunks(_picks(skus, count, seed=1), ROUNDS)):
                if n % 2:
                    raw_s += _raw_seconds(raw, chunk, bins=bins, tag=f"{tag}-{n}")
                service_s += _service_seconds(chunk, bins=bins, shelf=shelf, tag=f"{tag}-{n}")
                if not n % 2:
                    raw_s += _raw_seconds(raw, chunk, bins=bins, tag=f"{tag}-{n}")
            raw_sql = raw.description
    service, raw_rate = count / service_s, count / raw_s
    return {
        "service_per_s": round(service),
        "raw_sql_per_s": round(raw_rate),
        "ratio": round(service / raw_rate, 2),
        "raw_sql": raw_sql,
        "statements_per_movement": statements,
        **_ceilings(ctx, skus=skus, one=count, per_client=max(100, ctx.scaled(1000)), clients=8),
    }


def _statements_per_movement(*, shelf, bins: int, count: int) -> float:
    """Round trips to the server per movement: its statements, plus BEGIN and COMMIT when
    they ran in a transaction (those two never pass Django's execute wrapper)."""
    from inventory.services import on_hand_adjust

    skus = list(Sku.objects.order_by("?")[:count])
    bin_objs = {b.pk: b for b in Bin.objects.all()}
    trips = 0
    in_transaction = False

    def count_statement(execute, sql, params, many, context):
        nonlocal trips, in_transaction
        trips += 1
        in_transaction |= connection.in_atomic_block
        return execute(sql, params, many, context)

    tag = time.time_ns()
    with connection.execute_wrapper(count_statement):
        for n, sku in enumerate(skus):
            in_transaction = False
            on_hand_adjust(bin=bin_objs[1 + sku.pk % bins], sku=sku, delta=1, kind="receive",
                           source_system=shelf, source_event_id=f"count-{tag}-{n}")  # fmt: skip
            trips += 2 if in_transaction else 0
    return round(trips / len(skus), 1)


def _in_threads(works: list) -> tuple[float, int]:
    """Each work in a thread of its own on its own default connection (opened before the
    common start, closed after): the wall seconds of them all, and how many raised."""
    wall, errors = in_threads(works, prepare=connection.ensure_connection,
                              finish=connections.close_all)  # fmt: skip
    return wall, len(errors)


@register("write_path_concurrent", help="the same with 8 clients, and 8 clients on one SKU")
def write_path_concurrent(ctx: BenchContext) -> dict:
    skus, _ = _sections_setup(ctx)
    clients, count, bins = 8, max(100, ctx.scaled(1000)), 200
    with default_database(ctx):
        shelf = System.objects.get(name="shelf")
        tag = f"{time.time_ns()}"
        raws = [RawMovements(connection.settings_dict, source_system_id=shelf.pk)
                for _ in range(clients)]  # fmt: skip
        picks = [_chunks(_picks(skus, count, seed=10 + c), ROUNDS) for c in range(clients)]

        def service_work(c: int, n: int, hot: bool = False):
            chunk = [1] * len(picks[c][n]) if hot else picks[c][n]
            label = f"{tag}-{'hot-' if hot else ''}{c}-{n}"
            return lambda: _service_seconds(chunk, bins=bins, shelf=shelf, tag=label)

        def raw_work(c: int, n: int):
            return lambda: _raw_seconds(raws[c], picks[c][n], bins=bins, tag=f"{tag}-{c}-{n}")

        ctx.progress(f"{clients} clients × {count} movements, service and raw in turns")
        service_s = raw_s = hot_s = 0.0
        errors = 0
        try:
            for n in range(ROUNDS):
                order = ("service", "raw") if n % 2 == 0 else ("raw", "service")
                for which in order:
                    make = service_work if which == "service" else raw_work
                    wall, failed = _in_threads([make(c, n) for c in range(clients)])
                    if which == "service":
                        service_s += wall
                    else:
                        raw_s += wall
                    errors += failed
            ctx.progress(f"{clients} clients × {count} movements on one SKU")
            for n in range(ROUNDS):
                wall, failed = _in_threads([service_work(c, n, hot=True) for c in range(clients)])
                hot_s += wall
                errors += failed
            one = _picks(skus, count, seed=99)
            single_raw = len(one) / _raw_seconds(raws[0], one, bins=bins, tag=f"{tag}-one")
        finally:
            for raw in raws:
                raw.close()
    total = clients * count
    service, raw_rate, hot = total / service_s, total / raw_s, total / hot_s
    return {
        "clients": clients,
        "service_per_s": round(service),
        "raw_sql_per_s": round(raw_rate),
        "ratio": round(service / raw_rate, 2),
        "hot_sku_service_per_s": round(hot),
        "one_connection_raw_sql_per_s": round(single_raw),
        "hot_sku_vs_one_connection_raw": round(hot / single_raw, 2),
        "errors": errors,
        **_ceilings(ctx, skus=skus, one=count, per_client=count, clients=clients),
    }


def _code(n: int) -> str:
    """The benchmark's SKU ``n`` (its id, from 1)."""
    return f"S-{n:06}"


class InProcessStorefront(StorefrontAdapter):
    """A storefront fake answering in-process (no HTTP), 1% off the shelf.

    Its numbers are one array, 8 bytes a SKU (SKU ``S-000001`` at position 0, and so on),
    and its pages are made as they are read: it holds no Python object per SKU, so the
    memory a reconciliation takes is OneFact's, measured apart from the fake's.
    """

    capabilities = Capabilities(compare_and_set=True, idempotency_keys=False, max_batch=250,
                                mirrors=Mirrors.ON_HAND)  # fmt: skip

    def __init__(self, quantities: Iterable[int], page_size: int = 10_000) -> None:
        self.quantities, self.page_size, self.calls = array("q", quantities), page_size, 0
        self.seconds = 0.0  # spent answering reads and writes: the storefront's time, not ours

    def _position(self, code: str) -> int | None:
        number = code[2:]
        if not (code.startswith("S-") and number.isdigit()):
            return None
        n = int(number)
        return n - 1 if 1 <= n <= len(self.quantities) and code == _code(n) else None

    def read_levels(self, skus: Sequence[str] | None, cursor: str | None = None) -> Page[Level]:
        started = time.perf_counter()
        start = int(cursor or 0)
        if skus is None:
            end = min(start + self.page_size, len(self.quantities))
            numbers, values = range(start + 1, end + 1), self.quantities[start:end]
            items = [Level(f"S-{n:06}", q) for n, q in zip(numbers, values, strict=True)]
            last = len(self.quantities)
        else:
            end, last = start + self.page_size, len(skus)
            positions = [(code, self._position(code)) for code in sorted(skus)[start:end]]
            items = [Level(code, self.quantities[at]) for code, at in positions if at is not None]
        self.seconds += time.perf_counter() - started
        return Page(items, str(end) if end < last else None)

    def set_levels(self, writes: Sequence[LevelWrite]) -> list[WriteResult]:
        started = time.perf_counter()
        self.calls += 1
        out = []
        for w in writes:
            at = self._position(w.sku)
            if at is None:
                out.append(WriteResult(w.sku, WriteStatus.NOT_FOUND))
            elif w.expected is not None and self.quantities[at] != w.expected:
                out.append(WriteResult(w.sku, WriteStatus.STALE, actual=self.quantities[at]))
            else:
                self.quantities[at] = w.quantity
                out.append(WriteResult(w.sku, WriteStatus.APPLIED))
        self.seconds += time.perf_counter() - started
        return out

    def read_catalog(self, cursor: str | None = None) -> Page[CatalogItem]:
        page = self.read_levels(None, cursor)
        return Page([CatalogItem(level.sku, level.sku, True) for level in page.items],
                    page.next_cursor)  # fmt: skip

    def verify_webhook(self, body, headers) -> None:
        raise WebhookSignatureInvalid("the in-process storefront sends no webhooks")

    def parse_events(self, body, headers) -> list:
        return []  # it sends no webhooks, so there is never an event to parse


def _reconcile_once(adapter: InProcessStorefront) -> tuple[float, int]:
    """The wall time of one whole reconciliation (the fake's answers included: ``adapter.
    seconds`` of it), and the discrepancies it wrote."""
    from inventory.services import reconcile as module

    storefront = System.objects.get(name="storefront")
    module_adapter_for = module.adapter_for
    module.adapter_for = lambda system: adapter
    try:
        started = time.perf_counter()
        report = module.storefront_reconcile(storefront=storefront)
        ms = (time.perf_counter() - started) * 1000
    finally:
        module.adapter_for = module_adapter_for
    return ms, report.discrepancies_written


def _shelf_quantities(balances: dict[int, int], gap_share: float) -> tuple[array, int]:
    """The storefront's numbers, SKU ``n`` at position ``n - 1``: the shelf's balances
    (SKUs 1…n, as ``load_shelf`` makes them), ``gap_share`` of them a few units off."""
    rng = random.Random(3)
    quantities, gaps = array("q", bytes(8 * len(balances))), 0
    for sku, q in balances.items():
        if rng.random() < gap_share:
            q += rng.choice([-2, -1, 1, 3])
            gaps += 1
        quantities[sku - 1] = q
    return quantities, gaps


def _shelf_levels(balances: dict[int, int], gap_share: float) -> tuple[dict[str, int], int]:
    """The same numbers by SKU code."""
    quantities, gaps = _shelf_quantities(balances, gap_share)
    return {_code(n): q for n, q in enumerate(quantities, start=1)}, gaps


RAW_DIFF = f"""
SELECT count(*) FROM bench_storefront f
FULL OUTER JOIN (SELECT s.code, COALESCE(SUM(o.quantity), 0) AS q FROM {T_SKU} s
                 LEFT JOIN {T_ONHAND} o ON o.sku_id = s.id GROUP BY s.code) shelf
  ON shelf.code = f.code
WHERE f.quantity IS DISTINCT FROM shelf.q
"""


@register("reconcile", help="full reconciliation of 100,000 SKUs with 1% gaps vs a raw diff")
def reconcile(ctx: BenchContext) -> dict:
    skus = ctx.scaled(100_000)
    balances = load_shelf(ctx, skus=skus, ledger_rows=skus * 2)
    quantities, gaps = _shelf_quantities(balances, 0.01)
    with default_database(ctx):
        storefront = System.objects.get(name="storefront")
        storefront.adapter = "demo"
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_storefront (code varchar(64) PRIMARY KEY, "
                           "quantity integer)")  # fmt: skip
        ctx.bulk_insert("bench_storefront", ["code", "quantity"],
                        ((_code(n), q) for n, q in enumerate(quantities, start=1)))  # fmt: skip
        raw_ms, _ = ctx.timed(lambda: _raw_count(), runs=3)
        ctx.progress(f"reconciling {skus:,} SKUs ({gaps} gaps)")
        adapter = InProcessStorefront(quantities)
        ms, written = _reconcile_once(adapter)
    return {"skus": skus, "gaps": gaps, "ms": round(ms), "raw_diff_ms": raw_ms,
            "ratio": round(ms / max(raw_ms, 0.1), 1), "discrepancies_written": written,
            "fake_ms": round(adapter.seconds * 1000), "peak_rss_mb": _peak_rss_mb()}  # fmt: skip


def _raw_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(RAW_DIFF)
        return cursor.fetchone()[0]


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rss_mb() -> float:
    """This process's resident memory now (Linux's ``/proc``; elsewhere its peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return _peak_rss_mb()


def _reconcile_in_child(quantities: array, queue) -> None:
    """Build the fake, then reconcile against it: the resident memory once the fake is
    built, before reconciling, and the peak."""
    connections.close_all()
    adapter = InProcessStorefront(quantities)
    before = _rss_mb()
    ms, written = _reconcile_once(adapter)
    array_mb = adapter.quantities.itemsize * len(adapter.quantities) / 2**20
    queue.put((ms, written, adapter.seconds, round(before, 1), _peak_rss_mb(),
               round(array_mb, 1)))  # fmt: skip


@register("reconcile_1m", help="the same over 1,000,000 SKUs, in a child process: peak RSS")
def reconcile_1m(ctx: BenchContext) -> dict:
    """Memory, in the child that reconciles: ``peak_rss_mb`` its peak; ``fake_mb`` its
    resident memory once the storefront fake is built, before reconciling (the interpreter,
    Django, the benchmark's leftovers and the fake's array, ``fake_array_mb`` of it); and
    ``onefact_mb`` the difference, what the reconciliation itself took. ``fake_ms`` is the
    part of ``ms`` spent in the fake answering."""
    skus = ctx.scaled(1_000_000)
    # No other section loads this shape: built in place, not kept as a template (a copy of
    # half a gigabyte made and dropped for nothing).
    balances = _build_shelf(ctx, skus=skus, ledger_rows=skus, bins=200)
    quantities, gaps = _shelf_quantities(balances, 0.01)
    del balances
    gc.collect()
    with default_database(ctx):
        connections.close_all()
        queue = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(
            target=_reconcile_in_child, args=(quantities, queue)
        )
        child.start()
        ms, written, fake_s, before, rss, array_mb = queue.get(timeout=3600)
        child.join()
    return {"skus": skus, "gaps": gaps, "ms": round(ms), "fake_ms": round(fake_s * 1000),
            "discrepancies_written": written, "peak_rss_mb": rss, "fake_mb": before,
            "fake_array_mb": array_mb, "onefact_mb": round(rss - before, 1)}  # fmt: skip


def _shopify_fake(levels: dict[str, int], clock):
    """The Shopify fake (Standard plan: a bucket of 2,000 points refilled at 100 a second, on
    ``clock``) holding ``levels``, 100 variants a product."""
    from tests.storefront.fakes import FakeShopify

    shop = FakeShopify(now=clock.now).start()
    codes = sorted(levels)
    for start in range(0, len(codes), 100):
        chunk = codes[start : start + 100]
        shop.add_product(f"Product {start // 100}", [(code, levels[code]) for code in chunk])
    by_item = {v.inventory_item_gid: v for v in shop._variants()}
    shop._variant_by_item = by_item.get  # its linear scan, indexed for 100,000 variants
    return shop


@register("reconcile_shopify", help="100,000 SKUs against the Shopify fake, Standard plan: "
          "bulk read vs pages (simulated clock)")  # fmt: skip
def reconcile_shopify(ctx: BenchContext) -> dict:
    """The real reconciliation against the Shopify fake, read with one bulk operation; then the
    same levels read page by page. The fake charges each request's cost by Shopify's rules and
    keeps the bucket on a simulated clock the adapter paces and polls on: its waits are counted,
    not slept (``*_simulated_s``), beside the wall time."""
    from inventory.services import reconcile as module
    from inventory.storefront.shopify import ShopifyAdapter
    from inventory.storefront.shopify_bulk import BulkLevels
    from tests.storefront.fake_shopify_bulk import SimulatedClock

    skus = ctx.scaled(100_000)
    balances = load_shelf(ctx, skus=skus, ledger_rows=skus * 2)
    levels, gaps = _shelf_levels(balances, 0.01)
    clock = SimulatedClock()
    shop = _shopify_fake(levels, clock)

    def adapter(*, above: int) -> ShopifyAdapter:
        made = ShopifyAdapter(shop_url=shop.shop_url, access_token=shop.access_token,
                              location_id=shop.location_id, webhook_secret=shop.webhook_secret,
                              timeout=60.0, sleep=clock.sleep, clock=clock.now)  # fmt: skip
        made.bulk_levels = BulkLevels(made, above=above)
        return made

    try:
        with default_database(ctx):
            storefront = System.objects.get(name="storefront")
            bulk = adapter(above=min(2000, skus - 1))
            module_adapter_for, module.adapter_for = module.adapter_for, lambda system: bulk
            ctx.progress(f"reconciling {skus:,} SKUs ({gaps} gaps) against the Shopify fake")
            try:
                started, simulated = time.perf_counter(), clock.now()
                report = module.storefront_reconcile(storefront=storefront)
                bulk_wall, bulk_simulated = time.perf_counter() - started, clock.now() - simulated
            finally:
                module.adapter_for = module_adapter_for
                bulk.close()
        bulk_requests = len(shop.operations())
        ctx.progress(f"reading the same {skus:,} levels page by page")
        with adapter(above=10**9) as paged:
            started, simulated = time.perf_counter(), clock.now()
            cursor, read = None, 0
            while True:
                page = paged.read_levels(None, cursor)
                read, cursor = read + len(page.items), page.next_cursor
                if cursor is None:
                    break
            paged_wall, paged_simulated = time.perf_counter() - started, clock.now() - simulated
        paged_requests = len(shop.operations()) - bulk_requests
    finally:
        shop.stop()
    return {"skus": skus, "gaps": report.gaps, "corrected": report.corrected, "held": report.held,
            "bulk_requests": bulk_requests, "bulk_points": round(bulk.points_used),
            "bulk_simulated_s": round(bulk_simulated, 1), "bulk_wall_s": round(bulk_wall, 1),
            "paged_levels": read, "paged_requests": paged_requests,
            "paged_points": round(paged.points_used),
            "paged_simulated_s": round(paged_simulated, 1),
            "paged_wall_s": round(paged_wall, 1), "throttled": shop.throttled}  # fmt: skip


def _page_times(view, path: str, user, runs: int = 15) -> tuple[float, float, int]:
    factory = RequestFactory()
    times = []
    queries = 0
    for n in range(runs + 2):
        request = factory.get(path)
        request.user = user
        request.htmx = False
        request.session = {}
        # The connection's query log is a bounded deque: once full (earlier sections ran
        # thousands of queries with DEBUG on) its length stops changing and a capture of
        # it reads as zero queries. Start each request from an empty log.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:  # the default connection: no router
            started = time.perf_counter()
            response = view(request)
            if hasattr(response, "render"):
                response.render()
            elapsed = (time.perf_counter() - started) * 1000
        if n >= 2:  # two warm-up requests
            times.append(elapsed)
            queries = len(captured.captured_queries)
    if os.environ.get("ONEFACT_BENCH_SLOW_QUERIES"):
        slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
        for q in slowest[:8]:
            print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:300]}", file=sys.stderr)
    times.sort()
    return (
        round(statistics.median(times), 1),
        round(times[int(0.95 * (len(times) - 1))], 1),
        queries,
    )


def _discrepancies(ctx, *, count: int, skus: int) -> None:
    """Two thirds open, one third resolved by a correction, on SKUs drawn at random."""
    shelf = System.objects.using(ctx.alias).get(name="shelf").pk
    front = System.objects.using(ctx.alias).get(name="storefront").pk
    now = ctx.param(timezone.now())
    detail = "storefront says 4, shelf says 2; shelf owns on-hand and wins."
    columns = ["kind", "fact", "sku_id", "bin_id", "owner_id", "consumer_id", "owner_value",
               "consumer_value", "winner_id", "reference", "detail", "status", "resolution",
               "resolution_note", "resolution_reference", "created_at", "resolved_at",
               "unit_cost"]  # fmt: skip
    with ctx.bulk_load(T_DISC, seed=0.5) as cursor:
        cursor.execute(
            f"""
            INSERT INTO {T_DISC} ({", ".join(columns)})
            SELECT 'storefront_gap', 'on_hand', 1 + CAST(FLOOR({ctx.random} * %s) AS INTEGER),
                   1 + (i - 1) %% 200, %s, %s, 2, 4, %s, '', %s,
                   CASE WHEN (i - 1) %% 3 = 0 THEN 'resolved' ELSE 'open' END,
                   CASE WHEN (i - 1) %% 3 = 0 THEN 'correction' ELSE '' END, '', '', %s,
                   CASE WHEN (i - 1) %% 3 = 0 THEN %s END, 2
            FROM {ctx.numbers(count)}
            """,
            [skus, shelf, front, shelf, detail, now, now],
        )
    if ctx.vendor == "postgresql":
        # What autovacuum does within a minute of such a load: statistics and the
        # visibility map (index-only scans), so the page is timed in its steady state.
        with ctx.connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {T_DISC}")


def _manager():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get(name="Managers"))
    return get_user_model().objects.get(pk=user.pk)


@register("dashboard", help="the managers' dashboard over 100k SKUs, 1M rows, 50k discrepancies")
def dashboard(ctx: BenchContext) -> dict:
    from inventory.views import dashboard as view

    skus, _ = _sections_setup(ctx)
    _discrepancies(ctx, count=ctx.scaled(50_000), skus=skus)
    with default_database(ctx):
        p50, p95, queries = _page_times(view, "/dashboard/", _manager())
    return {"p50_ms": p50, "p95_ms": p95, "queries": queries}


@register("sku_list", help="the paginated SKU list over 100k SKUs and 1M ledger rows")
def sku_list(ctx: BenchContext) -> dict:
    from inventory.views import sku_list as view

    _sections_setup(ctx)
    with default_database(ctx):
        p50, p95, queries = _page_times(view, "/skus/?page=3", _manager())
    return {"p50_ms": p50, "p95_ms": p95, "queries": queries}


@register("sku_detail", help="a SKU's page over 100k SKUs, 1M ledger rows, 50k discrepancies")
def sku_detail(ctx: BenchContext) -> dict:
    from inventory.views import sku_detail as view

    skus, _ = _sections_setup(ctx)
    _discrepancies(ctx, count=ctx.scaled(50_000), skus=skus)
    with default_database(ctx):
        # A SKU with discrepancies of its own, and ledger rows to page through.
        code = Discrepancy.objects.order_by("id").values_list("sku__code", flat=True)[0]
        p50, p95, queries = _page_times(
            lambda request: view(request, code=code), f"/skus/{code}/", _manager()
        )
    return {"p50_ms": p50, "p95_ms": p95, "queries": queries}


@register("push", help="a burst of 10,000 movements over 100 SKUs, pushed by a real worker")
def push(ctx: BenchContext) -> dict:
    """Commit → storefront acknowledged, through Redis and a Celery worker (a subprocess on
    the section's database) into the demo storefront's table. The lag is each live push's
    time from the SKU's oldest unacknowledged commit to the storefront's acknowledgement:
    first pushes of a SKU and released batches are counted by kind, never in the lag.

    Where the burst's writes go: the writer's and the worker's CPU (shares of the machine),
    the writer's time spent asking for pushes, and the burst's first writes timed with the
    push off (no worker) just before, as this minute's yardstick for ``writes_per_s``."""
    from django.conf import settings
    from django.db.models import Count, Min

    from inventory import selectors
    from inventory.bench import loadtest
    from inventory.models import SyncLog, SyncState
    from inventory.services import on_hand_adjust, outbox
    from inventory.storefront.demo.models import DemoLevel

    if not settings.REDIS_URL:
        return {"skipped": "REDIS_URL is not set: the push needs Redis and a worker"}
    skus_n, movements = 100, max(500, ctx.scaled(10_000))
    balances = _build_shelf(ctx, skus=skus_n, ledger_rows=skus_n, bins=10)  # its own shape
    # The storefront holds the shelf's numbers to start with: a SKU the run never moves
    # (a small --scale) is already equal.
    levels = ((f"S-{i:06}", "", True, balances[i], timezone.now()) for i in range(1, skus_n + 1))
    ctx.bulk_insert(DemoLevel._meta.db_table,
                    ["sku_code", "title", "active", "quantity", "updated_at"], levels)  # fmt: skip
    env = loadtest.service_env(loadtest.server_dsn(ctx.connection.settings_dict["NAME"]))
    with default_database(ctx, push=True):
        from config.celery import app

        app.control.purge()
        outbox.push_kicks_forget()  # a drain promised by an earlier run is gone with the queue
        shelf = System.objects.get(name="shelf")
        skus = list(Sku.objects.all())
        bins = {b.pk: b for b in Bin.objects.all()}
        kick = outbox._kick

        def burst(count: int, tag: str) -> tuple[float, float]:
            """The same movements each time (one seed): wall and this process's CPU seconds."""
            rng = random.Random(1)
            started, cpu = time.perf_counter(), time.process_time()
            for n in range(count):
                sku = rng.choice(skus)
                on_hand_adjust(bin=bins[1 + sku.pk % 10], sku=sku, delta=1, kind="receive",
                               source_system=shelf, source_event_id=f"{tag}-{n}")  # fmt: skip
            return time.perf_counter() - started, time.process_time() - cpu

        def settle() -> None:
            """Wait until the storefront has acknowledged the newest outbox row."""
            final = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                latest = SyncState.objects.order_by("-pushed_version")
                if latest.values_list("pushed_version", flat=True).first() == final:
                    return
                time.sleep(0.5)

        # This minute's yardstick: the burst's first writes with the push off (no kicks; the
        # worker not started yet), then pushed in one drain, so the burst starts against a
        # storefront that holds the shelf's numbers. Only pushes after that are counted.
        outbox._kick = lambda: None
        alone = min(movements, max(500, ctx.scaled(3_000)))
        ctx.progress(f"{alone:,} of the same movements with the push off")
        alone_s, _ = burst(alone, "alone")
        # The writer's own time spent asking for pushes (Redis, the task's publish).
        kick_s = [0.0]

        def timed_kick() -> None:
            started = time.perf_counter()
            kick()
            kick_s[0] += time.perf_counter() - started

        with loadtest.celery_worker(env, concurrency=2):
            kick()
            settle()
            outbox._kick = timed_kick
            burst_at = timezone.now()
            ctx.progress(f"{movements:,} movements over {skus_n} SKUs, pushed as they commit")
            worker_cpu = loadtest.descendants_cpu_seconds()
            write_s, writer_cpu = burst(movements, "burst")
            worker_cpu = loadtest.descendants_cpu_seconds() - worker_cpu
            settle()
        pushes = SyncLog.objects.filter(pushed_at__gt=burst_at)
        kinds = dict(pushes.values_list("kind").annotate(n=Count("id")).order_by())
        lags = sorted(pushes.filter(kind=SyncLog.Kind.LIVE).values_list("lag_ms", flat=True))
        calls = pushes.values("pushed_at").distinct().count()
        # Where the lag goes: the time between two calls (the window, or a drain's length
        # when it is longer), and a call's smallest lag (a commit just before the drain read
        # what was pending: the drain's own time from that read to the acknowledgement).
        by_call = (
            pushes.filter(kind=SyncLog.Kind.LIVE)
            .values("pushed_at")
            .annotate(least=Min("lag_ms"))
            .order_by("pushed_at")
        )
        at = [c["pushed_at"] for c in by_call]
        gaps = sorted((b - a).total_seconds() * 1000 for a, b in zip(at, at[1:], strict=False))
        least = sorted(c["least"] for c in by_call)
        shelf_levels = dict(selectors.skus_with_stock().values_list("code", "available"))
        storefront_levels = dict(DemoLevel.objects.values_list("sku_code", "quantity"))
    cpus = os.cpu_count() or 1
    return {
        "movements": movements,
        "skus": skus_n,
        "adapter_calls": calls,
        "pushes_by_kind": {kind: kinds.get(kind, 0) for kind in SyncLog.Kind.values},
        "p50_ms": lags[len(lags) // 2] if lags else None,
        "p95_ms": lags[int(0.95 * (len(lags) - 1))] if lags else None,
        "writes_per_s": round(movements / write_s),
        "writes_per_s_push_off": round(alone / alone_s),
        "writer_cpu_share": round(writer_cpu / (write_s * cpus), 3),
        "worker_cpu_share": round(worker_cpu / (write_s * cpus), 3),
        "kick_ms_per_movement": round(kick_s[0] * 1000 / movements, 3),
        "window_s": settings.ONEFACT_PUSH_COALESCE_SECONDS,
        "between_calls_p50_ms": round(gaps[len(gaps) // 2]) if gaps else None,
        "drain_p50_ms": least[len(least) // 2] if least else None,
        "storefront_equals_shelf": storefront_levels == shelf_levels,
    }


API_CLIENTS = (1, 4, 16)


def _api_round_trips(token: str, skus: int, count: int = 20) -> float:
    """Round trips to PostgreSQL per accepted movement, counted on the wire (the health
    check's ping included) for requests through Django's WSGI handler in this process, once
    the token is remembered and the statement prepared, as in a gunicorn worker that has
    served a few."""
    from django.core.handlers.wsgi import WSGIHandler

    from inventory.bench import loadtest

    handler, rng = WSGIHandler(), random.Random(11)

    def post() -> int:
        sku = rng.randint(1, skus)
        body = {"sku": f"S-{sku:06}", "bin": f"B-{1 + sku % 200:04}", "kind": "receive",
                "quantity": 1}  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"trips-{rng.random()}"}
        return loadtest.wsgi_post("/api/movements", body, headers, handler)[0]

    for _ in range(3):
        post()
    with loadtest.round_trips() as trips:
        accepted = sum(post() == 201 for _ in range(count))
    return round(trips.count / max(accepted, 1), 2)


@register("api", help="movements posted through the JSON API to gunicorn on loopback, "
                      "1, 4 and 16 clients")  # fmt: skip
def api(ctx: BenchContext) -> dict:
    from inventory.bench import loadtest

    skus, _ = _sections_setup(ctx, full_rows=200_000)
    seconds = max(4.0, 10 * min(1.0, ctx.scale * 2))
    env = loadtest.service_env(loadtest.server_dsn(ctx.connection.settings_dict["NAME"]))
    # Commits enqueue their push into Redis (no worker here: the push has its own section);
    # without a broker every request would push in-process, the embedded default's way.
    if not env.get("REDIS_URL"):
        return {"skipped": "REDIS_URL is not set: the API is timed as deployed, with a broker"}
    with default_database(ctx):
        token = System.objects.get(name="shelf").issue_token()
        round_trips = _api_round_trips(token, skus)
    base_url, server = loadtest.gunicorn(env, workers=4)
    from config.celery import app

    runs = {}
    with server:
        # Every worker remembers the token and prepares its statement before the clock runs.
        loadtest.movements_under_load(base_url, token=token, skus=skus, clients=4, seconds=1)
        for clients in API_CLIENTS:
            ctx.progress(f"{clients} clients for {seconds:.0f}s on {base_url}")
            runs[clients] = loadtest.movements_under_load(
                base_url, token=token, skus=skus, clients=clients, seconds=seconds
            )
    app.control.purge()  # the pushes nobody was there to run
    return {
        **runs[4],
        "round_trips_per_movement": round_trips,
        "errors": sum(run["errors"] for run in runs.values()),
        "by_clients": {str(clients): run for clients, run in runs.items()},
    }
