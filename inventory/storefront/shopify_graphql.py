"""Shopify's Admin GraphQL transport: one POST per operation, errors mapped to ours, and the
query-cost bucket (``extensions.cost.throttleStatus``) that paces the next request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from inventory.storefront.base import (
    AuthenticationFailed,
    MappingError,
    RateLimited,
    StorefrontUnavailable,
    StorefrontValidationError,
)
from inventory.storefront.http import error_text, json_or_none, retry_after_seconds

AUTH_ERROR_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})
TRANSIENT_ERROR_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})
PACING_MARGIN = 0.1  # seconds waited beyond the exact refill: our clock and Shopify's differ


@dataclass(frozen=True)
class ThrottleStatus:
    """Shopify's cost report (``extensions.cost``) from the last response."""

    requested_cost: float | None
    actual_cost: float | None
    maximum_available: float
    currently_available: float
    restore_rate: float


def request_error(errors: Sequence[Mapping[str, Any]]) -> Exception:
    codes = error_codes(errors)
    message = "; ".join(str(error.get("message") or error.get("code")) for error in errors)
    if "INVALID_LOCATION" in codes:
        return MappingError(f"Shopify does not know the location: {message}")
    if "IDEMPOTENCY_CONCURRENT_REQUEST" in codes:
        return StorefrontUnavailable(f"the same mutation is still running: {message}")
    return StorefrontValidationError(f"Shopify refused the mutation: {message}")


def error_codes(errors: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(error.get("code")) for error in errors if error.get("code")}


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


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def legacy_id(gid: str) -> str:
    """``gid://shopify/LineItem/11`` → ``11``: the id the REST-shaped webhooks carry."""
    return str(gid).rsplit("/", 1)[-1]


def gid(kind: str, value: str | int) -> str:
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


class ShopifyGraphQL:
    """The adapter's GraphQL calls; ``ShopifyAdapter.__init__`` sets the endpoint, the token,
    the client and the pacing state these methods use."""

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
        body = json_or_none(response)
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
        detail = error_text(body) or response.text[:200]
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
                f"Shopify throttled the query: {error_text(body)}",
                retry_after=self._throttle_wait(),
            )
        codes = _top_level_codes(errors)
        message = error_text(body)
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
