"""The kept sales history never drifts from the ledger: coverage read from it equals
coverage recomputed from the raw ledger, for every SKU, before and after each fold."""

import contextlib
import inspect
import io
import random
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.utils import timezone

from inventory.exceptions import InsufficientStock
from inventory.models import StockMovement, System
from inventory.services import on_hand_adjust
from replenishment.models import SalesHistoryGap, SalesHistoryState, SalesWindow
from replenishment.selectors import coverage_iter, coverage_rows, sales_history_drift
from replenishment.selectors.coverage import _tail_skus, coverage_window
from replenishment.services.sales_history import sales_history_fold, sales_history_rebuild
from tests.factories import BinFactory, CommitmentFactory, SkuFactory
from tests.replenishment.factories import ReorderPolicyFactory, shelf_counted

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db


class Shelf:
    """Random movements through the one write path, dated any day from 40 days ago to now."""

    def __init__(self, seed: int, skus: int = 8):
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.shelf = System.objects.get(name="shelf")
        self.storefront = System.objects.get(name="storefront")
        self.bins = [BinFactory(), BinFactory()]
        self.skus = [SkuFactory(code=f"R-{n}") for n in range(skus)]
        shelf_counted(*self.skus[: skus - 2])  # two never counted
        ReorderPolicyFactory(sku=None, safety_stock_days=2)
        ReorderPolicyFactory(sku=self.skus[0], lead_time_days=3, safety_stock_days=1)
        CommitmentFactory(sku=self.skus[1], quantity=2)
        self.n = 0

    def moves(self, count: int, *, days_back: float = 40):
        for _ in range(count):
            sku, bin = self.rng.choice(self.skus), self.rng.choice(self.bins)
            at = self.now - timedelta(days=self.rng.uniform(0, days_back))
            if self.rng.random() < 0.45:
                delta, kind = self.rng.randint(1, 12), Kind.RECEIVE
            else:
                delta = -self.rng.randint(1, 4)
                kind = self.rng.choice([Kind.SHIP, Kind.SHIP, Kind.SHIP, Kind.DAMAGE])
            self.n += 1
            # More than the bin holds is refused and writes nothing.
            with contextlib.suppress(InsufficientStock):
                on_hand_adjust(
                    bin=bin,
                    sku=sku,
                    delta=delta,
                    kind=kind,
                    source_system=self.storefront if kind == Kind.SHIP else self.shelf,
                    source_event_id=f"r-{self.n}",
                    at=at,
                )


def assert_kept_equals_ledger():
    kept = coverage_rows(sort="code")
    recomputed = coverage_rows(sort="code", kept_history=False)
    assert kept == recomputed
    return kept


@pytest.mark.parametrize("seed", range(6))
def test_coverage_from_the_kept_history_equals_the_ledger_through_backdated_moves(seed):
    """Random history; the kept figures built; then more movements, a third of them dated
    into the window's closed days or before it: every SKU's coverage read with the history
    equals coverage recomputed from the raw ledger before the fold, after it, and after a
    second round; verify finds nothing."""
    shelf = Shelf(seed)
    shelf.moves(80)
    report = sales_history_rebuild()
    assert report.rebuilt and SalesWindow.objects.exists()
    rows = assert_kept_equals_ledger()
    assert any(c.in_stock_days < c.window_days and c.shipped for c in rows)

    shelf.moves(30, days_back=0.2)  # today: the kept figures stand
    shelf.moves(15)  # backdated into closed days: their SKUs are recomputed by each read
    window = coverage_window()
    assert _tail_skus(window=window, using="default", sku_ids=None)
    assert_kept_equals_ledger()

    assert not sales_history_fold().rebuilt
    assert _tail_skus(window=window, using="default", sku_ids=None) == []
    assert_kept_equals_ledger()
    assert sales_history_drift() == []

    shelf.moves(20)
    assert_kept_equals_ledger()
    sales_history_fold()
    assert_kept_equals_ledger()
    assert sales_history_drift() == []


def test_a_page_and_the_csv_read_the_kept_history_like_the_ledger():
    from replenishment.selectors import coverage_page

    shelf = Shelf(7, skus=12)
    shelf.moves(120)
    sales_history_rebuild()
    shelf.moves(10)  # some backdated, unfolded
    for sort in ("urgency", "cover", "code"):
        recomputed = coverage_rows(sort=sort, kept_history=False)
        page = coverage_page(needed_only=False, sort=sort, per_page=5)
        assert list(page) == recomputed[:5] and page.count == len(recomputed)
        assert list(coverage_iter(needed_only=False, sort=sort)) == recomputed


def test_a_whole_catalog_read_merges_its_joins_but_stages_a_long_tail_with_the_default(
    postgres, monkeypatch
):
    """Read from the kept history, a whole catalog's joins are merged (hash joins off for
    the read's transaction); a tail too long for the kept history stages the ledger's sums
    with the server's own choice of joins. The figures are the ledger's either way."""
    from django.db import connection, transaction

    from replenishment.selectors import coverage

    def hash_joins() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_hashjoin")
            return cursor.fetchone()[0]

    shelf = Shelf(12)
    shelf.moves(60)
    sales_history_rebuild()
    with transaction.atomic():
        kept = coverage_rows(sort="code")
        assert hash_joins() == "off"
    shelf.moves(10, days_back=20)  # backdated, unfolded: a tail
    monkeypatch.setattr(coverage, "FRESH_LIMIT", 0)  # any tail is too long
    with transaction.atomic():
        staged = coverage_rows(sort="code")
        assert hash_joins() == "on"
    assert kept != staged
    assert staged == coverage_rows(sort="code", kept_history=False)


def test_the_day_turning_rebuilds_the_history_for_the_new_window():
    shelf = Shelf(3)
    shelf.moves(60)
    sales_history_rebuild()
    tomorrow = timezone.now() + timedelta(days=1)
    report = sales_history_fold(now=tomorrow)
    assert report.rebuilt
    state = SalesHistoryState.objects.get()
    assert state.first_day == coverage_window(now=tomorrow).first_day
    assert coverage_rows(now=tomorrow) == coverage_rows(now=tomorrow, kept_history=False)


def test_a_history_of_another_window_is_not_read():
    """Built for yesterday's window (the day turned, no fold yet): reads recompute."""
    shelf = Shelf(4)
    shelf.moves(60)
    sales_history_rebuild(now=timezone.now() - timedelta(days=1))
    SalesWindow.objects.update(shipped=999)  # would show if it were read
    assert _tail_skus(window=coverage_window(), using="default", sku_ids=None) is None
    assert_kept_equals_ledger()


def test_verify_ledger_reports_a_tampered_history_and_the_rebuild_repairs_it():
    shelf = Shelf(5)
    shelf.moves(60)
    call_command("rebuild_sales_history", stdout=io.StringIO())
    call_command("verify_ledger", stdout=io.StringIO())  # clean
    row = SalesWindow.objects.order_by("sku_id").first()
    SalesWindow.objects.filter(pk=row.pk).update(shipped=row.shipped + 1)
    assert coverage_rows() != coverage_rows(kept_history=False)  # reads do use the history

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 figure"):
        call_command("verify_ledger", stdout=out)
    assert f"SALES HISTORY sku {row.sku.code}: kept {row.shipped + 1} shipped" in out.getvalue()

    out = io.StringIO()
    call_command("rebuild_sales_history", stdout=out)
    assert "rebuilt" in out.getvalue()
    call_command("verify_ledger", stdout=io.StringIO())
    assert sales_history_drift() == []


def test_a_missing_row_and_a_row_too_many_are_drift_too():
    shelf = Shelf(6)
    shelf.moves(60)
    sales_history_rebuild()
    gone = SalesWindow.objects.order_by("sku_id").first()
    SalesWindow.objects.filter(pk=gone.pk).delete()
    idle = SkuFactory(code="IDLE")
    SalesWindow.objects.create(sku=idle, shipped=0, sellable_days=3)
    assert {d.sku_code for d in sales_history_drift()} == {gone.sku.code, "IDLE"}


def test_a_ledger_id_committed_after_the_fold_below_its_watermark_is_still_counted():
    """Ids are taken before commit: a row with a lower id can commit after a fold moved the
    watermark past it. The fold keeps such an id as a gap; reads count it as unfolded once
    it appears; the next fold folds it."""
    shelf = Shelf(8)
    shelf.moves(40)
    sales_history_rebuild()
    sku, bin = shelf.skus[2], shelf.bins[0]
    late = StockMovement.objects.order_by("-id").first().pk + 1
    on_hand_adjust(bin=bin, sku=sku, delta=5, kind=Kind.RECEIVE, source_system=shelf.shelf,
                   source_event_id="after-the-gap", at=shelf.now - timedelta(days=3))  # fmt: skip
    # As if the movement with id ``late`` were still in its transaction during the fold.
    moved = StockMovement.objects.get(source_event_id="after-the-gap")
    assert moved.pk == late or moved.pk > late
    state = SalesHistoryState.objects.get()
    SalesHistoryState.objects.filter(pk=1).update(watermark=moved.pk)
    SalesHistoryGap.objects.create(ledger_id=moved.pk, seen_at=timezone.now())
    SalesWindow.objects.filter(sku=sku).delete()  # the fold had not seen it
    assert state.watermark < moved.pk

    assert _tail_skus(window=coverage_window(), using="default", sku_ids=None) == [sku.pk]
    assert_kept_equals_ledger()
    sales_history_fold()
    assert not SalesHistoryGap.objects.filter(ledger_id=moved.pk).exists()
    assert sales_history_drift() == []
    assert_kept_equals_ledger()


def test_a_fold_keeps_ids_missing_below_its_watermark_and_forgets_them_after_the_grace():
    from replenishment.services.sales_history import GAP_GRACE

    shelf = Shelf(9)
    shelf.moves(10)
    sales_history_rebuild()
    shelf.moves(5, days_back=0.1)
    top = StockMovement.objects.order_by("-id").first().pk
    SalesHistoryState.objects.filter(pk=1).update(watermark=top - 10)  # 10 ids to look at
    SalesHistoryGap.objects.all().delete()
    missing = [i for i in range(top - 9, top + 1)
               if not StockMovement.objects.filter(pk=i).exists()]  # fmt: skip
    # Both folds inside today's window (a fold after midnight rebuilds, and a rebuild looks
    # for gaps afresh): late in the day, the first fold is the one moved back in time.
    now = timezone.now()
    later = now + GAP_GRACE + timedelta(minutes=1)
    if timezone.localdate(later) != timezone.localdate(now):
        now, later = now - GAP_GRACE - timedelta(minutes=1), now
    sales_history_fold(now=now)
    assert sorted(SalesHistoryGap.objects.values_list("ledger_id", flat=True)) == missing
    sales_history_fold(now=later)
    assert not SalesHistoryGap.objects.exists()


def test_the_csv_export_streams_lazily(client, django_user_model):
    from django.contrib.auth.models import Permission

    shelf = Shelf(10)
    shelf.moves(40)
    sales_history_rebuild()
    assert inspect.isgenerator(coverage_iter(needed_only=False))
    user = django_user_model.objects.create_user("m", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_suggestions"))
    client.force_login(user)
    response = client.get("/replenishment/suggestions.csv?show=all")
    assert isinstance(response, StreamingHttpResponse)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + len(coverage_rows())


def test_the_export_reads_through_a_server_side_cursor(postgres):
    from django.db import connection

    shelf = Shelf(11)
    shelf.moves(40)
    sales_history_rebuild()
    rows = coverage_iter(needed_only=False, chunk=2)
    assert next(rows).code
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pg_cursors")
        assert cursor.fetchone()[0] == 1
    list(rows)


def _catalog(size: int) -> None:
    """``size`` counted SKUs, each with a receipt and a few ships over the window in one bin,
    balances equal to their ledger (set-based: 100,000 SKUs in seconds)."""
    from django.db import connection

    from inventory.models import OnHand, ShelfEvidence, Sku

    bin = BinFactory()
    shelf, storefront = System.objects.get(name="shelf"), System.objects.get(name="storefront")
    now = timezone.now()
    base = (Sku.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    t = {m: m._meta.db_table for m in (Sku, StockMovement, OnHand, ShelfEvidence)}
    with connection.cursor() as c:
        c.execute(
            f"INSERT INTO {t[Sku]} (id, code, title, active, unit_cost) "
            "SELECT g, 'Q-' || g, 'Item ' || g, TRUE, 1 FROM generate_series(%s, %s) g",
            [base, base + size - 1],
        )
        c.execute(
            f"""INSERT INTO {t[StockMovement]} (kind, bin_id, sku_id, quantity, balance_after,
                    source_system_id, source_event_id, leg, reference, note, created_at)
                SELECT k.kind, %s, g, k.q, k.after, CASE WHEN k.kind = 'ship' THEN %s ELSE %s END,
                       'q-' || g || '-' || k.n, 0, '', '', %s - k.age * INTERVAL '1 day'
                FROM generate_series(%s, %s) g,
                     (VALUES (1, 'receive', 20 + 0, 20, 20), (2, 'ship', -3, 17, 12),
                             (3, 'ship', -5, 12, 6), (4, 'ship', -4, 8, 2))
                     AS k(n, kind, q, after, age)
                WHERE k.n = 1 OR g %% 3 <> 0""",
            [bin.pk, storefront.pk, shelf.pk, now, base, base + size - 1],
        )
        c.execute(
            f"""INSERT INTO {t[OnHand]} (bin_id, sku_id, quantity, updated_at)
                SELECT %s, sku_id, SUM(quantity), %s FROM {t[StockMovement]}
                WHERE sku_id >= %s GROUP BY sku_id""",
            [bin.pk, now, base],
        )
        c.execute(
            f"INSERT INTO {t[ShelfEvidence]} (sku_id, kind, reference, recorded_at) "
            f"SELECT id, 'adopted', '', %s FROM {t[Sku]} WHERE id >= %s",
            [now, base],
        )
        c.execute("ANALYZE")


@pytest.mark.slow
def test_the_suggestions_page_costs_the_same_queries_at_100_and_100000_skus(postgres, client):
    """The page sorts every SKU on the server and fetches one page of rows: the same
    statements at 100 SKUs and at 100,000, one page of rows each time."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.create_user("m", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_suggestions"))
    client.force_login(user)
    ReorderPolicyFactory(sku=None, safety_stock_days=2, lead_time_days=10)

    def page():
        client.get("/replenishment/suggestions/")  # sessions and permissions warmed
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/replenishment/suggestions/?show=all&sort=urgency")
        assert response.status_code == 200
        return response.context["page"], [q["sql"] for q in queries.captured_queries]

    _catalog(100)
    sales_history_rebuild()
    small, small_queries = page()
    _catalog(99_900)
    sales_history_rebuild()
    large, large_queries = page()

    assert (small.count, large.count) == (100, 100_000)
    assert len(small.rows) == len(large.rows) == 50
    assert len(small_queries) == len(large_queries)
    assert sum("LIMIT" in sql and "planned" in sql for sql in large_queries) == 1
    assert "CREATE TEMP" not in " ".join(large_queries)  # no per-read staging
