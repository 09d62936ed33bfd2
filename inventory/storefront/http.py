"""Plumbing every storefront adapter shares: headers, Retry-After, JSON bodies, GraphQL pages.

Nothing here knows a vendor: the adapters name themselves where a message needs it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from inventory.storefront.base import StorefrontValidationError


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


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def json_object_body(body: bytes) -> dict[str, Any]:
    """A webhook body as a JSON object, or the error that refuses it."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StorefrontValidationError(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StorefrontValidationError("webhook body is not a JSON object")
    return data


def error_text(body: Any) -> str:
    """The ``errors`` of a GraphQL (or REST) answer as one line; empty when there are none."""
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


def require(container: Mapping[str, Any], key: str, *, vendor: str) -> dict[str, Any]:
    """``container[key]`` when it is an object; otherwise the answer is not one we understand."""
    value = container.get(key)
    if not isinstance(value, dict):
        raise StorefrontValidationError(f"{vendor} answered without {key}")
    return value


def next_cursor(connection: Mapping[str, Any]) -> str | None:
    """The cursor of a GraphQL connection's next page, or None on the last page."""
    page_info = connection.get("pageInfo") or {}
    return page_info.get("endCursor") if page_info.get("hasNextPage") else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` accepted) as an aware datetime; None if absent or malformed."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def person_name(person: Any, *, first: str, last: str) -> str:
    """``first last`` from a customer object whose name fields are called ``first``/``last``."""
    if not isinstance(person, dict):
        return ""
    parts = [person.get(first) or "", person.get(last) or ""]
    return " ".join(part.strip() for part in parts if part and part.strip())
