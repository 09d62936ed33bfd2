"""Shopify adapter: the Admin GraphQL API, version 2026-04 by default.

How writes, webhooks, query costs and return outcomes work, and why: docs/storefront-adapters.md
(the GraphQL transport, the returns and the webhooks are in the ``shopify_*`` modules)."""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from inventory.storefront.base import (
    Capabilities,
    CatalogItem,
    HttpClientLifecycle,
    Level,
    LevelWrite,
    MappingError,
    Mirrors,
    Page,
    StorefrontAdapter,
    StorefrontValidationError,
    WriteResult,
    WriteStatus,
)
from inventory.storefront.http import (
    next_cursor,
    require,
)
from inventory.storefront.shopify_bulk import (
    BulkLevels,
)
from inventory.storefront.shopify_documents import (
    CATALOG_QUERY,
    INVENTORY_ITEM_QUERY,
    ITEMS_BY_SKU_QUERY,
    LOCATION_LEVELS_QUERY,
    MAX_PAGE_SIZE,
    SET_ON_HAND_MUTATION,
)
from inventory.storefront.shopify_graphql import (
    ShopifyGraphQL,
    ThrottleStatus,
    error_codes,
    gid,
    request_error,
)
from inventory.storefront.shopify_returns import ShopifyReturns
from inventory.storefront.shopify_webhooks import ShopifyConnection, catalog_title

DEFAULT_API_VERSION = "2026-04"
MIN_API_VERSION = "2026-01"  # first version with changeFromQuantity and @idempotent
# Every document below validates against each of these (tests/storefront/schemas/ holds the
# oldest and the newest); a version outside them is refused at configuration.
SUPPORTED_API_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
MAX_QUERY_COST = 1000  # Shopify refuses a query whose requested cost is higher (MAX_COST_EXCEEDED)
MAX_BATCH = 250
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

_IDEMPOTENCY_NAMESPACE = uuid.UUID("4b0c8a53-3f0e-4a8e-9a57-0e6f7a1c5d21")


@dataclass(frozen=True)
class _Item:
    """One inventory item found by SKU, with its on-hand at our location (None: not stocked)."""

    item_id: str
    sku: str
    on_hand: int | None


class ShopifyAdapter(
    ShopifyGraphQL, ShopifyReturns, ShopifyConnection, HttpClientLifecycle, StorefrontAdapter
):
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
        self.location_id = gid("Location", location_id)
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
        connection = require(data, "productVariants", vendor="Shopify")
        items = [
            CatalogItem(
                sku=node["sku"],
                title=catalog_title((node.get("product") or {}).get("title"), node.get("title")),
                active=(node.get("product") or {}).get("status") == "ACTIVE",
            )
            for node in connection.get("nodes") or []
            if node.get("sku")
        ]
        return Page(items=items, next_cursor=next_cursor(connection))

    def resolve_inventory_item_sku(self, inventory_item_id: str | int) -> str | None:
        """The SKU of an inventory item (e.g. from an ``inventory_levels/update`` webhook)."""
        item_id = gid("InventoryItem", inventory_item_id)
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
        connection = require(location, "inventoryLevels", vendor="Shopify")
        levels = []
        for node in connection.get("nodes") or []:
            item = node.get("item") or {}
            quantity = _on_hand(node.get("quantities"))
            if not item.get("sku") or quantity is None:
                continue
            self._remember(item["sku"], item["id"])
            levels.append(Level(sku=item["sku"], quantity=quantity))
        return Page(items=levels, next_cursor=next_cursor(connection))

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
        connection = require(data, "inventoryItems", vendor="Shopify")
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
                if salt == "" and error_codes(request_errors) == {RETRY_WITH_NEW_KEY}:
                    salt = "retry"  # Shopify: "Retry with a new idempotency key."
                    continue
                raise request_error(request_errors)
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


# -- helpers -------------------------------------------------------------------------------


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


def sku_search_query(skus: Iterable[str]) -> str:
    """``sku:"A" OR sku:"B"`` with quotes and backslashes escaped (Shopify search syntax)."""
    terms = []
    for sku in skus:
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        terms.append(f'sku:"{escaped}"')
    return " OR ".join(terms)


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


def _rejected(write: LevelWrite, message: str) -> WriteResult:
    return WriteResult(sku=write.sku, status=WriteStatus.REJECTED, message=message)


def _on_hand(quantities: Any) -> int | None:
    for entry in quantities or []:
        if entry.get("name") == QUANTITY_NAME and entry.get("quantity") is not None:
            return int(entry["quantity"])
    return None


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
