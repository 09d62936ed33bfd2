"""Reconciliation against the local Shopify fake: every gap surfaced, corrected, counted."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
