"""Shopify's query cost and rate limit, as FakeShopify charges them and the adapter lives with.

The fake prices each query from its document and variables by Shopify's documented rules
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits), refuses one over 1,000
points before running it, and keeps a leaky bucket per shop on a clock the tests replace.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from inventory.models import StockMovement
from inventory.services import on_hand_adjust, storefront_push, storefront_reconcile
from inventory.storefront import shopify, shopify_documents, shopify_returns
from inventory.storefront.base import (
    LevelWrite,
    RateLimited,
    StorefrontValidationError,
    WriteStatus,
)
from tests.factories import SkuFactory
from tests.storefront.fakes import (
    SHOPIFY_STANDARD_BUCKET,
    SHOPIFY_STANDARD_RESTORE_RATE,
    FakeShopify,
    ShopifyQueryError,
    shopify_requested_cost,
)

# The returns queries as they were before they were cut to fit: 50 reverse fulfillment orders ×
# 250 line items, and 250 line items of one order.
OLD_RETURN_LINES_QUERY = """
query OneFactReturnLines($id: ID!, $first: Int!) {
  return(id: $id) {
    id
    reverseFulfillmentOrders(first: 50) {
      nodes {
        id
        lineItems(first: $first) {
          nodes {
            id
            totalQuantity
            fulfillmentLineItem { lineItem { id sku } }
            dispositions { quantity type }
          }
          pageInfo { hasNextPage endCursor }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


class Clock:
    """Simulated seconds: the fake's bucket refills by it and the adapter sleeps on it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture(autouse=True)
def _paged_reads(settings):
    """These tests pace and count the paged read; the bulk read of catalogs above
    ONEFACT_SHOPIFY_BULK_ABOVE has its own tests (test_shopify_bulk.py)."""
    settings.ONEFACT_SHOPIFY_BULK_ABOVE = 10**6


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(clock: Clock) -> Iterator[FakeShopify]:
    with FakeShopify(now=clock.now) as fake:
        yield fake


def make_adapter(shop: FakeShopify, clock: Clock, **overrides: object) -> shopify.ShopifyAdapter:
    options: dict[str, object] = {
        "shop_url": shop.shop_url,
        "access_token": shop.access_token,
        "location_id": shop.location_id,
        "webhook_secret": shop.webhook_secret,
        "timeout": 2.0,
        "sleep": clock.sleep,
        "clock": clock.now,
    }
    options.update(overrides)
    return shopify.ShopifyAdapter(**options)  # type: ignore[arg-type]


def post(shop: FakeShopify, operation: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{shop.shop_url}{shop.graphql_path}",
        json={"query": query, "variables": variables or {}, "operationName": operation},
        headers={"X-Shopify-Access-Token": shop.access_token},
    )
    assert response.status_code == 200
    return response.json()


# -- the requested cost ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "cost"),
    [
        ("{ shop { name currencyCode } }", 1),  # an object 1, a scalar and an enum 0
        ("{ products(first: 10) { edges { node { id title } } } }", 12),  # 2 + 10 × 1
        ("{ products(first: 10) { nodes { id title } } }", 12),  # nodes as edges { node }
        ("{ products(last: 10) { nodes { id } pageInfo { hasNextPage endCursor } } }", 12),
        ("{ products(first: 10) { nodes { id featuredMedia { id } } } }", 22),  # 2 + 10 × 2
        ("{ shop { ...Named } } fragment Named on Shop { name billingAddress { city } }", 2),
    ],
)
def test_requested_cost_follows_shopifys_documented_rules(document: str, cost: int) -> None:
    assert shopify_requested_cost(document) == cost


def test_requested_cost_multiplies_nested_connections() -> None:
    # 1 + (2 + 50 × (1 + (2 + 250 × 4))): a real shop refused every return outcome with it
    assert shopify_requested_cost(OLD_RETURN_LINES_QUERY, {"first": 250}) == 50_153
    assert shopify_requested_cost(OLD_RETURN_LINES_QUERY, {"first": 1}) == 353


def test_requested_cost_of_an_interface_is_its_dearest_selection() -> None:
    document = """{ node(id: "gid://shopify/Product/1") {
      ... on Product { variants(first: 5) { nodes { id } } }
      ... on Order { customer { id } }
    } }"""
    assert shopify_requested_cost(document) == 1 + 7


def test_requested_cost_reads_page_sizes_from_variables() -> None:
    assert shopify_requested_cost(shopify_documents.LOCATION_LEVELS_QUERY, {"first": 250}) == 753
    assert shopify_requested_cost(shopify_documents.LOCATION_LEVELS_QUERY, {"first": 10}) == 33


def test_requested_cost_of_a_mutation_is_ten_per_mutation_field() -> None:
    assert shopify_requested_cost(shopify_documents.SET_ON_HAND_MUTATION) == 10
    document = """mutation {
      a: webhookSubscriptionDelete(id: "1") { deletedWebhookSubscriptionId }
      b: webhookSubscriptionDelete(id: "2") { deletedWebhookSubscriptionId }
    }"""
    assert shopify_requested_cost(document) == 20


def test_requested_cost_refuses_an_unsized_or_oversized_connection_and_an_unknown_field() -> None:
    with pytest.raises(ShopifyQueryError, match="first or last"):
        shopify_requested_cost("{ products { nodes { id } } }")
    with pytest.raises(ShopifyQueryError, match="between 1 and 250"):
        shopify_requested_cost(shopify_documents.RETURN_LINES_QUERY, {"first": 5, "lines": 251})
    with pytest.raises(ShopifyQueryError, match="'colour' doesn't exist on type 'Shop'"):
        shopify_requested_cost("{ shop { colour } }")


# -- MAX_COST_EXCEEDED -----------------------------------------------------------------------


def test_fake_refuses_a_query_over_the_limit_before_running_it(shop: FakeShopify) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)])
    body = post(shop, "OneFactReturnLines", OLD_RETURN_LINES_QUERY, {"id": "x", "first": 250})

    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": 50_153,
        "maxCost": 1000,
        "documentation": "https://shopify.dev/api/usage/rate-limits",
    }
    assert error["message"].startswith(
        "Query cost is 50153, which exceeds the single query max cost limit (1000)."
    )
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (50_153, None)
    assert cost["throttleStatus"]["currentlyAvailable"] == SHOPIFY_STANDARD_BUCKET  # not charged
    assert shop.points_charged == 0


def test_adapter_reports_max_cost_exceeded_as_a_refusal(
    shop: FakeShopify, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopify_returns, "RETURN_LINES_QUERY", OLD_RETURN_LINES_QUERY)
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)])
    with make_adapter(shop, clock) as adapter, pytest.raises(StorefrontValidationError) as caught:
        adapter._return_lines("9001")
    assert "exceeds the single query max cost limit" in str(caught.value)


def test_every_request_of_a_return_outcome_stays_under_the_limit(
    shop: FakeShopify, clock: Clock
) -> None:
    lines = [(100 + n, "MUG-1", 1) for n in range(450)]
    shop.add_product("Mug", [("MUG-1", 0)])
    shop.add_return(9001, 7001, lines)
    with make_adapter(shop, clock) as adapter:
        found = adapter._return_lines("9001")

    assert len(found) == 450
    assert shop.requested_costs == [  # 40 lines with the return, then 200 a page
        ("OneFactReturnLines", 818),
        ("OneFactReverseFulfillmentOrderLines", 803),
        ("OneFactReverseFulfillmentOrderLines", 803),
        ("OneFactReverseFulfillmentOrderLines", 803),
    ]


# -- the leaky bucket ------------------------------------------------------------------------


def test_fake_bucket_is_the_standard_plans_by_default(shop: FakeShopify) -> None:
    body = post(shop, "OneFactAccessScopes", shopify_documents.ACCESS_SCOPES_QUERY)

    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 2,
        "actualQueryCost": 2,
        "throttleStatus": {
            "maximumAvailable": SHOPIFY_STANDARD_BUCKET,
            "currentlyAvailable": SHOPIFY_STANDARD_BUCKET - 2,
            "restoreRate": SHOPIFY_STANDARD_RESTORE_RATE,
        },
    }
    assert (SHOPIFY_STANDARD_BUCKET, SHOPIFY_STANDARD_RESTORE_RATE) == (2000.0, 100.0)


def test_fake_bucket_throttles_when_empty_and_refills_at_its_restore_rate(clock: Clock) -> None:
    with FakeShopify(maximum_available=10, restore_rate=2, now=clock.now) as shop:
        for _ in range(5):
            assert "data" in post(
                shop, "OneFactAccessScopes", shopify_documents.ACCESS_SCOPES_QUERY
            )

        throttled = post(shop, "OneFactAccessScopes", shopify_documents.ACCESS_SCOPES_QUERY)
        clock.sleep(1.0)
        refilled = post(shop, "OneFactAccessScopes", shopify_documents.ACCESS_SCOPES_QUERY)

    assert "data" not in throttled
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled["extensions"]["cost"] == {
        "requestedQueryCost": 2,
        "actualQueryCost": None,
        "throttleStatus": {"maximumAvailable": 10, "currentlyAvailable": 0, "restoreRate": 2},
    }
    assert refilled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
    assert shop.throttled == 1


def test_fake_bucket_refunds_what_a_short_page_did_not_return(shop: FakeShopify) -> None:
    shop.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3)])
    body = post(
        shop, "OneFactLocationLevels", shopify_documents.LOCATION_LEVELS_QUERY,
        {"locationId": shop.location_id, "first": 250},
    )  # fmt: skip

    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (753, 1 + 2 + 2 * 3)
    assert cost["throttleStatus"]["currentlyAvailable"] == SHOPIFY_STANDARD_BUCKET - 9


def test_fake_bucket_never_holds_more_than_its_size(shop: FakeShopify, clock: Clock) -> None:
    post(shop, "OneFactAccessScopes", shopify_documents.ACCESS_SCOPES_QUERY)
    clock.sleep(3600)
    assert shop.bucket_available() == SHOPIFY_STANDARD_BUCKET


def test_scripted_throttle_still_answers_its_own_status(shop: FakeShopify, clock: Clock) -> None:
    shop.throttle_next(requested_cost=752, currently_available=152)
    with make_adapter(shop, clock) as adapter, pytest.raises(RateLimited) as caught:
        adapter.read_catalog()
    assert caught.value.retry_after == pytest.approx(6.0)


# -- the adapter within the limits -----------------------------------------------------------


def big_catalog(shop: FakeShopify, size: int) -> None:
    shop.add_product("Bulk", [(f"SKU-{n:05}", n % 7) for n in range(size)])


def test_adapter_paces_itself_and_is_never_throttled(shop: FakeShopify, clock: Clock) -> None:
    big_catalog(shop, 2500)  # 10 pages of 753 points: the Standard bucket holds 2,000
    with make_adapter(shop, clock) as adapter:
        levels, cursor = [], None
        while True:
            page = adapter.read_levels(None, cursor)
            levels += page.items
            cursor = page.next_cursor
            if cursor is None:
                break

    assert len(levels) == 2500 and shop.throttled == 0
    # 7,530 points at 100 a second, less the 2,000 the bucket held: about 55 s of waiting
    assert adapter.seconds_paced == pytest.approx((7530 - 2000) / 100, abs=8)
    assert clock.seconds == pytest.approx(adapter.seconds_paced)


def test_adapter_without_waiting_drains_the_bucket(shop: FakeShopify, clock: Clock) -> None:
    big_catalog(shop, 2500)
    with make_adapter(shop, clock, sleep=lambda seconds: None) as adapter:
        cursor = None
        with pytest.raises(RateLimited):
            for _ in range(10):
                cursor = adapter.read_levels(None, cursor).next_cursor
    assert shop.throttled == 1


def test_adapter_counts_the_points_it_used(shop: FakeShopify, clock: Clock) -> None:
    shop.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3)])
    with make_adapter(shop, clock) as adapter:
        adapter.read_levels(None)
        adapter.read_catalog()
    # productVariantsCount (is the catalog large enough to read in bulk?), a page, the catalog
    assert adapter.points_used == 1 + (1 + 2 + 2 * 3) + (2 + 2 * 2)
    assert adapter.points_used == shop.points_charged


# -- the points in the reports ---------------------------------------------------------------


def test_storefront_reconcile_reports_the_points_spent(shopify, shelf, bin) -> None:
    shopify.fake.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3)])

    report = storefront_reconcile(storefront=shopify)

    assert report.points == shopify.fake.points_charged > 0
    assert report.as_dict()["points"] == report.points


def test_storefront_push_reports_the_points_spent(shopify, shelf, bin) -> None:
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    on_hand_adjust(bin=bin, sku=sku, delta=4, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="r-1")  # fmt: skip
    before = shopify.fake.points_charged

    report = storefront_push(storefront=shopify)

    assert shopify.fake.on_hand("MUG-1") == 4
    assert report.points == shopify.fake.points_charged - before > 0
    assert report.summary()["points"] == report.points


def test_set_levels_looks_items_up_a_chunk_at_a_time(shop: FakeShopify, clock: Clock) -> None:
    big_catalog(shop, 120)
    writes = [
        LevelWrite(sku=f"SKU-{n:05}", quantity=1, expected=None, idempotency_key=f"k-{n}",
                   reason="correction", ledger_ref="onefact://outbox/v1-v1")
        for n in range(120)
    ]  # fmt: skip
    with make_adapter(shop, clock) as adapter:
        results = adapter.set_levels(writes)

    assert {result.status for result in results} == {WriteStatus.APPLIED}
    assert shop.requested_costs == [
        ("OneFactInventoryItemsBySku", 152),  # 2 + 50 × 3, for 50 SKUs
        ("OneFactInventoryItemsBySku", 152),
        ("OneFactInventoryItemsBySku", 152),
        ("OneFactSetOnHand", 10),
    ]
    assert adapter.points_used == 3 * 2 + 120 * 3 + 10
