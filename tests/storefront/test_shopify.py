"""ShopifyAdapter against FakeShopify (a local HTTP server speaking the Admin GraphQL API)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from inventory.storefront.base import (
    AuthenticationFailed,
    CatalogItem,
    Disposition,
    EventLine,
    EventType,
    Level,
    LevelWrite,
    MappingError,
    Mirrors,
    RateLimited,
    ReturnDisposition,
    StorefrontUnavailable,
    StorefrontValidationError,
    WebhookSignatureInvalid,
    WriteStatus,
)
from inventory.storefront.shopify import (
    ShopifyAdapter,
    catalog_title,
    mutation_idempotency_key,
    shopify_reason,
    sku_search_query,
)
from tests.storefront.fakes import (
    FakeShopify,
    shopify_inventory_level_payload,
    shopify_order_payload,
    shopify_product_payload,
    shopify_refund_payload,
    shopify_return_payload,
    shopify_webhook,
)

REF = "onefact://movement/42"


@pytest.fixture
def shop() -> Iterator[FakeShopify]:
    with FakeShopify() as fake:
        fake.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3, "Red")])
        fake.add_product("Cup", [("CUP-1", 7)], status="DRAFT")
        yield fake


def make_adapter(shop: FakeShopify, **overrides: object) -> ShopifyAdapter:
    options: dict[str, object] = {
        "shop_url": shop.shop_url,
        "access_token": shop.access_token,
        "location_id": shop.location_id,
        "webhook_secret": shop.webhook_secret,
        "timeout": 2.0,
    }
    options.update(overrides)
    return ShopifyAdapter(**options)  # type: ignore[arg-type]


@pytest.fixture
def adapter(shop: FakeShopify) -> Iterator[ShopifyAdapter]:
    with make_adapter(shop) as instance:
        yield instance


def write(
    sku: str,
    quantity: int,
    expected: int | None,
    *,
    key: str | None = None,
    reason: str = "correction",
    ref: str = REF,
) -> LevelWrite:
    return LevelWrite(
        sku=sku,
        quantity=quantity,
        expected=expected,
        idempotency_key=key or f"key-{sku}-{quantity}",
        reason=reason,
        ledger_ref=ref,
    )


def mutation_variables(shop: FakeShopify) -> list[dict]:
    return [request.json["variables"] for request in shop.operations("OneFactSetOnHand")]


# -- capabilities and configuration ----------------------------------------------------------


def test_capabilities_declare_compare_and_set_idempotency_and_on_hand() -> None:
    capabilities = ShopifyAdapter.capabilities
    assert capabilities.compare_and_set is True
    assert capabilities.idempotency_keys is True
    assert capabilities.max_batch == 250
    assert capabilities.mirrors is Mirrors.ON_HAND


def test_constructor_refuses_api_version_without_change_from_quantity() -> None:
    with pytest.raises(ValueError, match="2026-01"):
        ShopifyAdapter(
            shop_url="https://x.myshopify.com",
            access_token="t",
            location_id="1",
            webhook_secret="s",
            api_version="2025-01",
        )


def test_constructor_builds_endpoint_and_location_gid() -> None:
    adapter = ShopifyAdapter(
        shop_url="onefact.myshopify.com", access_token="t", location_id="77", webhook_secret="s"
    )
    assert adapter.endpoint == "https://onefact.myshopify.com/admin/api/2026-04/graphql.json"
    assert adapter.location_id == "gid://shopify/Location/77"
    adapter.close()


# -- set_levels ------------------------------------------------------------------------------


def test_set_levels_reports_applied_stale_not_found_and_rejected_in_one_batch(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.set_on_hand("MUG-2", 9)  # someone else changed it: our expected 3 is stale
    shop.reject_sku("CUP-1")

    results = adapter.set_levels(
        [
            write("MUG-1", 10, 5),
            write("MUG-2", 4, 3),
            write("NOPE-1", 1, None),
            write("CUP-1", 2, 7),
        ]
    )

    assert [result.sku for result in results] == ["MUG-1", "MUG-2", "NOPE-1", "CUP-1"]
    assert [result.status for result in results] == [
        WriteStatus.APPLIED,
        WriteStatus.STALE,
        WriteStatus.NOT_FOUND,
        WriteStatus.REJECTED,
    ]
    assert results[1].actual == 9
    assert "1,000,000,000" in results[3].message
    assert shop.on_hand("MUG-1") == 10
    assert shop.on_hand("MUG-2") == 9  # a stale compare writes nothing
    assert shop.on_hand("CUP-1") == 7
    # Shopify refused the first mutation as a whole; the clean row went again, alone.
    sent = [
        [row["inventoryItemId"] for row in v["input"]["quantities"]]
        for v in mutation_variables(shop)
    ]
    assert sent == [
        [shop.variant(s).inventory_item_gid for s in ("MUG-1", "MUG-2", "CUP-1")],
        [shop.variant("MUG-1").inventory_item_gid],
    ]
    assert shop.applied_mutations == 1


def test_set_levels_sends_on_hand_with_change_from_quantity_and_idempotent_key(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    results = adapter.set_levels([write("MUG-1", 8, 5), write("MUG-2", 6, None)])

    assert {result.status for result in results} == {WriteStatus.APPLIED}
    (request,) = shop.operations("OneFactSetOnHand")
    query = request.json["query"]
    assert "inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey)" in query
    variables = request.json["variables"]
    assert variables["idempotencyKey"]
    mutation_input = variables["input"]
    assert mutation_input["name"] == "on_hand"
    assert mutation_input["reason"] == "correction"
    assert mutation_input["referenceDocumentUri"] == REF
    first, second = mutation_input["quantities"]
    assert first == {
        "inventoryItemId": shop.variant("MUG-1").inventory_item_gid,
        "locationId": shop.location_id,
        "quantity": 8,
        "changeFromQuantity": 5,
    }
    assert "changeFromQuantity" in second and second["changeFromQuantity"] is None
    assert request.headers["x-shopify-access-token"] == shop.access_token
    assert request.path == "/admin/api/2026-04/graphql.json"


def test_set_levels_without_expected_skips_the_compare(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.set_on_hand("MUG-1", 40)

    (result,) = adapter.set_levels([write("MUG-1", 4, None)])

    assert result.status is WriteStatus.APPLIED
    assert shop.on_hand("MUG-1") == 4


def test_set_levels_detects_a_change_that_lands_just_before_the_write(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.change_before_next_mutation("MUG-1", 8)

    (result,) = adapter.set_levels([write("MUG-1", 10, 5)])

    assert result.status is WriteStatus.STALE
    assert result.actual == 8
    assert shop.on_hand("MUG-1") == 8


def test_set_levels_item_not_stocked_at_location_is_not_found(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.unstock("MUG-2")

    results = adapter.set_levels([write("MUG-1", 6, 5), write("MUG-2", 1, None)])

    assert [r.status for r in results] == [WriteStatus.APPLIED, WriteStatus.NOT_FOUND]
    assert shop.on_hand("MUG-1") == 6


def test_set_levels_rejects_a_sku_written_twice_in_one_batch(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    results = adapter.set_levels([write("MUG-1", 6, 5), write("MUG-1", 7, 6)])

    assert [r.status for r in results] == [WriteStatus.APPLIED, WriteStatus.REJECTED]
    assert shop.on_hand("MUG-1") == 6


def test_set_levels_groups_rows_by_reason_and_reference(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    results = adapter.set_levels(
        [
            write("MUG-1", 6, 5, reason="movement", ref="onefact://movement/1"),
            write("MUG-2", 2, 3, reason="cycle_count", ref="onefact://count/9"),
        ]
    )

    assert {r.status for r in results} == {WriteStatus.APPLIED}
    inputs = [v["input"] for v in mutation_variables(shop)]
    assert [(i["reason"], i["referenceDocumentUri"]) for i in inputs] == [
        ("correction", "onefact://movement/1"),
        ("cycle_count_available", "onefact://count/9"),
    ]


def test_set_levels_refuses_more_than_250_writes(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    writes = [write(f"SKU-{n}", 1, None) for n in range(251)]

    with pytest.raises(ValueError, match="250"):
        adapter.set_levels(writes)
    assert shop.requests == []


def test_set_levels_replayed_after_a_timeout_does_not_apply_twice(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, timeout=0.3)
    batch = [write("MUG-1", 10, 5, key="movement-7")]
    shop.delay_next(seconds=1.0, operation="OneFactSetOnHand")

    with pytest.raises(StorefrontUnavailable):
        adapter.set_levels(batch)  # Shopify applied it, but the answer never reached us
    assert shop.on_hand("MUG-1") == 10

    (result,) = adapter.set_levels(batch)  # the task retries the same batch

    assert result.status is WriteStatus.APPLIED  # not STALE: the first result is replayed
    assert shop.applied_mutations == 1
    assert shop.replayed_mutations == 1
    keys = [v["idempotencyKey"] for v in mutation_variables(shop)]
    assert len(keys) == 2 and keys[0] == keys[1]
    adapter.close()


def test_mutation_idempotency_key_is_stable_and_changes_with_the_rows() -> None:
    items = {"A": "gid://shopify/InventoryItem/1", "B": "gid://shopify/InventoryItem/2"}
    here = "gid://shopify/Location/1"
    base = [write("A", 3, 1, key="k-a"), write("B", 4, None, key="k-b")]

    def key_for(rows: list[LevelWrite], **changes: str) -> str:
        arguments = {"location_id": here, "reason": "correction", "ledger_ref": REF, **changes}
        return mutation_idempotency_key(rows, items, **arguments)

    key = key_for(base)

    assert key == key_for(list(base))
    assert key != key_for([base[0]])
    assert key != key_for([write("A", 5, 1, key="k-a"), base[1]])
    assert key != key_for(base, ledger_ref="onefact://other")
    assert key != key_for(base, location_id="gid://shopify/Location/2")
    assert key != key_for(base, salt="retry")


def test_set_levels_retries_with_a_new_key_when_shopify_asks(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.previous_attempt_failed_next()

    (result,) = adapter.set_levels([write("MUG-1", 10, 5)])

    assert result.status is WriteStatus.APPLIED
    first, second = [v["idempotencyKey"] for v in mutation_variables(shop)]
    assert first != second
    assert shop.applied_mutations == 1


def test_shopify_reason_maps_ours_to_valid_shopify_reasons() -> None:
    assert shopify_reason("correction") == "correction"
    assert shopify_reason("movement") == "correction"
    assert shopify_reason("cycle_count") == "cycle_count_available"
    assert shopify_reason("Received") == "received"
    assert shopify_reason("whatever") == "correction"


def test_sku_search_query_quotes_and_escapes() -> None:
    assert sku_search_query(["A-1", 'B"2', "C\\3"]) == 'sku:"A-1" OR sku:"B\\"2" OR sku:"C\\\\3"'


def test_set_levels_finds_skus_that_need_escaping(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_product("Odd", [('ODD "1"', 2)])

    (result,) = adapter.set_levels([write('ODD "1"', 3, 2)])

    assert result.status is WriteStatus.APPLIED
    assert shop.on_hand('ODD "1"') == 3


def test_set_levels_caches_the_sku_mapping(shop: FakeShopify, adapter: ShopifyAdapter) -> None:
    adapter.set_levels([write("MUG-1", 6, 5)])
    adapter.set_levels([write("MUG-1", 7, 6)])

    assert len(shop.operations("OneFactInventoryItemsBySku")) == 1
    assert shop.on_hand("MUG-1") == 7


def test_set_levels_with_an_unknown_location_raises_mapping_error(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, location_id="gid://shopify/Location/999")

    with pytest.raises(MappingError):
        adapter.set_levels([write("MUG-1", 6, 5)])


# -- reads -----------------------------------------------------------------------------------


def test_read_levels_pages_over_the_whole_location(shop: FakeShopify) -> None:
    shop.add_product("Plate", [("PLATE-1", 11), ("PLATE-2", 12)])
    shop.add_product("Bowl", [("BOWL-1", None)])  # not stocked here: no level
    adapter = make_adapter(shop, page_size=2)

    pages = []
    cursor = None
    while True:
        page = adapter.read_levels(None, cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(items) for items in pages] == [2, 2, 1]
    assert [level for items in pages for level in items] == [
        Level("MUG-1", 5),
        Level("MUG-2", 3),
        Level("CUP-1", 7),
        Level("PLATE-1", 11),
        Level("PLATE-2", 12),
    ]
    assert all(r.json["variables"]["first"] == 2 for r in shop.operations("OneFactLocationLevels"))


def test_read_levels_for_skus_filters_and_pages(shop: FakeShopify) -> None:
    shop.add_product("Plate", [("PLATE-1", 11), ("PLATE-2", 12)])
    adapter = make_adapter(shop, page_size=2)
    wanted = ["PLATE-2", "MUG-1", "NOPE", "CUP-1"]

    levels = []
    cursor = None
    calls = 0
    while True:
        page = adapter.read_levels(wanted, cursor)
        levels.extend(page.items)
        calls += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert calls == 2
    assert sorted(levels, key=lambda level: level.sku) == [
        Level("CUP-1", 7),
        Level("MUG-1", 5),
        Level("PLATE-2", 12),
    ]


def test_read_levels_for_an_empty_sku_list_sends_nothing(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    assert adapter.read_levels([]).items == []
    assert shop.requests == []


def test_read_levels_of_an_unknown_location_raises_mapping_error(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, location_id="999")

    with pytest.raises(MappingError):
        adapter.read_levels(None)


def test_read_catalog_pages_and_builds_titles_and_activity(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, page_size=2)

    first = adapter.read_catalog()
    second = adapter.read_catalog(first.next_cursor)

    assert first.items == [
        CatalogItem("MUG-1", "Mug", True),
        CatalogItem("MUG-2", "Mug - Red", True),
    ]
    assert second.items == [CatalogItem("CUP-1", "Cup", False)]  # a DRAFT product is not active
    assert second.next_cursor is None


def test_catalog_title_skips_default_title() -> None:
    assert catalog_title("Mug", "Default Title") == "Mug"
    assert catalog_title("Mug", "Large / Red") == "Mug - Large / Red"
    assert catalog_title(None, "Red") == "Red"


# -- errors and throttling -------------------------------------------------------------------


def test_throttled_query_raises_rate_limited_with_cost_based_wait(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.throttle_next(requested_cost=752, currently_available=152, restore_rate=100.0)

    with pytest.raises(RateLimited) as caught:
        adapter.read_catalog()

    assert caught.value.retry_after == pytest.approx(6.0)  # (752 - 152) / 100
    assert caught.value.retryable is True
    assert adapter.last_throttle_status is not None
    assert adapter.last_throttle_status.currently_available == 152


def test_throttled_query_waits_at_least_one_second(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.throttle_next(requested_cost=110, currently_available=100, restore_rate=50.0)

    with pytest.raises(RateLimited) as caught:
        adapter.read_catalog()

    assert caught.value.retry_after == 1.0


def test_http_429_raises_rate_limited_with_retry_after(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.rate_limit_next(retry_after="3.5")

    with pytest.raises(RateLimited) as caught:
        adapter.read_levels(None)

    assert caught.value.retry_after == 3.5


def test_cost_is_recorded_from_successful_responses(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    adapter.read_catalog()

    status = adapter.last_throttle_status
    assert status is not None
    assert status.maximum_available == 2000.0
    assert status.restore_rate == 100.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise_storefront_unavailable(
    shop: FakeShopify, adapter: ShopifyAdapter, status: int
) -> None:
    shop.fail_next(status=status)

    with pytest.raises(StorefrontUnavailable) as caught:
        adapter.read_catalog()

    assert caught.value.retryable is True
    assert adapter.read_catalog().items  # the next request goes through


def test_timeout_raises_storefront_unavailable(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, timeout=0.2)
    shop.delay_next(seconds=1.0)

    with pytest.raises(StorefrontUnavailable, match="in time"):
        adapter.read_catalog()


def test_connection_refused_raises_storefront_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = ShopifyAdapter(
        shop_url=f"http://127.0.0.1:{port}",
        access_token="t",
        location_id="1",
        webhook_secret="s",
        timeout=1.0,
    )

    with pytest.raises(StorefrontUnavailable):
        adapter.read_catalog()


def test_bad_token_raises_authentication_failed(shop: FakeShopify) -> None:
    adapter = make_adapter(shop, access_token="shpat_revoked")

    with pytest.raises(AuthenticationFailed) as caught:
        adapter.read_levels(None)

    assert caught.value.retryable is False
    assert "401" in str(caught.value)


def test_access_denied_graphql_error_raises_authentication_failed(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.graphql_error_next(code="ACCESS_DENIED", message="Access denied for inventoryItems.")

    with pytest.raises(AuthenticationFailed):
        adapter.read_levels(["MUG-1"])


def test_other_graphql_errors_raise_validation_error(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.graphql_error_next(code="MAX_COST_EXCEEDED", message="Query cost is 1200, max is 1000.")

    with pytest.raises(StorefrontValidationError, match="1200"):
        adapter.read_catalog()


# -- webhooks --------------------------------------------------------------------------------


def signed(shop: FakeShopify, topic: str, payload: dict, **kwargs: str) -> tuple[bytes, dict]:
    return shopify_webhook(topic, payload, secret=shop.webhook_secret, **kwargs)


def test_verify_webhook_accepts_the_shop_signature(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    body, headers = signed(shop, "orders/create", shopify_order_payload(1, [(11, "MUG-1", 1)]))

    adapter.verify_webhook(body, headers)


def test_verify_webhook_header_lookup_is_case_insensitive(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    body, headers = signed(shop, "orders/create", shopify_order_payload(1, [(11, "MUG-1", 1)]))
    lowered = {name.lower(): value for name, value in headers.items()}

    adapter.verify_webhook(body, lowered)
    assert adapter.parse_events(body, lowered)[0].type is EventType.ORDER_PLACED


def test_verify_webhook_rejects_a_changed_body(shop: FakeShopify, adapter: ShopifyAdapter) -> None:
    body, headers = signed(shop, "orders/create", shopify_order_payload(1, [(11, "MUG-1", 1)]))

    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(body.replace(b'"quantity": 1', b'"quantity": 9'), headers)


def test_verify_webhook_rejects_another_secret(shop: FakeShopify, adapter: ShopifyAdapter) -> None:
    body, headers = shopify_webhook("orders/create", {"id": 1}, secret="someone-else")

    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(body, headers)


def test_verify_webhook_rejects_a_missing_signature(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    body, headers = signed(shop, "orders/create", {"id": 1})
    del headers["X-Shopify-Hmac-Sha256"]

    with pytest.raises(WebhookSignatureInvalid, match="missing"):
        adapter.verify_webhook(body, headers)


@pytest.mark.parametrize(
    ("topic", "event_type", "occurred_at"),
    [
        ("orders/create", EventType.ORDER_PLACED, "2026-03-01T10:00:00-05:00"),
        ("orders/cancelled", EventType.ORDER_CANCELLED, "2026-03-02T11:00:00-05:00"),
        ("orders/fulfilled", EventType.ORDER_FULFILLED, "2026-03-03T12:00:00-05:00"),
    ],
)
def test_parse_events_maps_order_topics(
    shop: FakeShopify,
    adapter: ShopifyAdapter,
    topic: str,
    event_type: EventType,
    occurred_at: str,
) -> None:
    payload = shopify_order_payload(
        820982911946154508,
        [(466157049, "MUG-1", 2), (518995019, "CUP-1", 1)],
        cancelled_at="2026-03-02T11:00:00-05:00" if topic == "orders/cancelled" else None,
        updated_at="2026-03-03T12:00:00-05:00" if topic == "orders/fulfilled" else None,
    )
    body, headers = signed(shop, topic, payload, webhook_id="delivery-1")

    (event,) = adapter.parse_events(body, headers)

    assert event.type is event_type
    assert event.event_id == "delivery-1"
    assert event.order_ref == "820982911946154508"
    assert event.customer_name == "Ada Lovelace"
    assert event.occurred_at == datetime.fromisoformat(occurred_at)
    assert event.lines == [
        EventLine(sku="MUG-1", quantity=2, line_ref="466157049"),
        EventLine(sku="CUP-1", quantity=1, line_ref="518995019"),
    ]
    assert event.payload == payload


def test_parse_events_redelivery_keeps_the_event_id(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    payload = shopify_order_payload(5, [(1, "MUG-1", 1)])
    first = signed(shop, "orders/create", payload, webhook_id="wh-1", triggered_at="2026-01-01")
    retry = signed(shop, "orders/create", payload, webhook_id="wh-1", triggered_at="2026-01-02")

    assert adapter.parse_events(*first)[0].event_id == adapter.parse_events(*retry)[0].event_id


def test_parse_events_maps_a_refund_with_restock_claims(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    payload = shopify_refund_payload(
        929361462,
        820982911946154508,
        [
            (466157049, "MUG-1", 1, "return"),
            (518995019, "CUP-1", 2, "cancel"),
            (703073504, "MUG-2", 1, "no_restock"),
        ],
    )
    body, headers = signed(shop, "refunds/create", payload)

    (event,) = adapter.parse_events(body, headers)

    assert event.type is EventType.REFUND_ISSUED
    assert event.order_ref == "820982911946154508"
    assert event.lines == [
        EventLine(sku="MUG-1", quantity=1, line_ref="466157049", reason="return"),
        EventLine(sku="CUP-1", quantity=2, line_ref="518995019", reason="cancel"),
        EventLine(sku="MUG-2", quantity=1, line_ref="703073504", reason=""),
    ]
    assert event.occurred_at == datetime.fromisoformat("2026-03-05T12:00:00-05:00")


@pytest.mark.parametrize(
    ("topic", "status"), [("returns/request", "requested"), ("returns/approve", "open")]
)
def test_parse_events_maps_return_topics(
    shop: FakeShopify, adapter: ShopifyAdapter, topic: str, status: str
) -> None:
    payload = shopify_return_payload(
        3547267221, 5196695273621, [(12695210000533, 1, "unwanted")], status=status
    )
    body, headers = signed(shop, topic, payload, triggered_at="2026-03-04T09:30:00Z")

    (event,) = adapter.parse_events(body, headers)

    assert event.type is EventType.RETURN_OPENED
    assert event.return_ref == "3547267221"
    assert event.order_ref == "5196695273621"
    # return line items name the order line, not a SKU: resolved through order_ref + line_ref
    assert event.lines == [
        EventLine(sku="", quantity=1, line_ref="12695210000533", reason="unwanted")
    ]
    assert event.occurred_at == datetime(2026, 3, 4, 9, 30, tzinfo=UTC)


def test_parse_events_maps_a_product_update_to_catalog_items(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    product = shop.products[0]
    body, headers = signed(shop, "products/update", shopify_product_payload(product))

    (event,) = adapter.parse_events(body, headers)

    assert event.type is EventType.CATALOG_CHANGED
    assert event.catalog == [
        CatalogItem("MUG-1", "Mug", True),
        CatalogItem("MUG-2", "Mug - Red", True),
    ]


def test_parse_events_maps_an_inventory_level_update_without_a_sku(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    variant = shop.variant("MUG-2")
    payload = shopify_inventory_level_payload(variant.inventory_item_id, 1, 17)
    body, headers = signed(shop, "inventory_levels/update", payload)

    (event,) = adapter.parse_events(body, headers)

    assert event.type is EventType.INVENTORY_CHANGED
    assert event.quantity == 17
    assert event.lines == [EventLine(sku="", quantity=17, line_ref=variant.inventory_item_gid)]
    assert event.payload["inventory_item_id"] == variant.inventory_item_id
    assert adapter.resolve_inventory_item_sku(variant.inventory_item_id) == "MUG-2"
    # once the adapter knows the item, the event carries the SKU
    (again,) = adapter.parse_events(body, headers)
    assert again.lines[0].sku == "MUG-2"


def test_parse_events_ignores_inventory_of_another_location(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    payload = shopify_inventory_level_payload(shop.variant("MUG-1").inventory_item_id, 2, 3)
    body, headers = signed(shop, "inventory_levels/update", payload)

    assert adapter.parse_events(body, headers) == []


def test_parse_events_ignores_unknown_topics(shop: FakeShopify, adapter: ShopifyAdapter) -> None:
    body, headers = signed(shop, "customers/create", {"id": 1})

    assert adapter.parse_events(body, headers) == []


def test_parse_events_rejects_a_body_that_is_not_json(adapter: ShopifyAdapter) -> None:
    with pytest.raises(StorefrontValidationError):
        adapter.parse_events(b"not json", {"X-Shopify-Topic": "orders/create"})


# -- return outcomes (reverseFulfillmentOrderDispose) ------------------------------------------


def disposition(line: str, quantity: int, kind: Disposition, sku: str = "MUG-1"):
    return ReturnDisposition(line_ref=line, sku=sku, quantity=quantity, disposition=kind)


def dispose_inputs(shop: FakeShopify) -> list[list[dict]]:
    return [
        r.json["variables"]["dispositionInputs"] for r in shop.operations("OneFactDisposeReturn")
    ]


def test_report_return_dispositions_disposes_each_line_once(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 3), (12, "CUP-1", 1)])
    report = [
        disposition("11", 1, Disposition.RESTOCKED),
        disposition("11", 1, Disposition.PROCESSING_REQUIRED),
        disposition("12", 1, Disposition.MISSING, sku="CUP-1"),
        disposition("11", 0, Disposition.NOT_RESTOCKED),
    ]

    adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)
    adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)

    assert shop.dispositions(9001) == {
        (11, "RESTOCKED"): 1,
        (11, "PROCESSING_REQUIRED"): 1,
        (12, "MISSING"): 1,
    }
    assert shop.dispose_mutations == 1  # the repeat found every total disposed already
    (inputs,) = dispose_inputs(shop)
    restocked = next(i for i in inputs if i["dispositionType"] == "RESTOCKED")
    assert restocked["locationId"] == shop.location_id
    assert all("locationId" not in i for i in inputs if i["dispositionType"] != "RESTOCKED")
    assert shop.on_hand("MUG-1") == 6  # Shopify restocks on RESTOCKED (documented)
    assert ShopifyAdapter.restocked_disposition_adds_stock is True


def test_report_return_dispositions_sends_only_what_grew(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 3)])
    first = [disposition("11", 1, Disposition.RESTOCKED)]
    adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=first)
    later = [disposition("11", 2, Disposition.RESTOCKED), disposition("11", 1, Disposition.MISSING)]
    adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=later)

    assert shop.dispositions(9001) == {(11, "RESTOCKED"): 2, (11, "MISSING"): 1}
    assert [[(i["dispositionType"], i["quantity"]) for i in x] for x in dispose_inputs(shop)] == [
        [("RESTOCKED", 1)],
        [("MISSING", 1), ("RESTOCKED", 1)],
    ]


def test_report_return_dispositions_follows_pages_and_reverse_fulfillment_orders(
    shop: FakeShopify,
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1), (12, "CUP-1", 1), (13, "MUG-2", 1)], split=True)
    shop.add_return(9002, 7002, [(21, "MUG-1", 1), (22, "MUG-1", 1), (23, "CUP-1", 1)])
    with make_adapter(shop, page_size=2) as paged:
        paged.report_return_dispositions(
            return_ref="9001", order_ref="7001",
            dispositions=[disposition("13", 1, Disposition.MISSING, sku="MUG-2")],
        )  # fmt: skip
        paged.report_return_dispositions(
            return_ref="9002", order_ref="7002",
            dispositions=[disposition("23", 1, Disposition.NOT_RESTOCKED, sku="CUP-1")],
        )  # fmt: skip
    assert shop.dispositions(9001) == {(13, "MISSING"): 1}
    assert shop.dispositions(9002) == {(23, "NOT_RESTOCKED"): 1}
    assert len(shop.operations("OneFactReverseFulfillmentOrderLines")) == 1  # page 2 of 9002


def test_report_return_dispositions_of_an_unknown_return_is_a_mapping_error(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    with pytest.raises(MappingError, match="no return gid://shopify/Return/404"):
        adapter.report_return_dispositions(
            return_ref="404", order_ref="1", dispositions=[disposition("1", 1, Disposition.MISSING)]
        )
    assert not shop.operations("OneFactDisposeReturn")


def test_report_return_dispositions_for_a_line_not_on_the_return_sends_nothing(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)])
    report = [
        disposition("11", 1, Disposition.RESTOCKED),
        disposition("99", 1, Disposition.MISSING),
    ]
    with pytest.raises(MappingError, match="no line for order line gid://shopify/LineItem/99"):
        adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)
    assert shop.dispositions(9001) == {}
    assert not shop.operations("OneFactDisposeReturn")


def test_report_return_dispositions_beyond_the_line_sends_nothing(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)])
    report = [
        disposition("11", 1, Disposition.RESTOCKED),
        disposition("11", 1, Disposition.MISSING),
    ]
    with pytest.raises(StorefrontValidationError, match="1 more RESTOCKED unit"):
        adapter.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)
    assert shop.dispositions(9001) == {}


def test_report_return_dispositions_after_a_lost_answer_disposes_nothing_twice(
    shop: FakeShopify,
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 2)])
    report = [disposition("11", 2, Disposition.RESTOCKED)]
    shop.delay_next(1, seconds=1.5, operation="OneFactDisposeReturn")
    with make_adapter(shop, timeout=0.5) as slow, pytest.raises(StorefrontUnavailable):
        slow.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)
    with make_adapter(shop) as retry:
        retry.report_return_dispositions(return_ref="9001", order_ref="7001", dispositions=report)
    assert shop.dispositions(9001) == {(11, "RESTOCKED"): 2}
    assert shop.dispose_mutations == 1
    assert shop.on_hand("MUG-1") == 7


def test_report_return_dispositions_refused_by_shopify_raises_validation_error(
    shop: FakeShopify,
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)])
    with (
        make_adapter(shop, location_id="gid://shopify/Location/77") as elsewhere,
        pytest.raises(StorefrontValidationError, match="Location not found"),
    ):
        elsewhere.report_return_dispositions(
            return_ref="9001", order_ref="7001",
            dispositions=[disposition("11", 1, Disposition.RESTOCKED)],
        )  # fmt: skip
    assert shop.dispositions(9001) == {}
    assert shop.on_hand("MUG-1") == 5


def test_return_disposition_refuses_a_bad_quantity_or_type() -> None:
    with pytest.raises(ValueError):
        ReturnDisposition(line_ref="1", sku="A", quantity=-1, disposition=Disposition.MISSING)
    with pytest.raises(ValueError):
        ReturnDisposition(line_ref="1", sku="A", quantity=1, disposition="lost")  # type: ignore[arg-type]
    assert ReturnDisposition("1", "A", 1, "missing").disposition is Disposition.MISSING  # type: ignore[arg-type]


def test_report_return_dispositions_before_approval_is_retried_later(
    shop: FakeShopify, adapter: ShopifyAdapter
) -> None:
    shop.add_return(9001, 7001, [(11, "MUG-1", 1)], approved=False)
    with pytest.raises(StorefrontUnavailable, match="not approved") as waiting:
        adapter.report_return_dispositions(
            return_ref="9001", order_ref="7001",
            dispositions=[disposition("11", 1, Disposition.MISSING)],
        )  # fmt: skip
    assert waiting.value.retryable
    assert not shop.operations("OneFactDisposeReturn")
