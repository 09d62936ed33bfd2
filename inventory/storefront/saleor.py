"""Saleor adapter: the Saleor GraphQL API (3.x), one warehouse.

How writes, webhooks and limits work, and why: docs/storefront-adapters.md."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt.exceptions import PyJWKError

from inventory.storefront.base import (
    AccessReport,
    AuthenticationFailed,
    Capabilities,
    CatalogItem,
    EventLine,
    EventType,
    HttpClientLifecycle,
    InboundEvent,
    Level,
    LevelWrite,
    Mirrors,
    MissingAccess,
    Page,
    RateLimited,
    StorefrontAdapter,
    StorefrontUnavailable,
    StorefrontValidationError,
    WebhookRegistration,
    WebhookSignatureInvalid,
    WriteResult,
    WriteStatus,
    webhook_timestamp,
)
from inventory.storefront.http import (
    error_text,
    header_value,
    json_object_body,
    json_or_none,
    next_cursor,
    parse_time,
    require,
    retry_after_seconds,
)
from inventory.storefront.saleor_documents import (
    APP_QUERY,
    CATALOG_QUERY,
    STOCK_BULK_UPDATE_MUTATION,
    SUBSCRIPTION_QUERY,
    VARIANT_STOCKS_QUERY,
    WEBHOOK_CREATE_MUTATION,
)
from inventory.storefront.saleor_webhooks import (
    delivery_event_id,
    jws_signing_input,
    order_event,
    split_detached_jws,
    verify_signature,
)

MAX_BATCH = 100  # Saleor's limit on `first`, so one page reads the whole batch back
MAX_PAGE_SIZE = 100  # Saleor's GRAPHQL_PAGINATION_LIMIT: a larger `first` is refused
SIGNING_ALGORITHM = "RS256"

# The Saleor lines (major.minor) every document below is validated against, with their published
# schemas and query cost maps (tests/storefront/schemas/): 3.23 has been run end to end against
# a real instance; 3.24 is the development line the vendored HEAD schema comes from.
SUPPORTED_VERSIONS = ("3.23", "3.24")
DEFAULT_VERSION = "3.23"

# `extensions.exception.code` values (Saleor puts the exception class name there) that mean the
# token is bad, expired or lacks MANAGE_PRODUCTS.
AUTH_ERROR_CODES = frozenset(
    {
        "PermissionDenied",
        "ExpiredSignatureError",
        "InvalidSignatureError",
        "InvalidTokenError",
        "DecodeError",
        "JSONWebTokenError",
        "JSONWebTokenExpired",
        "InvalidAudienceError",
    }
)

# The app permissions the adapter needs, and what OneFact could not do without each.
REQUIRED_PERMISSIONS = {
    "MANAGE_PRODUCTS": "OneFact could not read stock or the catalog, nor correct stock",
    "MANAGE_ORDERS": "orders, cancellations and fulfilments would not reach OneFact "
    "(ORDER_CREATED, ORDER_CANCELLED, ORDER_FULFILLED)",
}
WEBHOOK_NAME = "OneFact"


_EVENT_TYPES: dict[str, EventType] = {
    "ORDER_CREATED": EventType.ORDER_PLACED,
    "ORDER_CANCELLED": EventType.ORDER_CANCELLED,
    "ORDER_FULFILLED": EventType.ORDER_FULFILLED,
    "PRODUCT_VARIANT_STOCK_UPDATED": EventType.INVENTORY_CHANGED,
    "PRODUCT_VARIANT_UPDATED": EventType.CATALOG_CHANGED,
    "PRODUCT_UPDATED": EventType.CATALOG_CHANGED,
}
# `__typename` of the event object, used when the Saleor-Event header is absent.
_TYPENAMES = {
    "OrderCreated": "ORDER_CREATED",
    "OrderCancelled": "ORDER_CANCELLED",
    "OrderFulfilled": "ORDER_FULFILLED",
    "ProductVariantStockUpdated": "PRODUCT_VARIANT_STOCK_UPDATED",
    "ProductVariantUpdated": "PRODUCT_VARIANT_UPDATED",
    "ProductUpdated": "PRODUCT_UPDATED",
}


@dataclass(frozen=True)
class _Variant:
    variant_id: str
    sku: str
    quantity: int | None  # stock in our warehouse; None: no stock record there


class SaleorAdapter(HttpClientLifecycle, StorefrontAdapter):
    """One Saleor instance, one warehouse. Configuration comes only through the constructor."""

    capabilities = Capabilities(
        compare_and_set=False, idempotency_keys=False, max_batch=MAX_BATCH, mirrors=Mirrors.ON_HAND
    )
    # Five attempts over about five minutes, each with the first one's issuedAt; 10 min spare
    # for Saleor's queue and the attempts' own timeouts.
    webhook_max_age = 15 * 60

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        warehouse_id: str,
        channel: str | None = None,
        jwks_url: str | None = None,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        jwks_cache_seconds: float = 300,
        page_size: int = MAX_PAGE_SIZE,
        jwks_refetch_min_interval: float = 5.0,
        version: str = DEFAULT_VERSION,
    ) -> None:
        line = supported_version(version)
        if line is None:
            raise ValueError(
                f"Saleor {version} is not supported: OneFact's queries are checked against "
                f"Saleor {', '.join(SUPPORTED_VERSIONS)} (set version to one of them)"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.version = line
        self.api_url = api_url
        self.warehouse_id = warehouse_id
        self.channel = channel
        self.jwks_url = jwks_url or default_jwks_url(api_url)
        self._token = token
        self._timeout = timeout
        self._page_size = page_size
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._jwks_cache_seconds = jwks_cache_seconds
        self._jwks_refetch_min_interval = jwks_refetch_min_interval
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._jwks_fetched_at: float | None = None
        self._jwks_lock = threading.Lock()
        self._clock: Callable[[], float] = time.monotonic

    # -- reads -----------------------------------------------------------------------------

    def read_levels(self, skus: Sequence[str] | None, cursor: str | None = None) -> Page[Level]:
        if skus is not None and not skus:
            return Page(items=[])
        variants, next_cursor = self._variants_page(skus, cursor, self._page_size)
        levels = [
            Level(sku=variant.sku, quantity=variant.quantity)
            for variant in variants
            if variant.quantity is not None
        ]
        return Page(items=levels, next_cursor=next_cursor)

    def read_catalog(self, cursor: str | None = None) -> Page[CatalogItem]:
        data = self._graphql(
            "OneFactCatalog", CATALOG_QUERY, {"first": self._page_size, "after": cursor}
        )
        connection = require(data, "productVariants", vendor="Saleor")
        items = [
            self._catalog_item(node)
            for node in _nodes(connection)
            if node.get("sku")  # a variant without SKU cannot be mirrored
        ]
        return Page(items=items, next_cursor=next_cursor(connection))

    def _variants_page(
        self, skus: Sequence[str] | None, after: str | None, first: int
    ) -> tuple[list[_Variant], str | None]:
        variables: dict[str, Any] = {"first": first, "after": after}
        if skus is not None:
            variables["filter"] = {"sku": list(dict.fromkeys(skus))}
        data = self._graphql("OneFactVariantStocks", VARIANT_STOCKS_QUERY, variables)
        connection = require(data, "productVariants", vendor="Saleor")
        variants = [
            _Variant(
                variant_id=node["id"],
                sku=node["sku"],
                quantity=_warehouse_quantity(node.get("stocks"), self.warehouse_id),
            )
            for node in _nodes(connection)
            if node.get("sku")
        ]
        return variants, next_cursor(connection)

    def _current(self, skus: Sequence[str]) -> dict[str, _Variant]:
        """Variant and current stock for every SKU of a batch (all pages)."""
        found: dict[str, _Variant] = {}
        cursor: str | None = None
        while True:
            variants, cursor = self._variants_page(skus, cursor, MAX_PAGE_SIZE)
            for variant in variants:
                found.setdefault(variant.sku, variant)
            if cursor is None:
                return found

    def _catalog_item(self, variant: Mapping[str, Any]) -> CatalogItem:
        product = variant.get("product") or {}
        return CatalogItem(
            sku=variant["sku"],
            title=catalog_title(product.get("name"), variant.get("name")),
            active=self._is_active(product.get("channelListings")),
        )

    def _is_active(self, listings: Any) -> bool:
        """Published and available for purchase in our channel (in any channel when unset)."""
        for listing in listings or []:
            slug = (listing.get("channel") or {}).get("slug")
            if self.channel is not None and slug != self.channel:
                continue
            if listing.get("isPublished") and listing.get("isAvailableForPurchase"):
                return True
        return False

    # -- writes ----------------------------------------------------------------------------

    def set_levels(self, writes: Sequence[LevelWrite]) -> list[WriteResult]:
        if len(writes) > MAX_BATCH:
            raise ValueError(f"Saleor takes at most {MAX_BATCH} quantities per call")
        if not writes:
            return []
        current = self._current([write.sku for write in writes])
        results: dict[int, WriteResult] = {}
        to_write: list[tuple[int, _Variant]] = []
        seen: set[str] = set()
        for index, write in enumerate(writes):
            outcome = _compare(write, current.get(write.sku), duplicate=write.sku in seen)
            seen.add(write.sku)
            if outcome is None:
                to_write.append((index, current[write.sku]))
            else:
                results[index] = outcome
        if to_write:
            results.update(self._bulk_update(writes, to_write))
        return [results[index] for index in range(len(writes))]

    def _bulk_update(
        self, writes: Sequence[LevelWrite], rows: list[tuple[int, _Variant]]
    ) -> dict[int, WriteResult]:
        stocks = [
            {
                "variantId": variant.variant_id,
                "warehouseId": self.warehouse_id,
                "quantity": writes[index].quantity,
            }
            for index, variant in rows
        ]
        data = self._graphql(
            "OneFactStockBulkUpdate",
            STOCK_BULK_UPDATE_MUTATION,
            {"stocks": stocks, "errorPolicy": "REJECT_FAILED_ROWS"},
        )
        payload = require(data, "stockBulkUpdate", vendor="Saleor")
        if payload.get("errors"):
            raise StorefrontValidationError(
                f"Saleor refused the stock update: {_messages(payload['errors'])}"
            )
        outcomes = payload.get("results") or []
        if len(outcomes) != len(rows):
            raise StorefrontValidationError(
                f"stockBulkUpdate answered {len(outcomes)} results for {len(rows)} rows"
            )
        return {
            index: _row_result(writes[index], outcome)
            for (index, _variant), outcome in zip(rows, outcomes, strict=True)
        }

    # -- connecting ------------------------------------------------------------------------

    def check_access(self) -> AccessReport:
        """The app's permissions, against ``REQUIRED_PERMISSIONS``."""
        app = self._app()
        granted = sorted({str(p["code"]) for p in app.get("permissions") or []})
        missing = [
            MissingAccess(name=code, consequence=consequence)
            for code, consequence in REQUIRED_PERMISSIONS.items()
            if code not in granted
        ]
        return AccessReport(granted=granted, missing=missing)

    def register_webhooks(self, *, url: str) -> WebhookRegistration:
        """One ``webhookCreate`` with ``SUBSCRIPTION_QUERY`` for the events the app's active
        webhooks to ``url`` do not carry yet."""
        subscribed: set[str] = set()
        for webhook in self._app().get("webhooks") or []:
            if webhook.get("targetUrl") == url and webhook.get("isActive"):
                subscribed |= {str(e["eventType"]) for e in webhook.get("asyncEvents") or []}
        existing = [event for event in webhook_events() if event in subscribed]
        wanted = [event for event in webhook_events() if event not in subscribed]
        if not wanted:
            return WebhookRegistration(created=[], existing=existing)
        variables = {
            "input": {
                "name": WEBHOOK_NAME,
                "targetUrl": url,
                "asyncEvents": wanted,
                "query": SUBSCRIPTION_QUERY,
                "isActive": True,
            }
        }
        data = self._graphql("OneFactWebhookCreate", WEBHOOK_CREATE_MUTATION, variables)
        payload = require(data, "webhookCreate", vendor="Saleor")
        if payload.get("errors"):
            raise StorefrontValidationError(
                f"Saleor refused the webhook: {_messages(payload['errors'])}"
            )
        return WebhookRegistration(created=wanted, existing=existing)

    def _app(self) -> dict[str, Any]:
        app = self._graphql("OneFactApp", APP_QUERY, {}).get("app")
        if not isinstance(app, dict):
            raise AuthenticationFailed(
                "the token is not an app's token: create an app in Saleor's dashboard "
                "(Apps → Install external app or create a local app) and use its token"
            )
        return app

    # -- webhooks --------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        signature = header_value(headers, "Saleor-Signature")
        if not signature:
            raise WebhookSignatureInvalid("missing Saleor-Signature")
        protected_segment, header, signature_bytes = split_detached_jws(signature.strip())
        if header.get("alg") != SIGNING_ALGORITHM:
            raise WebhookSignatureInvalid(f"unexpected JWS algorithm {header.get('alg')!r}")
        signing_input = jws_signing_input(protected_segment, header, body)
        kid = header.get("kid")
        key, fresh = self._signing_key(kid)
        if key is not None and verify_signature(key, signing_input, signature_bytes):
            return
        if not fresh:
            # Saleor may have rotated its key: a new kid, or (older Saleor) a new key under the
            # same kid. Fetch the set again, once, and try the key it now publishes.
            refetched = self._refetched_key(kid)
            if refetched is not None and verify_signature(
                refetched, signing_input, signature_bytes
            ):
                return
            key = key or refetched
        if key is None:
            raise WebhookSignatureInvalid(f"no key {kid!r} in {self.jwks_url}")
        raise WebhookSignatureInvalid("Saleor-Signature does not match the body")

    def webhook_sent_at(self, body: bytes, headers: Mapping[str, str]) -> datetime:
        issued_at = json_object_body(body).get("issuedAt")
        return webhook_timestamp(issued_at, source='"issuedAt" in the signed payload')

    def parse_events(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        payload = json_object_body(body)
        event_name = (header_value(headers, "Saleor-Event") or "").strip().upper()
        if not event_name:
            event_name = _TYPENAMES.get(str(payload.get("__typename")), "")
        event_type = _EVENT_TYPES.get(event_name)
        if event_type is None:
            return []
        occurred_at = parse_time(payload.get("issuedAt"))
        if event_type is EventType.INVENTORY_CHANGED:
            event = self._stock_event(event_name, payload, occurred_at)
        elif event_type is EventType.CATALOG_CHANGED:
            event = self._catalog_event(event_name, payload, occurred_at)
        else:
            event = order_event(event_name, event_type, payload, occurred_at)
        return [event] if event is not None else []

    def _stock_event(
        self, event_name: str, payload: dict[str, Any], occurred_at: datetime | None
    ) -> InboundEvent | None:
        warehouse = (payload.get("warehouse") or {}).get("id")
        variant = payload.get("productVariant") or {}
        if warehouse != self.warehouse_id or not variant:
            return None  # another warehouse's stock: not the number we mirror
        quantity = _warehouse_quantity(variant.get("stocks"), self.warehouse_id)
        return InboundEvent(
            event_id=delivery_event_id(event_name, f"{variant.get('id')}@{warehouse}", payload),
            type=EventType.INVENTORY_CHANGED,
            occurred_at=occurred_at,
            lines=[
                EventLine(
                    sku=variant.get("sku") or "",
                    quantity=quantity or 0,
                    line_ref=str(variant.get("id") or ""),
                )
            ],
            quantity=quantity,
            payload=payload,
        )

    def _catalog_event(
        self, event_name: str, payload: dict[str, Any], occurred_at: datetime | None
    ) -> InboundEvent | None:
        if event_name == "PRODUCT_UPDATED":
            product = payload.get("product") or {}
            active = self._is_active(product.get("channelListings"))
            catalog = [
                CatalogItem(
                    sku=variant["sku"],
                    title=catalog_title(product.get("name"), variant.get("name")),
                    active=active,
                )
                for variant in product.get("variants") or []
                if variant.get("sku")
            ]
            object_id = product.get("id")
        else:
            variant = payload.get("productVariant") or {}
            catalog = [self._catalog_item(variant)] if variant.get("sku") else []
            object_id = variant.get("id")
        if object_id is None:
            return None
        return InboundEvent(
            event_id=delivery_event_id(event_name, str(object_id), payload),
            type=EventType.CATALOG_CHANGED,
            occurred_at=occurred_at,
            catalog=catalog,
            payload=payload,
        )

    def _signing_key(self, kid: str | None) -> tuple[jwt.PyJWK | None, bool]:
        """The key for ``kid`` from the cached JWKS (fetched when stale), and whether the set
        was fetched just now."""
        with self._jwks_lock:
            now = self._clock()
            fetched_at = self._jwks_fetched_at
            fresh = fetched_at is None or now - fetched_at >= self._jwks_cache_seconds
            if fresh:
                self._refresh_jwks(now)
            return self._find_key(kid), fresh

    def _refetched_key(self, kid: str | None) -> jwt.PyJWK | None:
        """Fetch the JWKS again and return the key for ``kid``; None without fetching when the
        set is moments old (a forged signature must not cost Saleor a request per delivery)."""
        with self._jwks_lock:
            now = self._clock()
            fetched_at = self._jwks_fetched_at
            if fetched_at is not None and now - fetched_at < self._jwks_refetch_min_interval:
                return None
            self._refresh_jwks(now)
            return self._find_key(kid)

    def _find_key(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._jwks.get(kid)
        return next(iter(self._jwks.values())) if len(self._jwks) == 1 else None

    def _refresh_jwks(self, now: float) -> None:
        try:
            response = self._client.get(self.jwks_url, timeout=self._timeout)
        except httpx.TransportError as exc:
            raise StorefrontUnavailable(f"Saleor JWKS unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise StorefrontUnavailable(f"Saleor JWKS answered {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise StorefrontUnavailable("Saleor JWKS is not JSON") from exc
        entries = document.get("keys") if isinstance(document, dict) else None
        keys: dict[str, jwt.PyJWK] = {}
        for entry in entries if isinstance(entries, list) else []:
            if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry, algorithm=SIGNING_ALGORITHM)
            except PyJWKError:
                continue
            keys[str(entry.get("kid", ""))] = key
        self._jwks = keys
        self._jwks_fetched_at = now

    # -- HTTP ------------------------------------------------------------------------------

    def _graphql(self, operation: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one operation; map transport, HTTP and GraphQL failures to our errors."""
        try:
            response = self._client.post(
                self.api_url,
                json={"query": query, "variables": variables, "operationName": operation},
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise StorefrontUnavailable(f"Saleor did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise StorefrontUnavailable(f"Saleor unreachable: {exc}") from exc
        body = json_or_none(response)
        _raise_for_status(response, body)
        if not isinstance(body, dict):
            raise StorefrontUnavailable(f"Saleor answered {response.status_code} without JSON")
        _raise_for_errors(body)
        data = body.get("data")
        if not isinstance(data, dict):
            raise StorefrontValidationError("Saleor answered without data")
        return data


# -- module helpers ------------------------------------------------------------------------


def supported_version(version: str) -> str | None:
    """The supported line (``3.23``) a configured version (``3.23`` or ``3.23.5``) belongs to,
    or None."""
    line = ".".join(str(version).strip().split(".")[:2])
    return line if line in SUPPORTED_VERSIONS else None


def webhook_events() -> list[str]:
    """The ``WebhookEventTypeAsyncEnum`` of every event ``parse_events`` reads."""
    return list(_EVENT_TYPES)


def default_jwks_url(api_url: str) -> str:
    """``{scheme}://{host}/.well-known/jwks.json`` of the API's origin."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/.well-known/jwks.json"


def catalog_title(product_name: str | None, variant_name: str | None) -> str:
    product = (product_name or "").strip()
    variant = (variant_name or "").strip()
    if not variant or variant == product:
        return product
    if not product:
        return variant
    return f"{product} - {variant}"


def _compare(write: LevelWrite, variant: _Variant | None, *, duplicate: bool) -> WriteResult | None:
    """The result a row gets without being written, or None when it should be written."""
    if duplicate:
        return WriteResult(
            sku=write.sku,
            status=WriteStatus.REJECTED,
            message="the SKU appears twice in one batch",
        )
    if variant is None:
        return WriteResult(sku=write.sku, status=WriteStatus.NOT_FOUND, message="unknown SKU")
    if variant.quantity is None:
        return WriteResult(
            sku=write.sku,
            status=WriteStatus.NOT_FOUND,
            message="the variant has no stock in this warehouse",
        )
    if write.expected is not None and variant.quantity != write.expected:
        return WriteResult(
            sku=write.sku,
            status=WriteStatus.STALE,
            actual=variant.quantity,
            message=f"Saleor holds {variant.quantity}, expected {write.expected}",
        )
    return None


def _row_result(write: LevelWrite, outcome: Mapping[str, Any]) -> WriteResult:
    errors = outcome.get("errors") or []
    if not errors:
        return WriteResult(sku=write.sku, status=WriteStatus.APPLIED)
    message = _messages(errors)
    if any(error.get("code") == "NOT_FOUND" for error in errors):
        return WriteResult(sku=write.sku, status=WriteStatus.NOT_FOUND, message=message)
    return WriteResult(sku=write.sku, status=WriteStatus.REJECTED, message=message)


def _raise_for_status(response: httpx.Response, body: Any) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = error_text(body) or response.text[:200]
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise RateLimited(f"Saleor rate limit (429): {detail}", retry_after=wait)
    if status in (401, 403):
        raise AuthenticationFailed(f"Saleor refused the token ({status}): {detail}")
    if status >= 500 or status == 408:
        raise StorefrontUnavailable(f"Saleor answered {status}: {detail}")
    if isinstance(body, dict) and body.get("errors"):
        _raise_for_errors(body)  # Saleor answers 400 to an invalid query, with GraphQL errors
    raise StorefrontValidationError(f"Saleor answered {status}: {detail}")


def _raise_for_errors(body: Mapping[str, Any]) -> None:
    errors = body.get("errors")
    if not errors:
        return
    codes = set()
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            code = ((error.get("extensions") or {}).get("exception") or {}).get("code")
            if code:
                codes.add(str(code))
    message = error_text(body)
    if codes & AUTH_ERROR_CODES:
        raise AuthenticationFailed(f"Saleor denied access: {message}")
    raise StorefrontValidationError(f"Saleor refused the request: {message}")


def _messages(errors: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(
        str(error.get("message") or error.get("code") or "error")
        + (f" ({error['field']})" if error.get("field") else "")
        for error in errors
    )


def _nodes(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection.get("edges") or [] if edge.get("node")]


def _warehouse_quantity(stocks: Any, warehouse_id: str) -> int | None:
    for stock in stocks or []:
        if (stock.get("warehouse") or {}).get("id") == warehouse_id:
            return int(stock.get("quantity") or 0)
    return None
