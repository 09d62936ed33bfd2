"""Reads of the inbox: the events parked as failed, for the managers who retry them."""

from django.db.models import QuerySet

from inventory.models import InboxEvent


def inbox_events_failed() -> QuerySet[InboxEvent]:
    """Parked events, newest first, with their storefront in the same query."""
    return (
        InboxEvent.objects.filter(status=InboxEvent.Status.FAILED)
        .select_related("system")
        .order_by("-id")
    )


def inbox_failed_count() -> int:
    return InboxEvent.objects.filter(status=InboxEvent.Status.FAILED).count()


def inbox_event_summary(event: InboxEvent) -> str:
    """What the event says, in a line: its type, order or return, and lines (from the payload
    stored when it arrived, whatever it holds)."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    parts = [event.type]
    for key, label in (("order_ref", "order"), ("return_ref", "return")):
        if value := payload.get(key):
            parts.append(f"{label} {str(value)[:60]}")
    lines = payload.get("lines") if isinstance(payload.get("lines"), list) else []
    shown = [
        f"{str(line.get('quantity'))[:20]} × {str(line.get('sku'))[:64]}"
        for line in lines[:5]
        if isinstance(line, dict)
    ]
    if shown:
        parts.append(", ".join(shown) + (f" and {len(lines) - 5} more" if len(lines) > 5 else ""))
    if payload.get("quantity") is not None:
        parts.append(f"quantity {str(payload['quantity'])[:20]}")
    return " · ".join(parts)
