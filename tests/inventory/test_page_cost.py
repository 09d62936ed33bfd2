"""Issue 21, "pages cost what they show": a page that shows a bounded amount runs the same
queries over 100 SKUs and over 100,000, and none of them walks a big table.

Each page is rendered over a catalog of 100 SKUs (with their ledger, balances and
discrepancies), then again once the catalog has grown to 100,000 SKUs (loaded with COPY,
then analysed). Three rules, none timed, on the second rendering's queries as PostgreSQL
runs them (``EXPLAIN ANALYZE``): the same number of queries as over 100 SKUs; no sequential
scan of a table that holds over 10,000 rows; and no scan that reads more than 1,000 rows of
such a table (an index walked end to end to find one SKU's rows is as bad as a sequential
scan). A failure names the page and the query.

A new page is one line of ``PAGES``. ``walks`` names the big tables a page still scans
whole, ``reads`` those it reads many rows of through an index, each with what makes it do
so: an exception said out loud, not a loophole.
"""

import json
import random
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.bench import BenchContext
from inventory.models import (
    Bin,
    Discrepancy,
    OnHand,
    ShelfEvidence,
    Sku,
    StockMovement,
    System,
    Warehouse,
)
from inventory.roles import MANAGERS, STAFF
from tests.factories import UserFactory

pytestmark = pytest.mark.slow

SMALL, BIG = 100, 100_000
BIG_TABLE_ROWS = 10_000
ROWS_READ = 1_000
BINS = 200
SKU = "S-000050"  # in both catalogs, with discrepancies of its own
SKU_ID = int(SKU.removeprefix("S-"))
LEDGER = (("receive", 5, 5), ("ship", -1, 4))  # each SKU's two movements and balances


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    role: str = "manager"
    walks: dict[str, str] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)


PAGES = [
    Page("dashboard", "/dashboard/",
         reads={"inventory_discrepancy": "its figures and breakdowns sum every open "
                                         "discrepancy, off indexes of the open rows"}),
    Page("SKU list", "/skus/", "staff",
         walks={"inventory_sku": "its pager counts the catalog (page 1 of 2,000)"},
         reads={"inventory_sku": "the same count"}),
    Page("SKU detail", f"/skus/{SKU}/"),
    Page("bin detail", "/bins/B-0007/", "staff"),
    Page("discrepancies", "/discrepancies/",
         reads={"inventory_discrepancy": "its pager counts the open discrepancies"}),
    Page("discrepancy", "/discrepancies/{discrepancy}/"),
    Page("approvals", "/walks/approvals/"),
    Page("count tasks", "/walks/tasks/"),
    Page("storefronts", "/storefronts/"),
    Page("labels", "/labels/", "staff"),
    # The suggestions page (replenishment) is being reworked: add it here as one line.
]  # fmt: skip


def _bin(sku: int) -> int:
    """The small catalog's SKUs one to a bin; the big one's in the other bins, so the bin
    page shows the same bin's contents over either catalog."""
    return 1 + sku if sku <= SMALL else SMALL + 2 + sku % (BINS - SMALL - 1)


def _grow(ctx: BenchContext, *, start: int, end: int) -> None:
    """SKUs ``start``..``end`` - 1: each with a balance, two ledger rows adding up to it, its
    evidence, and half a discrepancy (two thirds of them open), as the benchmark's shelf."""
    rng = random.Random(start)
    now = timezone.now()
    shelf = System.objects.get(name="shelf").pk
    front = System.objects.get(name="storefront").pk
    skus = range(start, end)
    ctx.bulk_insert(Sku._meta.db_table, ["id", "code", "title", "active", "unit_cost"],
                    ((i, f"S-{i:06}", f"Item {i}", True, 2) for i in skus))  # fmt: skip
    ctx.bulk_insert(StockMovement._meta.db_table,
                    ["kind", "bin_id", "sku_id", "quantity", "balance_after", "source_system_id",
                     "source_event_id", "leg", "reference", "note", "created_at"],
                    ((kind, _bin(i), i, q, b, shelf, f"seed-{i}-{kind}", 0, "", "", now)
                     for i in skus for kind, q, b in LEDGER))  # fmt: skip
    ctx.bulk_insert(OnHand._meta.db_table, ["bin_id", "sku_id", "quantity", "updated_at"],
                    ((_bin(i), i, 4, now) for i in skus))  # fmt: skip
    ctx.bulk_insert(ShelfEvidence._meta.db_table, ["sku_id", "kind", "reference", "recorded_at"],
                    ((i, "adopted", "", now) for i in skus))  # fmt: skip

    def discrepancies():
        for n in range(len(skus) // 2):
            sku = SKU_ID if n == 0 else rng.choice(skus)
            status, resolution = ("resolved", "correction") if n % 3 == 0 else ("open", "")
            yield ("storefront_gap", "on_hand", sku, _bin(sku), shelf, front, 2, 4, shelf,
                   "", "storefront says 4, shelf says 2", status, resolution, "", "", now,
                   now if status == "resolved" else None, now if n % 2 else None, 2, 2)  # fmt: skip

    ctx.bulk_insert(Discrepancy._meta.db_table,
                    ["kind", "fact", "sku_id", "bin_id", "owner_id", "consumer_id",
                     "owner_value", "consumer_value", "winner_id", "reference", "detail",
                     "status", "resolution", "resolution_note", "resolution_reference",
                     "created_at", "resolved_at", "corrected_at", "correction", "unit_cost"],
                    discrepancies())  # fmt: skip


def _plan(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _scans(node: dict) -> list[tuple[str, str, int]]:
    """(node type, table, rows it read: those it kept and those its filter removed, over
    all its loops) for every scan of a table in the plan."""
    found = []
    if table := node.get("Relation Name"):
        kept = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        found.append((node["Node Type"], table, kept * node.get("Actual Loops", 1)))
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


def _render(clients: dict[str, Client], page: Page, url: str) -> list[str]:
    client = clients[page.role]
    assert client.get(url).status_code == 200, page.name  # warm: caches, the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, page.name
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_bounded_pages_run_the_same_queries_over_100_and_100000_skus_and_walk_no_big_table(
    postgres,
):
    ctx = BenchContext(alias="default", scale=1.0, progress=lambda text: None)
    home = Warehouse.objects.get(is_default=True).pk
    ctx.bulk_insert(Bin._meta.db_table, ["id", "code", "zone", "walk_order", "active",
                                         "warehouse_id"],
                    ((i, f"B-{i:04}", "Z", i, True, home) for i in range(1, BINS + 1)))  # fmt: skip
    _grow(ctx, start=1, end=SMALL + 1)
    clients = {"manager": Client(), "staff": Client()}
    clients["manager"].force_login(UserFactory(username="cost-manager", group=MANAGERS))
    clients["staff"].force_login(UserFactory(username="cost-staff", group=STAFF))
    discrepancy = Discrepancy.objects.filter(sku_id=SKU_ID).order_by("id").first().pk
    urls = {page.name: page.url.format(discrepancy=discrepancy) for page in PAGES}
    small = {page.name: _render(clients, page, urls[page.name]) for page in PAGES}

    _grow(ctx, start=SMALL + 1, end=BIG + 1)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does within a minute of a load
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s "
                       "AND relnamespace = 'public'::regnamespace", [BIG_TABLE_ROWS])  # fmt: skip
        big_tables = {name for (name,) in cursor.fetchall()}
    assert {"inventory_sku", "inventory_discrepancy", "inventory_stockmovement"} <= big_tables

    failures = []
    for page in PAGES:
        big = _render(clients, page, urls[page.name])
        if len(big) != len(small[page.name]):
            failures.append(f"{page.name}: {len(small[page.name])} queries over {SMALL} SKUs, "
                            f"{len(big)} over {BIG:,}")  # fmt: skip
        for sql in big:
            if not sql.lstrip("( ").upper().startswith(("SELECT", "WITH")):
                continue
            for kind, table, rows in _scans(_plan(sql)):
                if table not in big_tables:
                    continue
                if kind == "Seq Scan" and table not in page.walks:
                    failures.append(f"{page.name}: scans all of {table} in {sql[:400]}")
                elif rows > ROWS_READ and table not in page.reads:
                    failures.append(f"{page.name}: reads {rows:,} rows of {table} ({kind}) in "
                                    f"{sql[:400]}")  # fmt: skip
    assert not failures, "\n".join(failures)
