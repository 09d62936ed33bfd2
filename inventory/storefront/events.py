"""Inbound events to and from the JSON stored in the inbox."""

from datetime import datetime
from typing import Any

from inventory.storefront.base import CatalogItem, EventLine, EventType, InboundEvent


def event_to_json(event: InboundEvent) -> dict[str, Any]:
    return {
        "type": str(event.type),
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "order_ref": event.order_ref,
        "return_ref": event.return_ref,
        "customer_name": event.customer_name,
        "lines": [
            {"sku": x.sku, "quantity": x.quantity, "line_ref": x.line_ref, "reason": x.reason}
            for x in event.lines
        ],
        "quantity": event.quantity,
        "catalog": [{"sku": c.sku, "title": c.title, "active": c.active} for c in event.catalog],
        "raw": event.payload,
    }


def event_from_json(event_id: str, data: dict[str, Any]) -> InboundEvent:
    occurred = data.get("occurred_at")
    return InboundEvent(
        event_id=event_id,
        type=EventType(data["type"]),
        occurred_at=datetime.fromisoformat(occurred) if occurred else None,
        order_ref=data.get("order_ref", ""),
        return_ref=data.get("return_ref", ""),
        customer_name=data.get("customer_name", ""),
        lines=[EventLine(**line) for line in data.get("lines", [])],
        quantity=data.get("quantity"),
        catalog=[CatalogItem(**c) for c in data.get("catalog", [])],
        payload=data.get("raw", {}),
    )
