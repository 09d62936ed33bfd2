"""Shopify webhook deliveries → OneFact's inbound events: one parser per topic, and the
connection: access scopes and webhook subscriptions.

Payloads are the REST-shaped JSON Shopify documents per topic (tests/storefront/payloads/ holds
the documented examples); deliveries are deduplicated on ``X-Shopify-Webhook-Id``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from inventory.storefront.base import (
    AccessReport,
    CatalogItem,
    EventLine,
    EventType,
    InboundEvent,
    MissingAccess,
    StorefrontValidationError,
    WebhookRegistration,
    WebhookSecretMissing,
    WebhookSignatureInvalid,
    webhook_secret_usable,
    webhook_timestamp,
)
from inventory.storefront.http import (
    header_value,
    json_object_body,
    next_cursor,
    parse_time,
    person_name,
    require,
)
from inventory.storefront.shopify_documents import (
    ACCESS_SCOPES_QUERY,
    MAX_PAGE_SIZE,
    WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
    WEBHOOK_SUBSCRIPTIONS_QUERY,
)
from inventory.storefront.shopify_graphql import gid

if TYPE_CHECKING:
    from inventory.storefront.shopify import ShopifyAdapter


RESTOCK_TYPES = frozenset({"return", "cancel", "legacy_restock"})
DEFAULT_VARIANT_TITLE = "Default Title"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    triggered_at: datetime | None


def _order_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: Delivery
) -> InboundEvent:
    event_type, time_field = _ORDER_TOPICS[topic]
    return InboundEvent(
        event_id=delivery.event_id,
        type=event_type,
        occurred_at=parse_time(payload.get(time_field)) or delivery.triggered_at,
        order_ref=ref(payload.get("id")),
        customer_name=person_name(
            payload.get("customer") or payload.get("billing_address"),
            first="first_name",
            last="last_name",
        ),
        lines=[
            EventLine(
                sku=item.get("sku") or "",
                quantity=int(item.get("quantity") or 0),
                line_ref=ref(item.get("id")),
            )
            for item in payload.get("line_items") or []
        ],
        payload=payload,
    )


def _refund_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: Delivery
) -> InboundEvent:
    lines = []
    for refund_line in payload.get("refund_line_items") or []:
        line_item = refund_line.get("line_item") or {}
        restock_type = refund_line.get("restock_type") or ""
        lines.append(
            EventLine(
                sku=line_item.get("sku") or "",
                quantity=int(refund_line.get("quantity") or 0),
                line_ref=ref(refund_line.get("line_item_id") or line_item.get("id")),
                # a restocking type says the storefront claims the units went back on the shelf
                reason=restock_type if restock_type in RESTOCK_TYPES else "",
            )
        )
    return InboundEvent(
        event_id=delivery.event_id,
        type=EventType.REFUND_ISSUED,
        occurred_at=parse_time(payload.get("processed_at") or payload.get("created_at"))
        or delivery.triggered_at,
        order_ref=ref(payload.get("order_id")),
        lines=lines,
        payload=payload,
    )


def _return_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: Delivery
) -> InboundEvent:
    """returns/request and returns/approve: return line items name the order line, not a SKU.

    Shopify documents neither ``created_at`` nor ``customer`` on these topics, so each is taken
    only when a delivery carries it: the time falls back to the delivery's
    ``X-Shopify-Triggered-At`` and the customer stays empty (the return service takes the
    order's). Only the listed ``return_line_items`` become lines; the documented examples list
    none (only ``total_return_line_items``), and no line is made up for the ones not listed: the
    return service reads them through ``read_return_lines`` when it processes the event.
    """
    lines = []
    for return_line in payload.get("return_line_items") or []:
        line_item = (return_line.get("fulfillment_line_item") or {}).get("line_item") or {}
        lines.append(
            EventLine(
                sku=line_item.get("sku") or "",
                quantity=int(return_line.get("quantity") or 0),
                line_ref=ref(line_item.get("id")),
                reason=return_line.get("return_reason") or "",
            )
        )
    order = payload.get("order") or {}
    return InboundEvent(
        event_id=delivery.event_id,
        type=EventType.RETURN_OPENED,
        occurred_at=parse_time(payload.get("created_at")) or delivery.triggered_at,
        order_ref=ref(order.get("id") if isinstance(order, dict) else None),
        return_ref=ref(payload.get("id")),
        customer_name=person_name(payload.get("customer"), first="first_name", last="last_name"),
        lines=lines,
        payload=payload,
    )


def _product_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: Delivery
) -> InboundEvent:
    active = str(payload.get("status") or "").lower() == "active"
    catalog = [
        CatalogItem(
            sku=variant["sku"],
            title=catalog_title(payload.get("title"), variant.get("title")),
            active=active,
        )
        for variant in payload.get("variants") or []
        if variant.get("sku")
    ]
    return InboundEvent(
        event_id=delivery.event_id,
        type=EventType.CATALOG_CHANGED,
        occurred_at=parse_time(payload.get("updated_at")) or delivery.triggered_at,
        catalog=catalog,
        payload=payload,
    )


def _inventory_level_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: Delivery
) -> InboundEvent | None:
    """inventory_levels/update carries an inventory item id and ``available``, not a SKU."""
    return adapter.inventory_event(payload, delivery)


_ORDER_TOPICS: dict[str, tuple[EventType, str]] = {
    "orders/create": (EventType.ORDER_PLACED, "created_at"),
    "orders/cancelled": (EventType.ORDER_CANCELLED, "cancelled_at"),
    "orders/fulfilled": (EventType.ORDER_FULFILLED, "updated_at"),
}
TOPIC_PARSERS = {
    "orders/create": _order_event,
    "orders/cancelled": _order_event,
    "orders/fulfilled": _order_event,
    "refunds/create": _refund_event,
    "returns/request": _return_event,
    "returns/approve": _return_event,
    "products/update": _product_event,
    "inventory_levels/update": _inventory_level_event,
}


def webhook_topics() -> list[str]:
    """The ``WebhookSubscriptionTopic`` of every topic ``parse_events`` reads (``orders/create``
    → ``ORDERS_CREATE``)."""
    return [topic.upper().replace("/", "_") for topic in TOPIC_PARSERS]


def webhook_signature(secret: bytes, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)), as Shopify puts in X-Shopify-Hmac-Sha256."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def catalog_title(product_title: str | None, variant_title: str | None) -> str:
    product = (product_title or "").strip()
    variant = (variant_title or "").strip()
    if not variant or variant == DEFAULT_VARIANT_TITLE:
        return product
    if not product:
        return variant
    return f"{product} - {variant}"


def delivery_id(topic: str, body: bytes, headers: Mapping[str, str]) -> str:
    """X-Shopify-Webhook-Id (stable across retries); else X-Shopify-Event-Id; else a body hash."""
    for name in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id"):
        value = header_value(headers, name)
        if value:
            return value.strip()
    return f"{topic}:{hashlib.sha256(body).hexdigest()}"


def ref(value: Any) -> str:
    return "" if value is None else str(value)


# The access scopes the adapter needs, and what OneFact could not do without each. A write
# scope implies its read scope (https://shopify.dev/docs/api/usage/access-scopes).
REQUIRED_SCOPES = {
    "read_inventory": "OneFact could not read the storefront's stock levels",
    "write_inventory": "OneFact could not correct stock",
    "read_products": "OneFact could not read the catalog (SKUs, titles, the active flag)",
    "read_orders": "orders, cancellations, fulfilments and refunds would not reach OneFact "
    "(orders/create, orders/cancelled, orders/fulfilled, refunds/create)",
    "read_returns": "returns would not reach OneFact (returns/request, returns/approve)",
    "write_returns": "OneFact could not report what became of returned units",
}


class ShopifyConnection:
    """Access scopes, webhook subscriptions and incoming deliveries."""

    # -- connecting ------------------------------------------------------------------------

    def check_access(self) -> AccessReport:
        """The app installation's access scopes, against ``REQUIRED_SCOPES``."""
        data = self._graphql("OneFactAccessScopes", ACCESS_SCOPES_QUERY, {})
        installation = require(data, "currentAppInstallation", vendor="Shopify")
        granted = sorted({str(scope["handle"]) for scope in installation.get("accessScopes") or []})
        implied = set(granted) | {"read_" + handle.removeprefix("write_") for handle in granted}
        missing = [
            MissingAccess(name=scope, consequence=consequence)
            for scope, consequence in REQUIRED_SCOPES.items()
            if scope not in implied
        ]
        return AccessReport(granted=granted, missing=missing)

    def register_webhooks(self, *, url: str) -> WebhookRegistration:
        """``webhookSubscriptionCreate`` for every topic ``parse_events`` reads that ``url`` is
        not subscribed to yet (read first with ``webhookSubscriptions(uri:)``)."""
        subscribed = self._subscribed_topics(url)
        created, existing = [], []
        for topic in webhook_topics():
            if topic in subscribed:
                existing.append(topic)
                continue
            variables = {"topic": topic, "webhookSubscription": {"uri": url, "format": "JSON"}}
            data = self._graphql(
                "OneFactWebhookSubscriptionCreate", WEBHOOK_SUBSCRIPTION_CREATE_MUTATION, variables
            )
            payload = require(data, "webhookSubscriptionCreate", vendor="Shopify")
            errors = payload.get("userErrors") or []
            if errors:
                message = "; ".join(str(error.get("message")) for error in errors)
                raise StorefrontValidationError(
                    f"Shopify refused the {topic} subscription: {message}"
                    + (f" (created before the refusal: {', '.join(created)})" if created else "")
                )
            created.append(topic)
        return WebhookRegistration(created=created, existing=existing)

    def _subscribed_topics(self, url: str) -> set[str]:
        topics: set[str] = set()
        after: str | None = None
        while True:
            data = self._graphql(
                "OneFactWebhookSubscriptions",
                WEBHOOK_SUBSCRIPTIONS_QUERY,
                {"first": MAX_PAGE_SIZE, "after": after, "uri": url},
            )
            connection = require(data, "webhookSubscriptions", vendor="Shopify")
            topics |= {
                str(node["topic"])
                for node in connection.get("nodes") or []
                if node.get("uri") == url
            }
            after = next_cursor(connection)
            if after is None:
                return topics

    # -- webhooks --------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not webhook_secret_usable(self._webhook_secret):
            raise WebhookSecretMissing("no webhook secret is configured for this Shopify store")
        received = header_value(headers, "X-Shopify-Hmac-Sha256")
        if not received:
            raise WebhookSignatureInvalid("missing X-Shopify-Hmac-Sha256")
        expected = webhook_signature(self._webhook_secret, body)
        if not hmac.compare_digest(expected.encode(), received.strip().encode()):
            raise WebhookSignatureInvalid("X-Shopify-Hmac-Sha256 does not match the body")

    def webhook_sent_at(self, body: bytes, headers: Mapping[str, str]) -> datetime:
        value = header_value(headers, "X-Shopify-Triggered-At")
        return webhook_timestamp(value, source="X-Shopify-Triggered-At header")

    def parse_events(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        topic = (header_value(headers, "X-Shopify-Topic") or "").strip().lower()
        parser = TOPIC_PARSERS.get(topic)
        if parser is None:
            return []
        payload = json_object_body(body)
        context = Delivery(
            event_id=delivery_id(topic, body, headers),
            triggered_at=parse_time(header_value(headers, "X-Shopify-Triggered-At")),
        )
        event = parser(self, topic, payload, context)
        return [event] if event is not None else []

    def inventory_event(self, payload: dict[str, Any], delivery: Delivery) -> InboundEvent | None:
        """INVENTORY_CHANGED for our location; the SKU only when this adapter has seen the item.

        The payload names an inventory item, not a SKU: the line's ``line_ref`` is the item's GID
        and its ``sku`` is filled from this adapter's cache, else empty; callers resolve it with
        :meth:`resolve_inventory_item_sku`. ``quantity`` is Shopify's ``available``. A payload
        without the item or without a number (``available`` is null for an untracked item; the
        example Shopify documents for 2026-01 and 2026-04 is ``{}``) claims nothing: no event.
        """
        location = payload.get("location_id")
        if location is not None and gid("Location", location) != self.location_id:
            return None  # another location's number: not the one we mirror
        item = payload.get("inventory_item_id")
        available = payload.get("available")
        if item is None or available is None:
            return None
        item_id = gid("InventoryItem", item)
        quantity = int(available)
        sku = self._sku_by_item.get(item_id, "")
        line = EventLine(sku=sku, quantity=quantity, line_ref=item_id)
        return InboundEvent(
            event_id=delivery.event_id,
            type=EventType.INVENTORY_CHANGED,
            occurred_at=parse_time(payload.get("updated_at")) or delivery.triggered_at,
            lines=[line],
            quantity=quantity,
            payload=payload,
        )
