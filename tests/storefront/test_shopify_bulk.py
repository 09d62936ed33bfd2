"""Large Shopify reads through one bulk operation (``inventory.storefront.shopify_bulk``), against
the fake's bulk operations (``tests.storefront.fake_shopify_bulk``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from graphql import parse, validate

from inventory.models import Discrepancy
from inventory.services import storefront_reconcile
from inventory.storefront import shopify_bulk
from inventory.storefront.base import (
    Level,
    StorefrontUnavailable,
    StorefrontValidationError,
)
from inventory.storefront.shopify import ShopifyAdapter
from inventory.storefront.shopify_bulk import (
    BULK_LEVELS_DOCUMENT,
    BULK_RUN_MUTATION,
    BulkLevels,
    parse_level,
)
from tests.storefront.fake_shopify_bulk import SimulatedClock, bulk_query_problem
from tests.storefront.fakes import SHOPIFY_SCHEMA_VERSIONS, FakeShopify, shopify_schema

LOCATION = "gid://shopify/Location/1"
CODES = [f"B-{n:03}" for n in range(30)]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def shop(clock: SimulatedClock) -> Iterator[FakeShopify]:
    with FakeShopify(now=clock.now) as fake:
        fake.add_product("Bolt", [(code, n) for n, code in enumerate(CODES)])
        fake.add_product("Nut", [("N-1", None)])  # not stocked at the location
        yield fake


def make_adapter(shop: FakeShopify, clock: SimulatedClock, *, above: int) -> ShopifyAdapter:
    adapter = ShopifyAdapter(
        shop_url=shop.shop_url,
        access_token=shop.access_token,
        location_id=shop.location_id,
        webhook_secret=shop.webhook_secret,
        timeout=5.0,
        sleep=clock.sleep,
        clock=clock.now,
    )
    adapter.bulk_levels = BulkLevels(adapter, above=above)
    return adapter


def read_all(adapter: ShopifyAdapter, skus: list[str] | None = None) -> tuple[list[Level], int]:
    levels, cursor, pages = [], None, 0
    while True:
        page = adapter.read_levels(skus, cursor)
        levels += page.items
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return levels, pages


def test_read_levels_above_the_threshold_reads_the_location_in_one_bulk_operation(
    shop: FakeShopify, clock: SimulatedClock
) -> None:
    with make_adapter(shop, clock, above=10) as adapter:
        bulk, _ = read_all(adapter)
    with make_adapter(shop, clock, above=10**6) as adapter:
        paged, _ = read_all(adapter)
    assert sorted(bulk, key=lambda level: level.sku) == sorted(paged, key=lambda lv: lv.sku)
    assert len(bulk) == len(CODES)
    assert len(shop.operations("OneFactBulkLevelsRun")) == 1
    assert len(shop.operations("OneFactLocationLevels")) == 1  # the paged read only
    assert shop.bulk.downloads == 1


def test_read_levels_up_to_the_threshold_reads_page_by_page(
    shop: FakeShopify, clock: SimulatedClock
) -> None:
    with make_adapter(shop, clock, above=31) as adapter:  # 31 variants: not above
        levels, _ = read_all(adapter)
    assert len(levels) == len(CODES)
    counted = shop.operations("OneFactVariantsCount")
    assert [request.json["variables"] for request in counted] == [{"limit": 32}]
    assert shop.operations("OneFactBulkLevelsRun") == []


def test_bulk_levels_threshold_comes_from_the_setting(
    settings, shop: FakeShopify, clock: SimulatedClock
) -> None:
    settings.ONEFACT_SHOPIFY_BULK_ABOVE = 5
    with make_adapter(shop, clock, above=0) as adapter:
        adapter.bulk_levels = None  # made by the first read, from the setting
        read_all(adapter, CODES[:6])
        assert adapter.bulk_levels.above == 5
    assert len(shop.operations("OneFactBulkLevelsRun")) == 1


def test_read_levels_for_more_skus_than_the_threshold_keeps_only_those(
    shop: FakeShopify, clock: SimulatedClock
) -> None:
    wanted = CODES[3:15]
    with make_adapter(shop, clock, above=10) as adapter:
        levels, _ = read_all(adapter, wanted)
    assert sorted(level.sku for level in levels) == wanted
    assert shop.operations("OneFactVariantsCount") == []  # the list's length decides
    assert len(shop.operations("OneFactBulkLevelsRun")) == 1


def test_bulk_file_is_read_in_bounded_pages_and_a_cursor_resumes_elsewhere(
    shop: FakeShopify, clock: SimulatedClock, monkeypatch
) -> None:
    monkeypatch.setattr(shopify_bulk, "PAGE_LEVELS", 7)
    with make_adapter(shop, clock, above=10) as adapter:
        first = adapter.read_levels(None)
        assert len(first.items) == 7 and first.next_cursor.startswith("bulk:")
        with make_adapter(shop, clock, above=10) as other:  # e.g. a retried task
            rest, pages = read_all_from(other, first.next_cursor)
    assert pages == 4  # 7 + 7 + 7 + 2
    assert [level.sku for level in first.items + rest] == CODES
    assert shop.bulk.downloads == 2


def read_all_from(adapter: ShopifyAdapter, cursor: str) -> tuple[list[Level], int]:
    levels, pages = [], 0
    while cursor is not None:
        page = adapter.read_levels(None, cursor)
        levels += page.items
        pages += 1
        cursor = page.next_cursor
    return levels, pages


def test_bulk_read_polls_on_the_shared_clock_until_completed(
    shop: FakeShopify, clock: SimulatedClock
) -> None:
    shop.bulk.start_delay, shop.bulk.objects_per_second = 5.0, 2.0  # 31 objects: 20.5 s
    with make_adapter(shop, clock, above=10) as adapter:
        levels, _ = read_all(adapter)
    assert len(levels) == len(CODES)
    assert clock.now() == 1 + 2 + 4 + 8 + 10  # the waits, counted, not slept
    assert len(shop.operations("OneFactBulkOperation")) == 6


@pytest.mark.parametrize("error_code", ["TIMEOUT", "INTERNAL_SERVER_ERROR"])
def test_failed_bulk_operation_raises_unavailable_naming_it(
    shop: FakeShopify, clock: SimulatedClock, error_code: str
) -> None:
    shop.bulk.fail_next(error_code)
    with (
        make_adapter(shop, clock, above=10) as adapter,
        pytest.raises(StorefrontUnavailable, match=f"is FAILED \\({error_code}\\)"),
    ):
        adapter.read_levels(None)


def test_expired_bulk_operation_raises_unavailable_when_its_cursor_is_read(
    shop: FakeShopify, clock: SimulatedClock, monkeypatch
) -> None:
    monkeypatch.setattr(shopify_bulk, "PAGE_LEVELS", 7)
    with make_adapter(shop, clock, above=10) as adapter:
        cursor = adapter.read_levels(None).next_cursor
    shop.bulk.expire(next(iter(shop.bulk.operations)))
    with (
        make_adapter(shop, clock, above=10) as other,
        pytest.raises(StorefrontUnavailable, match="is EXPIRED"),
    ):
        other.read_levels(None, cursor)


def test_bulk_run_while_five_operations_run_is_retried_later(
    shop: FakeShopify, clock: SimulatedClock
) -> None:
    shop.bulk.start_delay = 3600.0
    with make_adapter(shop, clock, above=10) as adapter:
        for _ in range(5):
            adapter._graphql(
                "OneFactBulkLevelsRun",
                BULK_RUN_MUTATION,
                {"query": BULK_LEVELS_DOCUMENT % json.dumps("id:1")},
            )
        with pytest.raises(StorefrontUnavailable, match="already in progress"):
            adapter.bulk_levels.run()


def test_bulk_run_refused_by_shopify_raises_validation_error(
    shop: FakeShopify, clock: SimulatedClock, monkeypatch
) -> None:
    monkeypatch.setattr(
        shopify_bulk, "BULK_LEVELS_DOCUMENT", "{ locations(first: 5, query: %s) { nodes { id } } }"
    )
    with (
        make_adapter(shop, clock, above=10) as adapter,
        pytest.raises(StorefrontValidationError, match="remove first from 'locations'"),
    ):
        adapter.read_levels(None)


@pytest.mark.django_db
def test_reconcile_surfaces_a_failed_bulk_read_and_records_nothing(shopify, settings) -> None:
    settings.ONEFACT_SHOPIFY_BULK_ABOVE = 1
    shopify.fake.bulk.start_delay = 0.0
    shopify.fake.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3)])
    shopify.fake.bulk.fail_next("TIMEOUT")
    with pytest.raises(StorefrontUnavailable, match="FAILED \\(TIMEOUT\\)"):
        storefront_reconcile(storefront=shopify)
    assert not Discrepancy.objects.exists()


@pytest.mark.django_db
def test_reconcile_reads_a_large_catalog_in_bulk_and_records_its_gaps(
    shopify, settings, shelf
) -> None:
    from inventory.models import StockMovement
    from inventory.services import on_hand_adjust, storefront_push
    from tests.factories import BinFactory, SkuFactory

    settings.ONEFACT_SHOPIFY_BULK_ABOVE = 3
    settings.ONEFACT_BREAKER_DROP_PERCENT = 100
    shopify.fake.bulk.start_delay = 0.0
    codes = ["L-1", "L-2", "L-3", "L-4"]
    shopify.fake.add_product("Lamp", [(code, 4) for code in codes])
    bin = BinFactory()
    for code in codes:
        on_hand_adjust(bin=bin, sku=SkuFactory(code=code), delta=4,
                       kind=StockMovement.Kind.RECEIVE, source_system=shelf,
                       source_event_id=f"seed-{code}")  # fmt: skip
    storefront_push(storefront=shopify)  # the shelf's numbers acknowledged: none in flight
    shopify.fake.set_on_hand("L-2", 1)
    report = storefront_reconcile(storefront=shopify)
    assert (report.skus_compared, report.gaps) == (4, 1)
    assert Discrepancy.objects.get().sku.code == "L-2"
    assert len(shopify.fake.operations("OneFactBulkLevelsRun")) == 1
    assert shopify.fake.operations("OneFactLocationLevels") == []


def test_parse_level_reads_level_rows_whose_parent_is_our_location() -> None:
    level = {
        "id": "gid://shopify/InventoryLevel/9?inventory_item_id=9",
        "item": {"id": "gid://shopify/InventoryItem/9", "sku": "A-1"},
        "quantities": [{"name": "on_hand", "quantity": 4}],
    }
    assert parse_level(json.dumps({"id": LOCATION}), LOCATION) is None  # the location's own line
    assert parse_level(json.dumps({**level, "__parentId": LOCATION}), LOCATION) == (
        Level(sku="A-1", quantity=4),
        "gid://shopify/InventoryItem/9",
    )
    other = {**level, "__parentId": "gid://shopify/Location/2"}
    assert parse_level(json.dumps(other), LOCATION) is None
    no_sku = {**level, "item": {"id": "x", "sku": None}, "__parentId": LOCATION}
    assert parse_level(json.dumps(no_sku), LOCATION) is None
    no_on_hand = {**level, "quantities": [], "__parentId": LOCATION}
    assert parse_level(json.dumps(no_on_hand), LOCATION) is None
    with pytest.raises(StorefrontValidationError, match="broken line"):
        parse_level(b'{"id": ', LOCATION)


QUERY_WITH = "{ products { edges { node { id %s } } } }"


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("{ products(first: 10) { edges { node { id } } } }", "remove first"),
        ("{ node(id: \"gid://shopify/Product/1\") { id } }", "node or nodes"),
        ("{ shop { name } }", "at least one connection"),
        ("mutation { x { y } }", "exactly one query"),
        ("{ products { nodes { id } } orders { nodes { id } } }", "one top-level field"),
        ("query($q: String) { products(query: $q) { nodes { id } } }", "no variables"),
        ("{ products { ", "Invalid bulk query"),
        (
            QUERY_WITH % "variants { edges { node { id metafields { nodes { id } } } } }",
            "more than 2 levels",
        ),
        (QUERY_WITH % " ".join(f"c{n}: collections {{ nodes {{ id }} }}" for n in range(5)),
         "more than 5 connections"),
        ("{ products { edges { node { title variants { nodes { id } } } } } }", "select 'id'"),
    ],
)  # fmt: skip
def test_fake_refuses_what_shopify_refuses_in_a_bulk_query(query: str, refusal: str) -> None:
    assert refusal in (bulk_query_problem(query) or "")


def test_onefact_bulk_levels_query_is_a_valid_bulk_query() -> None:
    assert bulk_query_problem(BULK_LEVELS_DOCUMENT % json.dumps("id:1")) is None


@pytest.mark.parametrize("version", SHOPIFY_SCHEMA_VERSIONS)
def test_bulk_levels_document_validates_against_every_supported_schema(version: str) -> None:
    """The request documents are in ``shopify_documents.DOCUMENTS`` (test_shopify_documents.py);
    the query Shopify runs in bulk travels as a string, so it is validated here."""
    errors = validate(shopify_schema(version), parse(BULK_LEVELS_DOCUMENT % json.dumps("id:1")))
    assert not errors, f"BULK_LEVELS_DOCUMENT against Shopify Admin {version}: {errors}"


@pytest.mark.django_db(transaction=True)
def test_benchmark_reconcile_shopify_reports_bulk_and_paged_figures(postgres, capsys):
    """PostgreSQL only, as the other sections (they re-point the default connection)."""
    call_command("benchmark", "--json", "--scale", "0.002", "--only", "reconcile_shopify")
    result = json.loads(capsys.readouterr().out)["reconcile_shopify"]
    assert result["skus"] == result["paged_levels"] == 200
    assert result["paged_requests"] == 1 + 1  # the count, then one page of 250
    # the count 1, the page 753 requested and 603 used: 200 of its 250 levels came back
    assert result["paged_points"] == 1 + 3 + 200 * 3
    assert 0 < result["bulk_points"] < result["paged_points"]
    assert result["throttled"] == 0
