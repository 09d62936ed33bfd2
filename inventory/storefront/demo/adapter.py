"""The built-in demo storefront, so the whole sync loop runs with no external service.

It is a storefront, not the shelf: its numbers live in its own table (``DemoLevel``) and its
orders in ``DemoOrder``. Unlike the other adapters it reads and writes the database, because
that table *is* the storefront; it still never touches the shelf's models. It keeps one
number per SKU, decremented at order time, so it mirrors *available* (on-hand minus open
commitments) and refuses a stale compare-and-set like a real storefront would.

Its webhook deliveries are JSON signed with base64(HMAC-SHA256(secret, body)) in
``X-Demo-Hmac-Sha256``; ``demo_webhook_body`` and ``demo_sign`` produce them. Every body
carries ``sent_at``, the time it was issued, inside what is signed: a delivery older than the
webhook age limit, or without the stamp, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from inventory.storefront.base import (
    Capabilities,
    CatalogItem,
    EventLine,
    EventType,
    InboundEvent,
    Level,
    LevelWrite,
    MappingError,
    Mirrors,
    Page,
    ReturnDisposition,
    StorefrontAdapter,
    StorefrontValidationError,
    WebhookSecretMissing,
    WebhookSignatureInvalid,
    WriteResult,
    WriteStatus,
    webhook_secret_usable,
    webhook_timestamp,
)
from inventory.storefront.demo.models import DemoLevel, DemoOrder
from inventory.storefront.http import (
    header_value,
    json_object_body,
)

SIGNATURE_HEADER = "X-Demo-Hmac-Sha256"
SENT_AT_FIELD = "sent_at"  # in the signed body: when the demo issued the delivery
PAGE_SIZE = 1000


class DemoAdapter(StorefrontAdapter):
    """The demo storefront's API, played directly against its own table."""

    capabilities = Capabilities(
        compare_and_set=True, idempotency_keys=False, max_batch=500, mirrors=Mirrors.AVAILABLE
    )
    webhook_secret_required = True

    def __init__(self, *, webhook_secret: str) -> None:
        self._webhook_secret = webhook_secret

    def read_levels(self, skus: Sequence[str] | None, cursor: str | None = None) -> Page[Level]:
        rows = DemoLevel.objects.order_by("sku_code")
        if skus is not None:
            wanted = sorted(set(skus))
            if not wanted:
                return Page(items=[])
            rows = rows.filter(sku_code__in=wanted)
        rows = rows.values_list("sku_code", "quantity")
        items, next_cursor = _page(rows, cursor)
        return Page(
            items=[Level(sku=code, quantity=qty) for code, qty in items], next_cursor=next_cursor
        )

    def read_catalog(self, cursor: str | None = None) -> Page[CatalogItem]:
        rows = DemoLevel.objects.order_by("sku_code").values_list("sku_code", "title", "active")
        items, next_cursor = _page(rows, cursor)
        return Page(
            items=[
                CatalogItem(sku=code, title=title, active=active) for code, title, active in items
            ],
            next_cursor=next_cursor,
        )

    def set_levels(self, writes: Sequence[LevelWrite]) -> list[WriteResult]:
        """Compare-and-set each write against the locked row; one result per write, in order."""
        if len(writes) > self.capabilities.max_batch:
            raise StorefrontValidationError(
                f"{len(writes)} writes in one call; the demo storefront takes at most "
                f"{self.capabilities.max_batch}."
            )
        with transaction.atomic():
            rows = {
                row.sku_code: row
                for row in DemoLevel.objects.select_for_update()
                .filter(sku_code__in={w.sku for w in writes})
                .order_by("sku_code")
            }
            results, changed = [], {}
            for write in writes:
                row = rows.get(write.sku)
                results.append(result := _apply(row, write))
                if result.status is WriteStatus.APPLIED:
                    changed[row.pk] = row
            if changed:
                _save_quantities(list(changed.values()), now=timezone.now())
        return results

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not webhook_secret_usable(self._webhook_secret):
            raise WebhookSecretMissing("no webhook secret is configured for the demo storefront")
        received = header_value(headers, SIGNATURE_HEADER)
        if not received:
            raise WebhookSignatureInvalid(f"missing {SIGNATURE_HEADER}")
        expected = demo_sign(body, self._webhook_secret)
        if not hmac.compare_digest(expected.encode(), received.strip().encode()):
            raise WebhookSignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def webhook_sent_at(self, body: bytes, headers: Mapping[str, str]) -> datetime:
        value = json_object_body(body).get(SENT_AT_FIELD)
        return webhook_timestamp(value, source=f'"{SENT_AT_FIELD}" in the signed body')

    def parse_events(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return demo_events_from_body(body)

    def report_return_dispositions(
        self, *, return_ref: str, order_ref: str, dispositions: list[ReturnDisposition]
    ) -> None:
        """Keep the outcome per returned line on the demo order (its number is ``order_ref``).

        Each (line, disposition) holds the latest total reported, so a repeated report changes
        nothing. The demo's own number is left alone: the shelf's push is what moves it.
        """
        with transaction.atomic():
            order = DemoOrder.objects.select_for_update().filter(number=order_ref).first()
            if order is None:
                raise MappingError(
                    f"the demo storefront has no order {order_ref} (return {return_ref})"
                )
            merged = {
                (str(entry.get("line")), str(entry.get("disposition"))): entry
                for entry in order.return_dispositions or []
                if isinstance(entry, dict)
            }
            for item in dispositions:
                merged[(item.line_ref, str(item.disposition))] = {
                    "return": return_ref,
                    "line": item.line_ref,
                    "sku": item.sku,
                    "disposition": str(item.disposition),
                    "quantity": item.quantity,
                }
            entries = [merged[key] for key in sorted(merged)]
            if entries != order.return_dispositions:
                order.return_dispositions = entries
                order.save(update_fields=["return_dispositions"])


def _save_quantities(rows: list[DemoLevel], *, now: datetime) -> None:
    """Write the rows' new quantities in one ``UPDATE … FROM`` a list of values (a
    ``bulk_update`` builds a CASE per row, the slow part of a full batch)."""
    table = DemoLevel._meta.db_table
    values = ", ".join(["(%s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v(id, quantity) AS (VALUES {values}) "
            f"UPDATE {table} SET quantity = v.quantity, updated_at = %s "
            f"FROM v WHERE {table}.id = v.id",
            [*(x for row in rows for x in (row.pk, row.quantity)), now],
        )


def _page(rows, cursor: str | None) -> tuple[list[tuple], str | None]:
    """One page of rows ordered by sku_code, after ``cursor`` (the last sku_code seen)."""
    if cursor:
        rows = rows.filter(sku_code__gt=cursor)
    items = list(rows[: PAGE_SIZE + 1])
    if len(items) > PAGE_SIZE:
        items = items[:PAGE_SIZE]
        return items, items[-1][0]
    return items, None


def _apply(row: DemoLevel | None, write: LevelWrite) -> WriteResult:
    """Check one write against the locked row and, if it applies, set it in memory."""
    if row is None:
        return WriteResult(write.sku, WriteStatus.NOT_FOUND, message="no such SKU in the demo")
    quantity = write.quantity
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        return WriteResult(
            write.sku,
            WriteStatus.REJECTED,
            message=f"quantity must be a whole number ≥ 0, got {quantity!r}",
        )
    if write.expected is not None and row.quantity != write.expected:
        return WriteResult(
            write.sku,
            WriteStatus.STALE,
            actual=row.quantity,
            message=f"holds {row.quantity}, expected {write.expected}",
        )
    row.quantity = quantity  # saved by the caller in one bulk update
    return WriteResult(write.sku, WriteStatus.APPLIED)


def demo_sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)), as the demo puts in ``X-Demo-Hmac-Sha256``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def demo_webhook_body(event: InboundEvent, *, sent_at: datetime | None = None) -> bytes:
    """The JSON body the demo storefront delivers for ``event``, issued ``sent_at`` (now)."""
    data: dict[str, Any] = {
        SENT_AT_FIELD: (sent_at or timezone.now()).isoformat(),
        "id": event.event_id,
        "type": str(event.type),
        "order": event.order_ref,
        "return": event.return_ref,
        "customer": event.customer_name,
        "lines": [
            {"sku": x.sku, "quantity": x.quantity, "line": x.line_ref, "reason": x.reason}
            for x in event.lines
        ],
        "quantity": event.quantity,
        "catalog": [{"sku": c.sku, "title": c.title, "active": c.active} for c in event.catalog],
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
    }
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def demo_events_from_body(body: bytes) -> list[InboundEvent]:
    """Our events from one demo delivery; an unknown type is an ignored topic (none)."""
    data = json_object_body(body)
    try:
        kind = EventType(data.get("type"))
    except ValueError:
        return []
    if not data.get("id"):
        raise StorefrontValidationError("webhook body has no event id")
    try:
        occurred = data.get("occurred_at")
        return [
            InboundEvent(
                event_id=str(data["id"]),
                type=kind,
                occurred_at=datetime.fromisoformat(occurred) if occurred else None,
                order_ref=data.get("order") or "",
                return_ref=data.get("return") or "",
                customer_name=data.get("customer") or "",
                lines=[
                    EventLine(
                        sku=str(x["sku"]),
                        quantity=int(x["quantity"]),
                        line_ref=str(x.get("line") or ""),
                        reason=x.get("reason") or "",
                    )
                    for x in data.get("lines") or []
                ],
                quantity=None if data.get("quantity") is None else int(data["quantity"]),
                catalog=[
                    CatalogItem(
                        sku=str(c["sku"]),
                        title=c.get("title", ""),
                        active=bool(c.get("active", True)),
                    )
                    for c in data.get("catalog") or []
                ],
                payload=data,
            )
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise StorefrontValidationError(f"malformed demo webhook: {exc!r}") from exc
