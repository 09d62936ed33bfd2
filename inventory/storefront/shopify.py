"""Shopify adapter: the Admin GraphQL API, version 2026-04 by default.

Why 2026-04 (and never older than 2026-01): compare-and-set through ``changeFromQuantity`` and
deduplication through the ``@idempotent(key: …)`` directive arrived on ``inventorySetQuantities``
in 2026-01 as options and became mandatory in 2026-04; before 2026-01 the mutation only knew
``compareQuantity``/``ignoreCompareQuantity`` and had no idempotency key. See
https://shopify.dev/changelog/compare-and-swap-redesign-for-inventory-set-quantities,
https://shopify.dev/changelog/finalizing-compare-and-swap-redesign-for-inventory-set-quantities and
https://shopify.dev/changelog/making-idempotency-mandatory-for-inventory-adjustments-and-refund-mutations.

How a batch is written:

* ``on_hand`` is set with ``inventorySetQuantities`` (name ``on_hand``), one mutation per
  (reason, ledger reference) group because both are mutation-wide inputs. ``changeFromQuantity``
  carries ``LevelWrite.expected``; ``null`` (sent explicitly, as 2026-04 requires) skips the check.
* The ``@idempotent`` key is per mutation while OneFact keys are per write, so the mutation key is a
  UUIDv5 derived from the rows it carries (their keys, items, quantities and expectations) plus the
  reason and reference: a retried batch sends the same key, a changed one a new key (Shopify refuses
  a reused key with other variables).
* Shopify documents a failed compare as failing the mutation, so a mutation with ``userErrors``
  applied nothing (unless it also returned an ``inventoryAdjustmentGroup``). Each ``userError``
  names its row through ``field`` (``["input", "quantities", "<index>", …]``): those rows get their
  result (STALE, NOT_FOUND, REJECTED) and the clean rows are sent again in a new mutation.
* STALE rows are read back with one ``inventoryItems`` query to report the actual quantity.

Webhook payloads are the REST-shaped JSON Shopify documents per topic; deliveries are deduplicated
on ``X-Shopify-Webhook-Id`` (the same on every retry of one delivery). Every delivery carries
``X-Shopify-Triggered-At``, when Shopify triggered it; a retry keeps the first attempt's value,
and Shopify retries a failed delivery 8 times over 4 hours
(https://shopify.dev/changelog/updates-to-webhook-retry-mechanism), so a delivery is refused once
it is older than that window (``webhook_max_age``), or when the header is missing. Shopify's HMAC
covers the body only, not the headers: the age check stops stale deliveries and plain replays,
not a replay whose headers were rewritten.

Every document the adapter sends is in ``DOCUMENTS``; the tests validate each one against the
oldest and newest of ``SUPPORTED_API_VERSIONS`` and hold its requested cost, at the page sizes used
here, under the 1,000 points Shopify allows one query
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits). Each answer's
``extensions.cost.throttleStatus`` paces the next request: before sending, the adapter works out
what the bucket has refilled since and waits (``sleep``, on ``clock``) until it holds what that
operation asked last time, so a long read slows to the restore rate instead of being throttled.
``points_used`` adds up the actual cost of every answer; the push and reconciliation reports carry
it.

Return outcomes (``report_return_dispositions``) go through ``reverseFulfillmentOrderDispose``
(https://shopify.dev/docs/api/admin-graphql/latest/mutations/reverseFulfillmentOrderDispose) with
the documented ``ReverseFulfillmentOrderDispositionType`` values RESTOCKED, PROCESSING_REQUIRED,
NOT_RESTOCKED and MISSING; ``returnProcess`` is not used because it also confirms quantities and may
refund, and the refund is the storefront's decision. Our lines name the order's line item (the
``line_item.id`` the returns/request and returns/approve webhooks carry), while the mutation takes
reverse fulfillment order line items, so the return is read first (``return(id:)`` →
``reverseFulfillmentOrders`` → ``lineItems`` with ``fulfillmentLineItem.lineItem.id`` and the
``dispositions`` already recorded; paged so that no request asks for more than 1,000 points) and
each line's total is mapped onto the reverse fulfillment order line items of that order line. The
mutation takes no ``@idempotent`` key, so idempotency comes from that read: only the part of each
total Shopify does not hold yet is disposed, and a retry after a lost answer disposes nothing twice.
Everything is checked before the one mutation is sent (a line Shopify does not know, more units than
a line has left): then nothing is sent. RESTOCKED needs our location and makes Shopify add the units
to its own number there; the shelf already counted them, so ``restocked_disposition_adds_stock``
tells the caller to push the shelf's number again, whose absolute compare-and-set puts Shopify back
on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from inventory.storefront.base import (
    AccessReport,
    AuthenticationFailed,
    Capabilities,
    CatalogItem,
    Disposition,
    EventLine,
    EventType,
    HttpClientLifecycle,
    InboundEvent,
    Level,
    LevelWrite,
    MappingError,
    Mirrors,
    MissingAccess,
    Page,
    RateLimited,
    ReturnDisposition,
    StorefrontAdapter,
    StorefrontUnavailable,
    StorefrontValidationError,
    WebhookRegistration,
    WebhookSecretMissing,
    WebhookSignatureInvalid,
    WriteResult,
    WriteStatus,
    webhook_secret_usable,
    webhook_timestamp,
)
from inventory.storefront.shopify_bulk import (
    BULK_OPERATION_QUERY,
    BULK_RUN_MUTATION,
    VARIANTS_COUNT_QUERY,
    BulkLevels,
)

DEFAULT_API_VERSION = "2026-04"
MIN_API_VERSION = "2026-01"  # first version with changeFromQuantity and @idempotent
# Every document below validates against each of these (tests/storefront/schemas/ holds the
# oldest and the newest); a version outside them is refused at configuration.
SUPPORTED_API_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
MAX_QUERY_COST = 1000  # Shopify refuses a query whose requested cost is higher (MAX_COST_EXCEEDED)
PACING_MARGIN = 0.1  # seconds waited beyond the exact refill: our clock and Shopify's differ
MAX_BATCH = 250
MAX_PAGE_SIZE = 250  # Shopify's limit on `first`
SKU_LOOKUP_CHUNK = 50  # SKUs per `inventoryItems(query: …)` search string
QUANTITY_NAME = "on_hand"

# Valid `reason` values of inventorySetQuantities (https://shopify.dev/docs/apps/build/orders-fulfillment/inventory-management-apps/manage-quantities-states#set-inventory-quantities-on-hand).
SHOPIFY_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
# OneFact reasons that have a closer Shopify reason than the default "correction".
REASON_ALIASES = {
    "count": "cycle_count_available",
    "cycle_count": "cycle_count_available",
    "receipt": "received",
    "receive": "received",
    "return": "restock",
    "damage": "damaged",
    "loss": "shrinkage",
}
DEFAULT_REASON = "correction"

STALE_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"})
NOT_FOUND_CODES = frozenset({"INVALID_INVENTORY_ITEM", "ITEM_NOT_STOCKED_AT_LOCATION"})
RETRY_WITH_NEW_KEY = "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"
AUTH_ERROR_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})
TRANSIENT_ERROR_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})

RESTOCK_TYPES = frozenset({"return", "cancel", "legacy_restock"})
DEFAULT_VARIANT_TITLE = "Default Title"
_IDEMPOTENCY_NAMESPACE = uuid.UUID("4b0c8a53-3f0e-4a8e-9a57-0e6f7a1c5d21")

SET_ON_HAND_MUTATION = """
mutation OneFactSetOnHand($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id reason referenceDocumentUri }
    userErrors { code field message }
  }
}
"""

ITEMS_BY_SKU_QUERY = """
query OneFactInventoryItemsBySku($query: String!, $first: Int!, $after: String, $locationId: ID!) {
  inventoryItems(first: $first, after: $after, query: $query) {
    nodes {
      id
      sku
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["on_hand"]) { name quantity }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

LOCATION_LEVELS_QUERY = """
query OneFactLocationLevels($locationId: ID!, $first: Int!, $after: String) {
  location(id: $locationId) {
    inventoryLevels(first: $first, after: $after) {
      nodes {
        item { id sku }
        quantities(names: ["on_hand"]) { name quantity }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

CATALOG_QUERY = """
query OneFactCatalog($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    nodes {
      sku
      title
      product { title status }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

INVENTORY_ITEM_QUERY = """
query OneFactInventoryItem($id: ID!) {
  inventoryItem(id: $id) { id sku }
}
"""

# Reverse fulfillment orders of one return, with the first line items of each. Shopify charges a
# connection 2 + first × one node, nested connections multiplied: 5 orders × 40 lines cost 818
# points, under the 1,000 a query may request, and one call answers a usual return whole; longer
# orders continue with REVERSE_FULFILLMENT_ORDER_LINES_QUERY (200 lines: 803 points).
RETURN_ORDERS_PAGE_SIZE = 5
RETURN_LINES_PAGE_SIZE = 40
REVERSE_LINES_PAGE_SIZE = 200
RETURN_LINES_QUERY = """
query OneFactReturnLines($id: ID!, $first: Int!, $after: String, $lines: Int!) {
  return(id: $id) {
    id
    reverseFulfillmentOrders(first: $first, after: $after) {
      nodes {
        id
        lineItems(first: $lines) {
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

REVERSE_FULFILLMENT_ORDER_LINES_QUERY = """
query OneFactReverseFulfillmentOrderLines($id: ID!, $first: Int!, $after: String) {
  reverseFulfillmentOrder(id: $id) {
    lineItems(first: $first, after: $after) {
      nodes {
        id
        totalQuantity
        fulfillmentLineItem { lineItem { id sku } }
        dispositions { quantity type }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# The line items of one return, for a returns/request or returns/approve delivery that lists none
# (Shopify's documented payloads carry only ``total_return_line_items``). They can be read from the
# moment the return is requested, before it has a reverse fulfillment order. One line item costs 4
# points (the node, its reason, its fulfillment line item and that one's order line): 200 a page
# request 803 points; a longer return continues with ``after``.
RETURN_LINE_ITEMS_PAGE_SIZE = 200
RETURN_LINE_ITEMS_QUERY = """
query OneFactReturnLineItems($id: ID!, $first: Int!, $after: String) {
  return(id: $id) {
    returnLineItems(first: $first, after: $after) {
      nodes {
        id
        quantity
        returnReasonDefinition { handle }
        ... on ReturnLineItem { fulfillmentLineItem { lineItem { id sku } } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

DISPOSE_MUTATION = """
mutation OneFactDisposeReturn($dispositionInputs: [ReverseFulfillmentOrderDisposeInput!]!) {
  reverseFulfillmentOrderDispose(dispositionInputs: $dispositionInputs) {
    reverseFulfillmentOrderLineItems { id dispositions { quantity type } }
    userErrors { code field message }
  }
}
"""

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

ACCESS_SCOPES_QUERY = """
query OneFactAccessScopes {
  currentAppInstallation { accessScopes { handle } }
}
"""

WEBHOOK_SUBSCRIPTIONS_QUERY = """
query OneFactWebhookSubscriptions($first: Int!, $after: String, $uri: String) {
  webhookSubscriptions(first: $first, after: $after, uri: $uri) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE_MUTATION = """
mutation OneFactWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

# Our dispositions → ReverseFulfillmentOrderDispositionType.
DISPOSITION_TYPES = {
    Disposition.RESTOCKED: "RESTOCKED",
    Disposition.PROCESSING_REQUIRED: "PROCESSING_REQUIRED",
    Disposition.NOT_RESTOCKED: "NOT_RESTOCKED",
    Disposition.MISSING: "MISSING",
}

# Every document the adapter sends, by operation name (the tests validate each one against every
# supported schema version and hold its requested cost under MAX_QUERY_COST).
DOCUMENTS = {
    "OneFactSetOnHand": SET_ON_HAND_MUTATION,
    "OneFactInventoryItemsBySku": ITEMS_BY_SKU_QUERY,
    "OneFactLocationLevels": LOCATION_LEVELS_QUERY,
    "OneFactCatalog": CATALOG_QUERY,
    "OneFactInventoryItem": INVENTORY_ITEM_QUERY,
    "OneFactReturnLines": RETURN_LINES_QUERY,
    "OneFactReverseFulfillmentOrderLines": REVERSE_FULFILLMENT_ORDER_LINES_QUERY,
    "OneFactReturnLineItems": RETURN_LINE_ITEMS_QUERY,
    "OneFactDisposeReturn": DISPOSE_MUTATION,
    "OneFactAccessScopes": ACCESS_SCOPES_QUERY,
    "OneFactWebhookSubscriptions": WEBHOOK_SUBSCRIPTIONS_QUERY,
    "OneFactWebhookSubscriptionCreate": WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
    "OneFactVariantsCount": VARIANTS_COUNT_QUERY,
    "OneFactBulkLevelsRun": BULK_RUN_MUTATION,
    "OneFactBulkOperation": BULK_OPERATION_QUERY,
}


@dataclass(frozen=True)
class ThrottleStatus:
    """Shopify's cost report (``extensions.cost``) from the last response."""

    requested_cost: float | None
    actual_cost: float | None
    maximum_available: float
    currently_available: float
    restore_rate: float


@dataclass
class _ReverseLine:
    """One reverse fulfillment order line item: which order line it returns and what is left."""

    id: str
    line_item_id: str  # gid://shopify/LineItem/…
    disposed: dict[str, int]  # disposition type → units already disposed
    free: int  # units not disposed yet


@dataclass(frozen=True)
class _Item:
    """One inventory item found by SKU, with its on-hand at our location (None: not stocked)."""

    item_id: str
    sku: str
    on_hand: int | None


class ShopifyAdapter(HttpClientLifecycle, StorefrontAdapter):
    """One Shopify shop, one location. Configuration comes only through the constructor."""

    bulk_levels: BulkLevels | None = None  # made on the first read; settable (tests, benchmark)

    capabilities = Capabilities(
        compare_and_set=True,
        idempotency_keys=True,
        max_batch=MAX_BATCH,
        mirrors=Mirrors.ON_HAND,
        whole_reads=True,  # above ONEFACT_SHOPIFY_BULK_ABOVE, one bulk operation per read
    )
    webhook_secret_required = True
    restocked_disposition_adds_stock = True
    # 8 retries over 4 hours, each with the first attempt's X-Shopify-Triggered-At; 15 min spare.
    webhook_max_age = 4 * 3600 + 15 * 60

    def __init__(
        self,
        *,
        shop_url: str,
        access_token: str,
        location_id: str,
        webhook_secret: str,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if api_version < MIN_API_VERSION:
            raise ValueError(
                f"Shopify API {api_version} has no changeFromQuantity/@idempotent on "
                f"inventorySetQuantities; use {MIN_API_VERSION} or later"
            )
        if api_version not in SUPPORTED_API_VERSIONS:
            raise ValueError(
                f"Shopify API {api_version} is not one this adapter is checked against; use one "
                f"of {', '.join(SUPPORTED_API_VERSIONS)}"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        base = shop_url.rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        self.endpoint = f"{base}/admin/api/{api_version}/graphql.json"
        self.location_id = _gid("Location", location_id)
        self._access_token = access_token
        self._webhook_secret = webhook_secret.encode()
        self._timeout = timeout
        self._page_size = page_size
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._item_by_sku: dict[str, str] = {}
        self._sku_by_item: dict[str, str] = {}
        self.last_throttle_status: ThrottleStatus | None = None
        self._sleep = sleep
        self._clock = clock
        self._status_at = 0.0  # the clock when last_throttle_status arrived
        self._requested_costs: dict[str, float] = {}  # operation → its last requested cost
        self.points_used = 0.0  # actual cost of every answered query (services read the change)
        self.seconds_paced = 0.0

    # -- reads -----------------------------------------------------------------------------

    def read_levels(self, skus: Sequence[str] | None, cursor: str | None = None) -> Page[Level]:
        """Large reads go through one bulk operation (``shopify_bulk``), the others page by page."""
        if self.bulk_levels is None:
            self.bulk_levels = BulkLevels(self)
        bulk = self.bulk_levels.read(skus, cursor)
        if bulk is not None:
            return bulk
        if skus is None:
            return self._read_location_levels(cursor)
        return self._read_levels_for_skus(list(dict.fromkeys(skus)), cursor)

    def read_catalog(self, cursor: str | None = None) -> Page[CatalogItem]:
        data = self._graphql(
            "OneFactCatalog", CATALOG_QUERY, {"first": self._page_size, "after": cursor}
        )
        connection = _require(data, "productVariants")
        items = [
            CatalogItem(
                sku=node["sku"],
                title=catalog_title((node.get("product") or {}).get("title"), node.get("title")),
                active=(node.get("product") or {}).get("status") == "ACTIVE",
            )
            for node in connection.get("nodes") or []
            if node.get("sku")
        ]
        return Page(items=items, next_cursor=_next_cursor(connection))

    def resolve_inventory_item_sku(self, inventory_item_id: str | int) -> str | None:
        """The SKU of an inventory item (e.g. from an ``inventory_levels/update`` webhook)."""
        item_id = _gid("InventoryItem", inventory_item_id)
        if item_id in self._sku_by_item:
            return self._sku_by_item[item_id]
        data = self._graphql("OneFactInventoryItem", INVENTORY_ITEM_QUERY, {"id": item_id})
        node = data.get("inventoryItem")
        if not node or not node.get("sku"):
            return None
        self._remember(node["sku"], node["id"])
        return node["sku"]

    def _read_location_levels(self, cursor: str | None) -> Page[Level]:
        data = self._graphql(
            "OneFactLocationLevels",
            LOCATION_LEVELS_QUERY,
            {"locationId": self.location_id, "first": self._page_size, "after": cursor},
        )
        location = data.get("location")
        if location is None:
            raise MappingError(f"Shopify knows no location {self.location_id}")
        connection = _require(location, "inventoryLevels")
        levels = []
        for node in connection.get("nodes") or []:
            item = node.get("item") or {}
            quantity = _on_hand(node.get("quantities"))
            if not item.get("sku") or quantity is None:
                continue
            self._remember(item["sku"], item["id"])
            levels.append(Level(sku=item["sku"], quantity=quantity))
        return Page(items=levels, next_cursor=_next_cursor(connection))

    def _read_levels_for_skus(self, skus: list[str], cursor: str | None) -> Page[Level]:
        """Pages over SKU chunks; our cursor carries the chunk index and Shopify's cursor."""
        chunks = list(_chunks(skus, SKU_LOOKUP_CHUNK))
        if not chunks:
            return Page(items=[])
        chunk_index, after = _decode_sku_cursor(cursor)
        if chunk_index >= len(chunks):
            raise ValueError("cursor does not belong to this SKU list")
        chunk = chunks[chunk_index]
        nodes, page_info = self._items_page(chunk, after, self._page_size)
        levels = [
            Level(sku=item.sku, quantity=item.on_hand) for item in nodes if item.on_hand is not None
        ]
        if page_info.get("hasNextPage"):
            next_cursor = _encode_sku_cursor(chunk_index, page_info.get("endCursor"))
        elif chunk_index + 1 < len(chunks):
            next_cursor = _encode_sku_cursor(chunk_index + 1, None)
        else:
            next_cursor = None
        return Page(items=levels, next_cursor=next_cursor)

    def _items_page(
        self, chunk: Sequence[str], after: str | None, first: int
    ) -> tuple[list[_Item], dict[str, Any]]:
        """One page of inventory items whose SKU is exactly one of ``chunk``."""
        data = self._graphql(
            "OneFactInventoryItemsBySku",
            ITEMS_BY_SKU_QUERY,
            {
                "query": sku_search_query(chunk),
                "first": first,
                "after": after,
                "locationId": self.location_id,
            },
        )
        connection = _require(data, "inventoryItems")
        wanted = set(chunk)
        items = []
        for node in connection.get("nodes") or []:
            sku = node.get("sku")
            if sku not in wanted:  # the search may match more loosely than exact SKU equality
                continue
            level = node.get("inventoryLevel")
            on_hand = _on_hand(level.get("quantities")) if level else None
            items.append(_Item(item_id=node["id"], sku=sku, on_hand=on_hand))
        return items, connection.get("pageInfo") or {}

    def _lookup_items(self, skus: Iterable[str]) -> dict[str, list[_Item]]:
        """Every inventory item for ``skus`` (by SKU), following pages; fills the SKU cache."""
        found: dict[str, list[_Item]] = {}
        for chunk in _chunks(list(dict.fromkeys(skus)), SKU_LOOKUP_CHUNK):
            after: str | None = None
            while True:
                # a page the size of the chunk: 152 points requested, not 752 (one item a SKU
                # is the rule; more follow on the next page)
                items, page_info = self._items_page(chunk, after, SKU_LOOKUP_CHUNK)
                for item in items:
                    found.setdefault(item.sku, []).append(item)
                if not page_info.get("hasNextPage"):
                    break
                after = page_info.get("endCursor")
        for sku, items in found.items():
            if len(items) == 1:
                self._remember(sku, items[0].item_id)
        return found

    # -- writes ----------------------------------------------------------------------------

    def set_levels(self, writes: Sequence[LevelWrite]) -> list[WriteResult]:
        if len(writes) > MAX_BATCH:
            raise ValueError(f"Shopify takes at most {MAX_BATCH} quantities per call")
        results: dict[int, WriteResult] = {}
        item_ids = self._resolve_items(writes, results)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, write in enumerate(writes):
            if index not in results:
                key = (shopify_reason(write.reason), write.ledger_ref)
                groups.setdefault(key, []).append(index)
        for (reason, ledger_ref), indices in groups.items():
            results.update(self._write_group(writes, indices, item_ids, reason, ledger_ref))
        self._fill_stale_actuals(writes, results)
        return [results[index] for index in range(len(writes))]

    def _resolve_items(
        self, writes: Sequence[LevelWrite], results: dict[int, WriteResult]
    ) -> dict[str, str]:
        """SKU → inventory item id for the batch; records NOT_FOUND/REJECTED rows in ``results``."""
        skus = [write.sku for write in writes]
        missing = [sku for sku in dict.fromkeys(skus) if sku not in self._item_by_sku]
        ambiguous: dict[str, int] = {}
        if missing:
            for sku, items in self._lookup_items(missing).items():
                if len(items) > 1:
                    ambiguous[sku] = len(items)
        seen: set[str] = set()
        for index, write in enumerate(writes):
            if write.sku in seen:
                results[index] = _rejected(write, "the SKU appears twice in one batch")
            elif write.sku in ambiguous:
                message = f"the SKU matches {ambiguous[write.sku]} Shopify inventory items"
                results[index] = _rejected(write, message)
            elif write.sku not in self._item_by_sku:
                results[index] = WriteResult(
                    sku=write.sku, status=WriteStatus.NOT_FOUND, message="unknown SKU"
                )
            seen.add(write.sku)
        return {sku: self._item_by_sku[sku] for sku in skus if sku in self._item_by_sku}

    def _write_group(
        self,
        writes: Sequence[LevelWrite],
        indices: list[int],
        item_ids: Mapping[str, str],
        reason: str,
        ledger_ref: str,
    ) -> dict[int, WriteResult]:
        """Write rows sharing reason and reference; resend the clean rows of a refused mutation."""
        results: dict[int, WriteResult] = {}
        remaining = list(indices)
        salt = ""
        while remaining:
            rows = [writes[index] for index in remaining]
            payload = self._set_quantities(rows, item_ids, reason, ledger_ref, salt)
            row_errors, request_errors = _split_user_errors(payload.get("userErrors") or [], rows)
            if request_errors:
                if salt == "" and _codes(request_errors) == {RETRY_WITH_NEW_KEY}:
                    salt = "retry"  # Shopify: "Retry with a new idempotency key."
                    continue
                raise _request_error(request_errors)
            for position, error in row_errors.items():
                results[remaining[position]] = self._row_result(rows[position], error)
            clean = [index for pos, index in enumerate(remaining) if pos not in row_errors]
            if not row_errors or payload.get("inventoryAdjustmentGroup") is not None:
                for index in clean:
                    results[index] = WriteResult(sku=writes[index].sku, status=WriteStatus.APPLIED)
                break
            remaining = clean  # the whole mutation was refused: send the clean rows again
        return results

    def _set_quantities(
        self,
        rows: Sequence[LevelWrite],
        item_ids: Mapping[str, str],
        reason: str,
        ledger_ref: str,
        salt: str,
    ) -> dict[str, Any]:
        quantities = [
            {
                "inventoryItemId": item_ids[row.sku],
                "locationId": self.location_id,
                "quantity": row.quantity,
                "changeFromQuantity": row.expected,  # None → JSON null: skip the compare
            }
            for row in rows
        ]
        variables = {
            "input": {
                "name": QUANTITY_NAME,
                "reason": reason,
                "referenceDocumentUri": ledger_ref,
                "quantities": quantities,
            },
            "idempotencyKey": mutation_idempotency_key(
                rows, item_ids, self.location_id, reason, ledger_ref, salt
            ),
        }
        data = self._graphql("OneFactSetOnHand", SET_ON_HAND_MUTATION, variables)
        payload = data.get("inventorySetQuantities")
        if not isinstance(payload, dict):
            raise StorefrontValidationError("inventorySetQuantities returned no payload")
        return payload

    def _row_result(self, write: LevelWrite, error: Mapping[str, Any]) -> WriteResult:
        code = error.get("code") or ""
        message = error.get("message") or code
        if code in STALE_CODES:
            return WriteResult(sku=write.sku, status=WriteStatus.STALE, message=message)
        if code in NOT_FOUND_CODES:
            if code == "INVALID_INVENTORY_ITEM":
                self._forget(write.sku)
            return WriteResult(sku=write.sku, status=WriteStatus.NOT_FOUND, message=message)
        return _rejected(write, message)

    def _fill_stale_actuals(
        self, writes: Sequence[LevelWrite], results: dict[int, WriteResult]
    ) -> None:
        stale = [index for index, result in results.items() if result.status is WriteStatus.STALE]
        if not stale:
            return
        found = self._lookup_items(writes[index].sku for index in stale)
        for index in stale:
            items = found.get(writes[index].sku) or []
            actual = items[0].on_hand if len(items) == 1 else None
            result = results[index]
            results[index] = WriteResult(
                sku=result.sku, status=result.status, actual=actual, message=result.message
            )

    def _remember(self, sku: str, item_id: str) -> None:
        known = self._item_by_sku.get(sku)
        if known is not None and known != item_id:
            self._forget(sku)  # two items share the SKU: let the next lookup see both
            return
        self._item_by_sku[sku] = item_id
        self._sku_by_item[item_id] = sku

    def _forget(self, sku: str) -> None:
        item_id = self._item_by_sku.pop(sku, None)
        if item_id is not None:
            self._sku_by_item.pop(item_id, None)

    # -- returns ---------------------------------------------------------------------------

    def read_return_lines(self, return_ref: str) -> list[EventLine]:
        """The return's line items through ``return(id:)`` → ``returnLineItems``, page by page.

        Each line names its order line as the webhooks do (``line_ref``: the line item's id) with
        its SKU, quantity and reason handle; a line with no order line behind it (an
        ``UnverifiedReturnLineItem``) keeps its own id and no SKU. A return Shopify does not know
        raises ``MappingError``.
        """
        return_id = _gid("Return", return_ref)
        lines: list[EventLine] = []
        after: str | None = None
        while True:
            variables = {
                "id": return_id,
                "first": min(self._page_size, RETURN_LINE_ITEMS_PAGE_SIZE),
                "after": after,
            }
            data = self._graphql("OneFactReturnLineItems", RETURN_LINE_ITEMS_QUERY, variables)
            found = data.get("return")
            if not isinstance(found, dict):
                raise MappingError(f"Shopify knows no return {return_id}")
            connection = _require(found, "returnLineItems")
            lines += [_return_line(node) for node in connection.get("nodes") or []]
            after = _next_cursor(connection)
            if after is None:
                return lines

    # -- return outcomes -------------------------------------------------------------------

    def report_return_dispositions(
        self, *, return_ref: str, order_ref: str, dispositions: list[ReturnDisposition]
    ) -> None:
        """Dispose the return's reverse fulfillment order line items up to our totals.

        Reads the return, works out per order line and disposition type what Shopify does not
        hold yet, checks that it fits, then sends one ``reverseFulfillmentOrderDispose``.
        """
        wanted: dict[tuple[str, str], int] = {}
        for item in dispositions:
            if item.quantity > 0:
                key = (_gid("LineItem", item.line_ref), DISPOSITION_TYPES[item.disposition])
                wanted[key] = item.quantity
        if not wanted:
            return
        lines = self._return_lines(return_ref)
        inputs: list[dict[str, Any]] = []
        for (line_item_id, kind), total in sorted(wanted.items()):
            candidates = [line for line in lines if line.line_item_id == line_item_id]
            if not candidates:
                raise MappingError(
                    f"Shopify return {return_ref} has no line for order line {line_item_id}"
                )
            missing = total - sum(line.disposed.get(kind, 0) for line in candidates)
            for line in candidates:
                take = min(missing, line.free)
                if take <= 0:
                    continue
                entry: dict[str, Any] = {
                    "reverseFulfillmentOrderLineItemId": line.id,
                    "quantity": take,
                    "dispositionType": kind,
                }
                if kind == "RESTOCKED":
                    entry["locationId"] = self.location_id
                inputs.append(entry)
                line.free -= take
                missing -= take
            if missing > 0:
                raise StorefrontValidationError(
                    f"Shopify return {return_ref}, order line {line_item_id}: {missing} more "
                    f"{kind} unit(s) than the line has left to dispose"
                )
        if not inputs:
            return  # Shopify holds every total already: a repeated report
        variables = {"dispositionInputs": inputs}
        data = self._graphql("OneFactDisposeReturn", DISPOSE_MUTATION, variables)
        payload = data.get("reverseFulfillmentOrderDispose")
        if not isinstance(payload, dict):
            raise StorefrontValidationError("reverseFulfillmentOrderDispose returned no payload")
        errors = payload.get("userErrors") or []
        if errors:
            message = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
            raise StorefrontValidationError(f"Shopify refused the dispositions: {message}")

    def _return_lines(self, return_ref: str) -> list[_ReverseLine]:
        """Every reverse fulfillment order line item of the return, following both pages.

        Each request stays under Shopify's cost limit: reverse fulfillment orders come
        ``RETURN_ORDERS_PAGE_SIZE`` at a time with their first lines, and an order with more lines
        continues on its own (``REVERSE_LINES_PAGE_SIZE`` a page).
        """
        return_id = _gid("Return", return_ref)
        lines: list[_ReverseLine] = []
        orders_seen = 0
        after: str | None = None
        while True:
            variables = {
                "id": return_id,
                "first": RETURN_ORDERS_PAGE_SIZE,
                "after": after,
                "lines": min(self._page_size, RETURN_LINES_PAGE_SIZE),
            }
            data = self._graphql("OneFactReturnLines", RETURN_LINES_QUERY, variables)
            found = data.get("return")
            if not isinstance(found, dict):
                raise MappingError(f"Shopify knows no return {return_id}")
            orders = _require(found, "reverseFulfillmentOrders")
            for order in orders.get("nodes") or []:
                orders_seen += 1
                lines += self._reverse_order_lines(order["id"], _require(order, "lineItems"))
            after = _next_cursor(orders)
            if after is None:
                break
        if not orders_seen:
            # A requested return gets its reverse fulfillment order when it is approved.
            raise StorefrontUnavailable(
                f"Shopify return {return_id} has no reverse fulfillment order yet (not approved); "
                "try again later"
            )
        return lines

    def _reverse_order_lines(self, order_id: str, connection: dict[str, Any]) -> list[_ReverseLine]:
        """The lines of one reverse fulfillment order: ``connection`` and the pages after it."""
        lines: list[_ReverseLine] = []
        while True:
            lines += [_reverse_line(node) for node in connection.get("nodes") or []]
            after = _next_cursor(connection)
            if after is None:
                return lines
            page = self._graphql(
                "OneFactReverseFulfillmentOrderLines",
                REVERSE_FULFILLMENT_ORDER_LINES_QUERY,
                {"id": order_id, "first": min(self._page_size, REVERSE_LINES_PAGE_SIZE),
                 "after": after},
            )  # fmt: skip
            node = page.get("reverseFulfillmentOrder")
            if not isinstance(node, dict):
                raise MappingError(f"Shopify lost reverse fulfillment order {order_id}")
            connection = _require(node, "lineItems")

    # -- connecting ------------------------------------------------------------------------

    def check_access(self) -> AccessReport:
        """The app installation's access scopes, against ``REQUIRED_SCOPES``."""
        data = self._graphql("OneFactAccessScopes", ACCESS_SCOPES_QUERY, {})
        installation = _require(data, "currentAppInstallation")
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
            payload = _require(data, "webhookSubscriptionCreate")
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
            connection = _require(data, "webhookSubscriptions")
            topics |= {
                str(node["topic"])
                for node in connection.get("nodes") or []
                if node.get("uri") == url
            }
            after = _next_cursor(connection)
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
        parser = _TOPIC_PARSERS.get(topic)
        if parser is None:
            return []
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise StorefrontValidationError(f"webhook body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise StorefrontValidationError("webhook body is not a JSON object")
        context = _Delivery(
            event_id=_event_id(topic, body, headers),
            triggered_at=_parse_time(header_value(headers, "X-Shopify-Triggered-At")),
        )
        event = parser(self, topic, payload, context)
        return [event] if event is not None else []

    def inventory_event(self, payload: dict[str, Any], delivery: _Delivery) -> InboundEvent | None:
        """INVENTORY_CHANGED for our location; the SKU only when this adapter has seen the item.

        The payload names an inventory item, not a SKU: the line's ``line_ref`` is the item's GID
        and its ``sku`` is filled from this adapter's cache, else empty; callers resolve it with
        :meth:`resolve_inventory_item_sku`. ``quantity`` is Shopify's ``available``. A payload
        without the item or without a number (``available`` is null for an untracked item; the
        example Shopify documents for 2026-01 and 2026-04 is ``{}``) claims nothing: no event.
        """
        location = payload.get("location_id")
        if location is not None and _gid("Location", location) != self.location_id:
            return None  # another location's number: not the one we mirror
        item = payload.get("inventory_item_id")
        available = payload.get("available")
        if item is None or available is None:
            return None
        item_id = _gid("InventoryItem", item)
        quantity = int(available)
        sku = self._sku_by_item.get(item_id, "")
        line = EventLine(sku=sku, quantity=quantity, line_ref=item_id)
        return InboundEvent(
            event_id=delivery.event_id,
            type=EventType.INVENTORY_CHANGED,
            occurred_at=_parse_time(payload.get("updated_at")) or delivery.triggered_at,
            lines=[line],
            quantity=quantity,
            payload=payload,
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _graphql(self, operation: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one operation; map transport, HTTP and GraphQL failures to our errors."""
        self._pace(operation)
        try:
            response = self._client.post(
                self.endpoint,
                json={"query": query, "variables": variables, "operationName": operation},
                headers={
                    "X-Shopify-Access-Token": self._access_token,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise StorefrontUnavailable(f"Shopify did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise StorefrontUnavailable(f"Shopify unreachable: {exc}") from exc
        body = _json_or_none(response)
        if isinstance(body, dict):
            self._note_cost(operation, body)
        self._raise_for_status(response, body)
        if not isinstance(body, dict):
            raise StorefrontUnavailable(f"Shopify answered {response.status_code} without JSON")
        self._raise_for_errors(body)
        data = body.get("data")
        if not isinstance(data, dict):
            raise StorefrontValidationError("Shopify answered without data")
        return data

    def _raise_for_status(self, response: httpx.Response, body: Any) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_text(body) or response.text[:200]
        if status == 429:
            header = response.headers.get("Retry-After")
            if header is None and isinstance(body, dict) and _is_throttled(body):
                wait = self._throttle_wait()
            else:
                wait = retry_after_seconds(header)
            raise RateLimited(f"Shopify rate limit (429): {detail}", retry_after=wait)
        if status in (401, 403):
            raise AuthenticationFailed(f"Shopify refused the credentials ({status}): {detail}")
        if status >= 500 or status == 408:
            raise StorefrontUnavailable(f"Shopify answered {status}: {detail}")
        raise StorefrontValidationError(f"Shopify answered {status}: {detail}")

    def _raise_for_errors(self, body: dict[str, Any]) -> None:
        errors = body.get("errors")
        if not errors:
            return
        if _is_throttled(body):
            raise RateLimited(
                f"Shopify throttled the query: {_error_text(body)}",
                retry_after=self._throttle_wait(),
            )
        codes = _top_level_codes(errors)
        message = _error_text(body)
        if codes & AUTH_ERROR_CODES:
            raise AuthenticationFailed(f"Shopify denied access: {message}")
        if codes & TRANSIENT_ERROR_CODES:
            raise StorefrontUnavailable(f"Shopify failed: {message}")
        raise StorefrontValidationError(f"Shopify refused the request: {message}")

    def _note_cost(self, operation: str, body: dict[str, Any]) -> None:
        """Keep ``extensions.cost``: the bucket as Shopify saw it, the points spent, and what this
        operation requests (the estimate for its next call)."""
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        try:
            self.last_throttle_status = ThrottleStatus(
                requested_cost=_float_or_none(cost.get("requestedQueryCost")),
                actual_cost=_float_or_none(cost.get("actualQueryCost")),
                maximum_available=float(status["maximumAvailable"]),
                currently_available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return
        self._status_at = self._clock()
        self.points_used += self.last_throttle_status.actual_cost or 0.0
        if self.last_throttle_status.requested_cost is not None:
            self._requested_costs[operation] = self.last_throttle_status.requested_cost

    def _pace(self, operation: str) -> None:
        """Wait until the bucket, refilled since the last answer, holds what ``operation``
        requests (its last requested cost, else the dearest seen), so Shopify never throttles."""
        status = self.last_throttle_status
        if status is None or status.restore_rate <= 0:
            return
        expected = self._requested_costs.get(
            operation, max(self._requested_costs.values(), default=0.0)
        )
        refilled = (self._clock() - self._status_at) * status.restore_rate
        available = min(status.maximum_available, status.currently_available + refilled)
        if expected > available:
            wait = (expected - available) / status.restore_rate + PACING_MARGIN
            self._sleep(wait)
            self.seconds_paced += wait

    def _throttle_wait(self) -> float:
        """Seconds until the bucket holds the requested cost: (requested − available) / rate."""
        status = self.last_throttle_status
        if status is None or status.requested_cost is None or status.restore_rate <= 0:
            return 1.0
        return max(1.0, (status.requested_cost - status.currently_available) / status.restore_rate)


# -- webhook topic parsers -----------------------------------------------------------------


@dataclass(frozen=True)
class _Delivery:
    event_id: str
    triggered_at: datetime | None


def _order_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: _Delivery
) -> InboundEvent:
    event_type, time_field = _ORDER_TOPICS[topic]
    return InboundEvent(
        event_id=delivery.event_id,
        type=event_type,
        occurred_at=_parse_time(payload.get(time_field)) or delivery.triggered_at,
        order_ref=_ref(payload.get("id")),
        customer_name=_person_name(payload.get("customer") or payload.get("billing_address")),
        lines=[
            EventLine(
                sku=item.get("sku") or "",
                quantity=int(item.get("quantity") or 0),
                line_ref=_ref(item.get("id")),
            )
            for item in payload.get("line_items") or []
        ],
        payload=payload,
    )


def _refund_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: _Delivery
) -> InboundEvent:
    lines = []
    for refund_line in payload.get("refund_line_items") or []:
        line_item = refund_line.get("line_item") or {}
        restock_type = refund_line.get("restock_type") or ""
        lines.append(
            EventLine(
                sku=line_item.get("sku") or "",
                quantity=int(refund_line.get("quantity") or 0),
                line_ref=_ref(refund_line.get("line_item_id") or line_item.get("id")),
                # a restocking type says the storefront claims the units went back on the shelf
                reason=restock_type if restock_type in RESTOCK_TYPES else "",
            )
        )
    return InboundEvent(
        event_id=delivery.event_id,
        type=EventType.REFUND_ISSUED,
        occurred_at=_parse_time(payload.get("processed_at") or payload.get("created_at"))
        or delivery.triggered_at,
        order_ref=_ref(payload.get("order_id")),
        lines=lines,
        payload=payload,
    )


def _return_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: _Delivery
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
                line_ref=_ref(line_item.get("id")),
                reason=return_line.get("return_reason") or "",
            )
        )
    order = payload.get("order") or {}
    return InboundEvent(
        event_id=delivery.event_id,
        type=EventType.RETURN_OPENED,
        occurred_at=_parse_time(payload.get("created_at")) or delivery.triggered_at,
        order_ref=_ref(order.get("id") if isinstance(order, dict) else None),
        return_ref=_ref(payload.get("id")),
        customer_name=_person_name(payload.get("customer")),
        lines=lines,
        payload=payload,
    )


def _product_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: _Delivery
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
        occurred_at=_parse_time(payload.get("updated_at")) or delivery.triggered_at,
        catalog=catalog,
        payload=payload,
    )


def _inventory_level_event(
    adapter: ShopifyAdapter, topic: str, payload: dict[str, Any], delivery: _Delivery
) -> InboundEvent | None:
    """inventory_levels/update carries an inventory item id and ``available``, not a SKU."""
    return adapter.inventory_event(payload, delivery)


_ORDER_TOPICS: dict[str, tuple[EventType, str]] = {
    "orders/create": (EventType.ORDER_PLACED, "created_at"),
    "orders/cancelled": (EventType.ORDER_CANCELLED, "cancelled_at"),
    "orders/fulfilled": (EventType.ORDER_FULFILLED, "updated_at"),
}
_TOPIC_PARSERS = {
    "orders/create": _order_event,
    "orders/cancelled": _order_event,
    "orders/fulfilled": _order_event,
    "refunds/create": _refund_event,
    "returns/request": _return_event,
    "returns/approve": _return_event,
    "products/update": _product_event,
    "inventory_levels/update": _inventory_level_event,
}


# -- helpers -------------------------------------------------------------------------------


def webhook_topics() -> list[str]:
    """The ``WebhookSubscriptionTopic`` of every topic ``parse_events`` reads (``orders/create``
    → ``ORDERS_CREATE``)."""
    return [topic.upper().replace("/", "_") for topic in _TOPIC_PARSERS]


def shopify_reason(reason: str) -> str:
    """A valid Shopify inventory reason for one of ours (default: ``correction``)."""
    normalized = reason.strip().lower()
    if normalized in SHOPIFY_REASONS:
        return normalized
    return REASON_ALIASES.get(normalized, DEFAULT_REASON)


def mutation_idempotency_key(
    rows: Sequence[LevelWrite],
    item_ids: Mapping[str, str],
    location_id: str,
    reason: str,
    ledger_ref: str,
    salt: str = "",
) -> str:
    """One deterministic key for the rows of one mutation (same rows → same key)."""
    material = json.dumps(
        {
            "location": location_id,
            "reason": reason,
            "ref": ledger_ref,
            "salt": salt,
            "rows": [
                [row.idempotency_key, item_ids[row.sku], row.quantity, row.expected] for row in rows
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, material))


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


def sku_search_query(skus: Iterable[str]) -> str:
    """``sku:"A" OR sku:"B"`` with quotes and backslashes escaped (Shopify search syntax)."""
    terms = []
    for sku in skus:
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        terms.append(f'sku:"{escaped}"')
    return " OR ".join(terms)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup on any mapping (also accepts ``_`` for ``-``)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower().replace("_", "-") == wanted:
            return candidate
    return None


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), at least 1."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(1.0, seconds)


def _split_user_errors(
    errors: Sequence[Mapping[str, Any]], rows: Sequence[LevelWrite]
) -> tuple[dict[int, Mapping[str, Any]], list[Mapping[str, Any]]]:
    """userErrors attributed to a row (by ``field`` index) and those about the whole request."""
    by_row: dict[int, Mapping[str, Any]] = {}
    request: list[Mapping[str, Any]] = []
    for error in errors:
        position = _quantities_index(error.get("field"))
        if error.get("code") == "INVALID_LOCATION" or position is None or position >= len(rows):
            request.append(error)
        else:
            by_row.setdefault(position, error)
    return by_row, request


def _quantities_index(field: Sequence[str] | None) -> int | None:
    if not field:
        return None
    parts = list(field)
    for offset, part in enumerate(parts[:-1]):
        if part == "quantities":
            try:
                return int(parts[offset + 1])
            except ValueError:
                return None
    return None


def _request_error(errors: Sequence[Mapping[str, Any]]) -> Exception:
    codes = _codes(errors)
    message = "; ".join(str(error.get("message") or error.get("code")) for error in errors)
    if "INVALID_LOCATION" in codes:
        return MappingError(f"Shopify does not know the location: {message}")
    if "IDEMPOTENCY_CONCURRENT_REQUEST" in codes:
        return StorefrontUnavailable(f"the same mutation is still running: {message}")
    return StorefrontValidationError(f"Shopify refused the mutation: {message}")


def _codes(errors: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(error.get("code")) for error in errors if error.get("code")}


def _rejected(write: LevelWrite, message: str) -> WriteResult:
    return WriteResult(sku=write.sku, status=WriteStatus.REJECTED, message=message)


def _is_throttled(body: Mapping[str, Any]) -> bool:
    errors = body.get("errors")
    return isinstance(errors, list) and "THROTTLED" in _top_level_codes(errors)


def _top_level_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    codes = set()
    for error in errors:
        if isinstance(error, dict):
            code = (error.get("extensions") or {}).get("code")
            if code:
                codes.add(str(code))
    return codes


def _error_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(
            str(error.get("message", error)) if isinstance(error, dict) else str(error)
            for error in errors
        )
    if isinstance(errors, dict):
        return json.dumps(errors)
    return ""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _require(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise StorefrontValidationError(f"Shopify answered without {key}")
    return value


def _next_cursor(connection: Mapping[str, Any]) -> str | None:
    page_info = connection.get("pageInfo") or {}
    return page_info.get("endCursor") if page_info.get("hasNextPage") else None


def _on_hand(quantities: Any) -> int | None:
    for entry in quantities or []:
        if entry.get("name") == QUANTITY_NAME and entry.get("quantity") is not None:
            return int(entry["quantity"])
    return None


def _reverse_line(node: Mapping[str, Any]) -> _ReverseLine:
    line_item = (node.get("fulfillmentLineItem") or {}).get("lineItem") or {}
    disposed: dict[str, int] = {}
    for disposition in node.get("dispositions") or []:
        kind = str(disposition.get("type"))
        disposed[kind] = disposed.get(kind, 0) + int(disposition.get("quantity") or 0)
    total = int(node.get("totalQuantity") or 0)
    return _ReverseLine(
        id=str(node["id"]),
        line_item_id=_gid("LineItem", line_item.get("id") or ""),
        disposed=disposed,
        free=max(0, total - sum(disposed.values())),
    )


def _return_line(node: Mapping[str, Any]) -> EventLine:
    line_item = (node.get("fulfillmentLineItem") or {}).get("lineItem") or {}
    reason = node.get("returnReasonDefinition") or {}
    return EventLine(
        sku=line_item.get("sku") or "",
        quantity=int(node.get("quantity") or 0),
        line_ref=_legacy_id(line_item["id"]) if line_item.get("id") else _ref(node.get("id")),
        reason=reason.get("handle") or "",
    )


def _legacy_id(gid: str) -> str:
    """``gid://shopify/LineItem/11`` → ``11``: the id the REST-shaped webhooks carry."""
    return str(gid).rsplit("/", 1)[-1]


def _encode_sku_cursor(chunk: int, after: str | None) -> str:
    raw = json.dumps({"c": chunk, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_sku_cursor(cursor: str | None) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(decoded["c"]), decoded.get("a")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"not a cursor of this adapter: {cursor!r}") from exc


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _gid(kind: str, value: str | int) -> str:
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def _event_id(topic: str, body: bytes, headers: Mapping[str, str]) -> str:
    """X-Shopify-Webhook-Id (stable across retries); else X-Shopify-Event-Id; else a body hash."""
    for name in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id"):
        value = header_value(headers, name)
        if value:
            return value.strip()
    return f"{topic}:{hashlib.sha256(body).hexdigest()}"


def _parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _person_name(person: Any) -> str:
    if not isinstance(person, dict):
        return ""
    parts = [person.get("first_name") or "", person.get("last_name") or ""]
    return " ".join(part.strip() for part in parts if part and part.strip())


def _ref(value: Any) -> str:
    return "" if value is None else str(value)


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
