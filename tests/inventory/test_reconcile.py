"""Reconciliation against the local Shopify fake: every gap surfaced, corrected, counted."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import hooks
from inventory.models import Discrepancy, StockMovement
from inventory.services import on_hand_adjust, orders_at_risk_check, storefront_push
from inventory.services.reconcile import (
    ReconcileReport,
    _reconcile_page,
    reconcile_ranges,
    storefront_reconcile,
)
from inventory.storefront import adapter_for
from inventory.storefront.base import Level
from tests.factories import BinFactory, CommitmentFactory, SkuFactory

Kind = StockMovement.Kind


@pytest.fixture(autouse=True)
def _breaker_wide_open(settings):
    """These tests record and correct gaps in catalogs of a few SKUs, where a couple of
    corrections are a large share of the units; the circuit breaker has tests of its own
    (test_adoption.py)."""
    settings.ONEFACT_BREAKER_DROP_PERCENT = 100
    settings.ONEFACT_BREAKER_ZERO_SKUS = 10**6


@pytest.fixture
def requested(monkeypatch):
    """Collect count requests, as driftwalks' subscriber would."""
    seen: list[hooks.CountRequest] = []
    monkeypatch.setattr(hooks, "_count_subscribers", [seen.append])
    return seen


def _catalog(shopify, shelf, n):
    bin = BinFactory(code="A-14")
    codes = [f"R-{i:04}" for i in range(n)]
    shopify.fake.add_product("Range", [(code, 0) for code in codes])
    for i, code in enumerate(codes):
        on_hand_adjust(bin=bin, sku=SkuFactory(code=code), delta=5 + i % 3, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"r-{code}")  # fmt: skip
    storefront_push(storefront=shopify)
    return codes


def test_reconcile_clean_run_writes_nothing(shopify, shelf, requested):
    _catalog(shopify, shelf, 30)
    report = storefront_reconcile(storefront=shopify)
    assert (report.skus_compared, report.gaps, report.discrepancies_written) == (30, 0, 0)
    assert not Discrepancy.objects.exists() and requested == []


def test_reconcile_each_seeded_gap_gives_one_discrepancy_a_correction_and_counts(
    shopify, shelf, requested
):
    codes = _catalog(shopify, shelf, 40)
    shelf_values = {c: shopify.fake.on_hand(c) for c in codes}
    small, big = codes[3], codes[17]
    shopify.fake.set_on_hand(small, shelf_values[small] + 1)  # within tolerance (2)
    shopify.fake.set_on_hand(big, shelf_values[big] - 4)  # past tolerance
    report = storefront_reconcile(storefront=shopify)
    assert (report.gaps, report.discrepancies_written, report.corrected) == (2, 2, 2)
    assert {c: shopify.fake.on_hand(c) for c in codes} == shelf_values
    d_small = Discrepancy.objects.get(sku__code=small)
    assert (d_small.owner_value, d_small.consumer_value, d_small.gap) == (
        shelf_values[small], shelf_values[small] + 1, 1
    )  # fmt: skip
    assert d_small.detail == (
        f"shopify-1 says {shelf_values[small] + 1}, shelf says {shelf_values[small]}; "
        "shelf owns on-hand and wins."
    )
    assert (d_small.status, d_small.resolution, d_small.winner.name) == (
        "resolved", "correction", "shelf"
    )  # fmt: skip
    d_big = Discrepancy.objects.get(sku__code=big)
    assert d_big.status == "open" and d_big.count_requested_at and d_big.corrected_at
    assert [(r.sku.code, [b.code for b in r.bins]) for r in requested] == [(big, ["A-14"])]
    assert storefront_reconcile(storefront=shopify).gaps == 0  # the next run is clean


def test_reconcile_repeat_gap_within_window_asks_for_a_count(shopify, shelf, requested):
    codes = _catalog(shopify, shelf, 5)
    value = shopify.fake.on_hand(codes[0])
    shopify.fake.set_on_hand(codes[0], value + 1)
    storefront_reconcile(storefront=shopify)
    assert requested == []
    shopify.fake.set_on_hand(codes[0], value + 1)
    storefront_reconcile(storefront=shopify)
    assert [r.sku.code for r in requested] == [codes[0]]
    assert requested[0].discrepancy.detail.endswith("wins. Seen again within the window.")


def test_reconcile_skips_skus_with_a_push_in_flight(shopify, shelf, requested):
    codes = _catalog(shopify, shelf, 3)
    sku = SkuFactory._meta.model.objects.get(code=codes[0])
    on_hand_adjust(bin=BinFactory(), sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="late")  # fmt: skip
    report = storefront_reconcile(storefront=shopify)
    assert (report.skipped_in_flight, report.gaps) == (1, 0)


def test_reconcile_page_runs_a_fixed_number_of_queries(shopify, shelf, requested):
    # SQLite splits a bulk insert by its parameter limit; PostgreSQL takes a page in one.
    large = 250 if connection.vendor == "postgresql" else 40
    codes = _catalog(shopify, shelf, large)
    adapter = adapter_for(shopify)
    counts = []
    for size in (10, large):
        page = [Level(sku=c, quantity=99) for c in codes[:size]]  # every one a gap
        with CaptureQueriesContext(connection) as ctx:
            _reconcile_page(storefront=shopify, adapter=adapter, owner=None, levels=page,
                            report=ReconcileReport(storefront="x"))  # fmt: skip
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_orders_at_risk_is_its_own_discrepancy(shopify, shelf):
    sku = SkuFactory(code="RISK-1")
    on_hand_adjust(bin=BinFactory(), sku=sku, delta=2, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="r")  # fmt: skip
    CommitmentFactory(sku=sku, source_system=shopify, quantity=3)
    assert orders_at_risk_check() == 1
    assert orders_at_risk_check() == 0  # not twice
    risk = Discrepancy.objects.get(kind=Discrepancy.Kind.ORDERS_AT_RISK)
    assert risk.detail == "Open orders want 3 of RISK-1, the shelf holds 2."


def test_a_storefront_that_reads_its_location_whole_is_reconciled_in_one_piece(
    shopify, storefront, settings
):
    from inventory.services.reconcile import range_codes, reconcile_parts

    settings.ONEFACT_RECONCILE_RANGE_SIZE = 10
    for n in range(23):
        SkuFactory(code=f"Z-{n:03}")
    # Shopify: one bulk export of the location, not a range per task that each exports it.
    assert reconcile_parts(storefront=shopify) == [(None, None)]
    assert range_codes(first=None, last=None) is None
    assert reconcile_parts(storefront=storefront) == [
        ("Z-000", "Z-009"), ("Z-010", "Z-019"), ("Z-020", "Z-022")
    ]  # fmt: skip


def test_reconcile_ranges_cover_the_catalog(db):
    for n in range(23):
        SkuFactory(code=f"Z-{n:03}")
    ranges = reconcile_ranges(size=10)
    assert ranges == [("Z-000", "Z-009"), ("Z-010", "Z-019"), ("Z-020", "Z-022")]


def test_reconcile_command_reports(shopify, shelf, capsys, requested):
    codes = _catalog(shopify, shelf, 4)
    shopify.fake.set_on_hand(codes[1], 50)
    call_command("reconcile", storefront="shopify-1")
    assert (
        "4 SKUs compared, 1 gaps, 1 discrepancies written, 1 corrected" in capsys.readouterr().out
    )


def test_reconcile_interrupted_before_its_correction_records_the_gap_once(
    shopify, shelf, requested
):
    from inventory.storefront.base import StorefrontUnavailable

    codes = _catalog(shopify, shelf, 3)
    value = shopify.fake.on_hand(codes[1])
    shopify.fake.set_on_hand(codes[1], value + 1)
    shopify.fake.fail_next(1, operation="OneFactSetOnHand")  # the correction never lands
    with pytest.raises(StorefrontUnavailable):
        storefront_reconcile(storefront=shopify)
    recorded = Discrepancy.objects.get(sku__code=codes[1])
    assert recorded.corrected_at is None and recorded.status == "open"
    report = storefront_reconcile(storefront=shopify)  # the next run (or the redelivered task)
    assert (report.gaps, report.discrepancies_written, report.corrected) == (1, 0, 1)
    assert Discrepancy.objects.filter(sku__code=codes[1]).count() == 1
    assert Discrepancy.objects.get(pk=recorded.pk).resolution == "correction"
    assert shopify.fake.on_hand(codes[1]) == value


class _Killed(BaseException):
    """The worker dies here (SIGKILL): nothing after it runs, no handler sees it."""


def _killed(*args, **kwargs):
    raise _Killed


def test_reconcile_settles_a_gap_whose_correction_landed_unrecorded(
    shopify, shelf, requested, monkeypatch
):
    from inventory.models import SyncState
    from inventory.services import reconcile

    codes = _catalog(shopify, shelf, 3)
    shelf_values = {c: shopify.fake.on_hand(c) for c in codes}
    small, big = codes[0], codes[1]
    shopify.fake.set_on_hand(small, shelf_values[small] + 1)  # within tolerance
    shopify.fake.set_on_hand(big, shelf_values[big] + 5)  # past it: a count is asked for
    with monkeypatch.context() as patch:  # the storefront applies, the worker dies before
        patch.setattr(reconcile, "_mark_corrected", _killed)
        with pytest.raises(_Killed):
            storefront_reconcile(storefront=shopify)
    assert {c: shopify.fake.on_hand(c) for c in codes} == shelf_values
    assert Discrepancy.objects.filter(corrected_at__isnull=True).count() == 2

    # The redelivered run finds no gap: the ones left uncorrected are settled, not open forever.
    report = storefront_reconcile(storefront=shopify)
    assert (report.gaps, report.discrepancies_written, report.corrected, report.settled) == (
        0, 0, 0, 2
    )  # fmt: skip
    d_small, d_big = (Discrepancy.objects.get(sku__code=c) for c in (small, big))
    assert (d_small.status, d_small.resolution, d_small.correction) == (
        "resolved", "correction", shelf_values[small]
    )  # fmt: skip
    assert d_small.corrected_at and d_small.resolution_note == reconcile.SETTLED_NOTE
    assert (d_big.status, d_big.correction) == ("open", shelf_values[big])  # awaits its count
    assert d_big.corrected_at and d_big.resolution_note == ""
    assert [r.sku.code for r in requested] == [big]  # asked once
    pushed = SyncState.objects.filter(sku__code__in=[small, big])
    assert dict(pushed.values_list("sku__code", "pushed_value")) == {
        small: shelf_values[small], big: shelf_values[big]
    }  # fmt: skip
    assert storefront_reconcile(storefront=shopify).settled == 0  # nothing left to settle


# --- the compare after every page is read ------------------------------------------------


class _AfterRead:
    """The real adapter; ``after`` runs once, just after the first page was read."""

    def __init__(self, adapter, after):
        self.adapter, self.after = adapter, after

    def __getattr__(self, name):
        return getattr(self.adapter, name)

    def read_levels(self, skus, cursor=None):
        page = self.adapter.read_levels(skus, cursor)
        if self.after:
            self.after()
            self.after = None
        return page


def _reconcile_with(monkeypatch, system, after, *, page_size=None, **kwargs):
    from inventory.services import reconcile

    adapter = _AfterRead(adapter_for(system), after)
    if page_size:
        adapter.adapter._page_size = page_size
    monkeypatch.setattr(reconcile, "adapter_for", lambda s: adapter)
    return storefront_reconcile(storefront=system, **kwargs)


def test_reconcile_skips_a_sku_changed_after_its_page_was_read(
    shopify, shelf, requested, monkeypatch
):
    from inventory.models import Bin, Sku, SyncState

    codes = _catalog(shopify, shelf, 3)
    sku = Sku.objects.get(code=codes[0])

    def receive_and_push():
        on_hand_adjust(bin=Bin.objects.get(code="A-14"), sku=sku, delta=2, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id="after-the-read")  # fmt: skip
        storefront_push(storefront=shopify)  # the storefront holds the new number too
        # A worker whose clock is a minute behind: only the outbox version tells.
        SyncState.objects.filter(sku=sku).update(pushed_at=timezone.now() - timedelta(minutes=1))

    report = _reconcile_with(monkeypatch, shopify, receive_and_push)
    assert (report.skipped_in_flight, report.skus_compared, report.gaps) == (1, 2, 0)
    assert not Discrepancy.objects.exists()


def test_reconcile_skips_a_sku_whose_push_landed_after_its_page_was_read(
    shopify, shelf, requested, monkeypatch
):
    from inventory.models import Bin, Sku

    codes = _catalog(shopify, shelf, 3)
    on_hand_adjust(bin=Bin.objects.get(code="A-14"), sku=Sku.objects.get(code=codes[1]), delta=2,
                   kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="before-the-read")  # fmt: skip
    # The page shows the old number; the push lands before the compare.
    report = _reconcile_with(monkeypatch, shopify, lambda: storefront_push(storefront=shopify))
    assert (report.skipped_in_flight, report.skus_compared, report.gaps) == (1, 2, 0)
    assert not Discrepancy.objects.exists()
    assert storefront_reconcile(storefront=shopify).skus_compared == 3  # settled next time


@pytest.mark.parametrize("mark_for, skipped", [(timedelta(0), 0), (timedelta(hours=1), 1)])
def test_reconcile_marks_a_page_when_it_is_read_or_keeps_a_recent_mark(
    shopify, shelf, requested, monkeypatch, mark_for, skipped
):
    """A SKU changed and pushed after the first page was read but before its own: with a
    fresh mark per page it is compared; with the first page's mark used again it is skipped
    (an older mark is only stricter), never reported as a gap."""
    from inventory.models import Bin, Sku
    from inventory.services import reconcile

    monkeypatch.setattr(reconcile._Loader, "MARK_FOR", mark_for)
    codes = _catalog(shopify, shelf, 4)

    def receive_and_push():
        on_hand_adjust(bin=Bin.objects.get(code="A-14"), sku=Sku.objects.get(code=codes[3]),
                       delta=2, kind=Kind.RECEIVE, source_system=shelf,
                       source_event_id="between-the-pages")  # fmt: skip
        storefront_push(storefront=shopify)

    report = _reconcile_with(monkeypatch, shopify, receive_and_push, page_size=2)
    assert report.pages == 2
    assert (report.skipped_in_flight, report.skus_compared, report.gaps) == (
        skipped, 4 - skipped, 0
    )  # fmt: skip


def test_reconcile_counts_skus_the_shelf_does_not_know(shopify, shelf, requested):
    _catalog(shopify, shelf, 2)
    shopify.fake.add_product("Stranger", [("NOT-OURS", 4)])
    report = storefront_reconcile(storefront=shopify)
    assert (report.unknown_skus, report.skus_compared, report.gaps) == (1, 2, 0)


def test_reconcile_of_some_codes_compares_only_those(shopify, shelf, requested):
    codes = _catalog(shopify, shelf, 6)
    for code in (codes[1], codes[4]):
        shopify.fake.set_on_hand(code, 40)
    report = storefront_reconcile(storefront=shopify, codes=codes[:3])
    assert (report.skus_compared, report.gaps, report.corrected) == (3, 1, 1)
    assert list(Discrepancy.objects.values_list("sku__code", flat=True)) == [codes[1]]
    assert shopify.fake.on_hand(codes[4]) == 40  # outside the range: not touched


def test_reconcile_loads_pages_and_takes_gaps_a_chunk_at_a_time(
    shopify, shelf, requested, monkeypatch
):
    from inventory.models import SyncState
    from inventory.services import reconcile

    monkeypatch.setattr(reconcile, "CHUNK", 3)
    monkeypatch.setattr(reconcile._Loader, "FLUSH_ROWS", 4)
    codes = _catalog(shopify, shelf, 10)
    shelf_values = {c: shopify.fake.on_hand(c) for c in codes}
    versions = dict(SyncState.objects.values_list("sku__code", "pushed_version"))
    for code in codes[:5]:
        shopify.fake.set_on_hand(code, shelf_values[code] + 1)  # within tolerance
    for code in codes[8:]:
        shopify.fake.set_on_hand(code, shelf_values[code] + 5)  # past it: a count
    # Pages of 3 (3, 3, 3, 1) are loaded 4 rows at a time at least, gaps taken 3 at a time.
    report = _reconcile_with(monkeypatch, shopify, None, page_size=3)
    assert report.pages == 4
    assert (report.gaps, report.discrepancies_written, report.corrected,
            report.counts_requested) == (7, 7, 7, 2)  # fmt: skip
    assert {c: shopify.fake.on_hand(c) for c in codes} == shelf_values
    assert sorted(r.sku.code for r in requested) == codes[8:]
    gaps = Discrepancy.objects.filter(kind=Discrepancy.Kind.STOREFRONT_GAP)
    assert sorted(gaps.values_list("status", flat=True)) == ["open"] * 2 + ["resolved"] * 5
    assert all(d.correction == d.owner_value and d.corrected_at for d in gaps)
    # What the storefront was told; the push's version is kept.
    states = {s.sku.code: s for s in SyncState.objects.filter(storefront=shopify)}
    assert {c: states[c].pushed_value for c in codes} == shelf_values
    assert all(states[c].pushed_version == versions[c] for c in codes)


def test_reconcile_writes_each_gap_as_the_models_own_bulk_create_would(shopify, shelf, requested):
    """A chunk's gaps, and what the storefront was told, are written one statement each;
    every column holds what the model's own bulk_create would give it."""
    from decimal import Decimal

    from inventory.models import Sku, SyncState

    codes = _catalog(shopify, shelf, 3)
    Sku.objects.filter(code=codes[0]).update(unit_cost=Decimal("2.50"))
    value = shopify.fake.on_hand(codes[0])
    shopify.fake.set_on_hand(codes[0], value + 4)
    from inventory.models import ShelfEvidence

    # Counted, none there, never stocked, never pushed: its sync row is new.
    ShelfEvidence.objects.create(sku=SkuFactory(code="FRESH-1"), kind=ShelfEvidence.Kind.ZERO)
    shopify.fake.add_product("Fresh", [("FRESH-1", 3)])
    storefront_reconcile(storefront=shopify)
    state = SyncState.objects.get(sku__code="FRESH-1")
    assert (state.pushed_value, state.pushed_version, state.pushed_at is not None,
            state.last_error) == (0, 0, True, "")  # fmt: skip
    assert shopify.fake.on_hand("FRESH-1") == 0
    gap = Discrepancy.objects.get(sku__code=codes[0])
    assert (gap.kind, gap.fact, gap.sku.code, gap.bin, gap.owner.name, gap.consumer.name,
            gap.winner.name) == ("storefront_gap", "on_hand", codes[0], None, "shelf",
                                 "shopify-1", "shelf")  # fmt: skip
    assert (gap.owner_value, gap.consumer_value, gap.units, gap.unit_cost, gap.value) == (
        value, value + 4, 4, Decimal("2.50"), Decimal("10.00")
    )  # fmt: skip
    assert (
        gap.detail
        == f"shopify-1 says {value + 4}, shelf says {value}; shelf owns on-hand and wins."
    )
    assert gap.created_at and gap.count_requested_at and gap.corrected_at
    assert (gap.status, gap.resolution, gap.reference, gap.resolution_note) == ("open", "", "", "")
    # Both are past the tolerance: FRESH-1 by 3, the other by 4.
    assert [r.discrepancy.sku.code for r in requested] == ["FRESH-1", codes[0]]
    assert requested[1].discrepancy == gap


def test_reconcile_of_a_storefront_mirroring_available_subtracts_open_orders(
    storefront, shelf, requested
):
    from inventory.storefront.demo.models import DemoLevel

    bin = BinFactory(code="A-14")
    stock = {"AV-1": (10, 3), "AV-2": (5, 0), "AV-3": (2, 4)}  # on hand, committed
    for code, (on_hand, committed) in stock.items():
        sku = SkuFactory(code=code)
        on_hand_adjust(bin=bin, sku=sku, delta=on_hand, kind=Kind.RECEIVE, source_system=shelf,
                       source_event_id=f"r-{code}")  # fmt: skip
        if committed:
            CommitmentFactory(sku=sku, quantity=committed)
        DemoLevel.objects.create(sku_code=code, quantity=0)
    storefront_push(storefront=storefront)
    assert dict(DemoLevel.objects.values_list("sku_code", "quantity")) == {
        "AV-1": 7, "AV-2": 5, "AV-3": 0
    }  # fmt: skip
    assert storefront_reconcile(storefront=storefront).gaps == 0
    DemoLevel.objects.filter(sku_code="AV-1").update(quantity=10)  # on hand, not available
    report = storefront_reconcile(storefront=storefront)
    assert (report.skus_compared, report.gaps, report.corrected) == (3, 1, 1)
    gap = Discrepancy.objects.get()
    assert (gap.sku.code, gap.owner_value, gap.consumer_value) == ("AV-1", 7, 10)


def test_reconcile_reads_codes_with_tabs_backslashes_and_newlines(storefront, db):
    codes = ["TAB\tCODE", "BACK\\SLASH", "NEW\nLINE", "CR\rHERE", "\\N"]
    for code in codes:
        SkuFactory(code=code)
    report = ReconcileReport(storefront="demo")
    _reconcile_page(storefront=storefront, adapter=adapter_for(storefront), owner=None,
                    levels=[Level(sku=c, quantity=0) for c in codes], report=report)  # fmt: skip
    assert (report.skus_compared, report.unknown_skus, report.gaps) == (5, 0, 0)


def _temporary_tables() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()")
        else:
            cursor.execute("SELECT name FROM sqlite_temp_master")
        return [name for (name,) in cursor.fetchall() if name.startswith("onefact_reconcile")]


def test_reconcile_leaves_no_temporary_table_behind_even_when_interrupted(
    shopify, shelf, requested
):
    from inventory.storefront.base import StorefrontUnavailable

    codes = _catalog(shopify, shelf, 3)
    storefront_reconcile(storefront=shopify)
    assert _temporary_tables() == []
    shopify.fake.set_on_hand(codes[0], 99)
    shopify.fake.fail_next(1, operation="OneFactSetOnHand")
    with pytest.raises(StorefrontUnavailable):
        storefront_reconcile(storefront=shopify)
    assert _temporary_tables() == []
