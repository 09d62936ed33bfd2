"""Inbound events: stored once in the inbox, then processed once, in a Celery task."""

import logging
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory import dispatch, hooks, selectors
from inventory.exceptions import NotOwner
from inventory.models import Commitment, Discrepancy, Fact, InboxEvent, Sku, SyncState, System
from inventory.services import orders
from inventory.services.discrepancies import discrepancies_create
from inventory.services.outbox import outbox_record
from inventory.services.ownership import authority_enforce
from inventory.storefront.base import (
    CatalogItem,
    EventFieldInvalid,
    EventType,
    InboundEvent,
    Mirrors,
    StorefrontAdapter,
    StorefrontError,
    WebhookSecretMissing,
    WebhookTimestampInvalid,
    webhook_check_age,
)
from inventory.storefront.events import event_from_json, event_to_json

log = logging.getLogger(__name__)

# Storefronts whose missing webhook secret this process has logged (once each, not per delivery).
_secret_missing_logged: set[str] = set()


def webhook_verify(
    *, system: System, adapter: StorefrontAdapter, body: bytes, headers: Mapping[str, str]
) -> None:
    """Accept a delivery only if the storefront signed it and issued it recently.

    The signature is checked first, on the raw body; then the time the storefront stamped on
    the delivery must be within the age limit (``ONEFACT_WEBHOOK_MAX_AGE_SECONDS``, else the
    storefront's own redelivery window) and not ahead of our clock by more than the skew.
    Raises ``WebhookSignatureInvalid`` (``WebhookTimestampInvalid`` for the time,
    ``WebhookSecretMissing`` when no secret is configured, logged once per storefront); reads
    and writes nothing. Replays within the window are caught by the inbox's unique event id.
    """
    try:
        adapter.verify_webhook(body, headers)
    except WebhookSecretMissing as missing:
        if system.name not in _secret_missing_logged:
            from inventory.storefront import secret_env_name

            _secret_missing_logged.add(system.name)
            log.error(
                "Storefront %s has no webhook secret: every delivery is refused (%s). Set %s "
                "or enter it on the connect page.",
                system, missing, secret_env_name(system, "WEBHOOK_SECRET"),
            )  # fmt: skip
        raise
    max_age = settings.ONEFACT_WEBHOOK_MAX_AGE_SECONDS
    try:
        webhook_check_age(
            adapter.webhook_sent_at(body, headers),
            now=timezone.now(),
            max_age=adapter.webhook_max_age if max_age is None else max_age,
            max_ahead=settings.ONEFACT_WEBHOOK_CLOCK_SKEW_SECONDS,
        )
    except WebhookTimestampInvalid as refused:
        log.warning("Refused a webhook delivery from %s (%s): %s", system, refused.code, refused)
        raise


# What an event's fields land in: a longer value, or a number out of range, would fail in the
# worker (``value too long``, ``integer out of range``) after it was stored. Return references,
# customer names and line reasons land in ``returns``' columns (100, 100 and 255 characters).
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1  # PostgreSQL ``integer``
EVENT_TEXT_LIMITS = {
    "event_id": InboxEvent._meta.get_field("event_id").max_length,
    "order_ref": Commitment._meta.get_field("order_ref").max_length,
    "return_ref": 100,
    "customer_name": 100,
}
LINE_TEXT_LIMITS = {
    "sku": Sku._meta.get_field("code").max_length,
    "line_ref": Commitment._meta.get_field("line_ref").max_length,
    "reason": 255,
}
CATALOG_TEXT_LIMITS = {"sku": Sku._meta.get_field("code").max_length, "title": None}
# NUL (which PostgreSQL text and jsonb cannot hold) and every other control character but tab,
# line feed and carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def inbound_event_check(*, event: InboundEvent) -> None:
    """Refuse an event any of whose values its column cannot hold, before anything is stored.

    Text: within its column's length, no control character; quantities: whole numbers within
    PostgreSQL's ``integer`` (a line's never negative); the raw payload kept for audit: no NUL
    and no non-finite number (``1e400``), which ``jsonb`` refuses. Raises ``EventFieldInvalid``
    naming the first offending field.
    """
    for name, limit in EVENT_TEXT_LIMITS.items():
        _check_text(getattr(event, name), field=name, limit=limit)
    if event.quantity is not None:
        _check_integer(event.quantity, field="quantity", minimum=INTEGER_MIN)
    for i, line in enumerate(event.lines):
        for name, limit in LINE_TEXT_LIMITS.items():
            _check_text(getattr(line, name), field=f"lines[{i}].{name}", limit=limit)
        _check_integer(line.quantity, field=f"lines[{i}].quantity", minimum=0)
    for i, item in enumerate(event.catalog):
        for name, limit in CATALOG_TEXT_LIMITS.items():
            _check_text(getattr(item, name), field=f"catalog[{i}].{name}", limit=limit)
    _check_payload(event.payload)


def _check_text(value: Any, *, field: str, limit: int | None) -> None:
    if not isinstance(value, str):
        raise EventFieldInvalid(f"expected text, got {type(value).__name__}", field=field)
    if limit is not None and len(value) > limit:
        raise EventFieldInvalid(f"{len(value)} characters, at most {limit}", field=field)
    if found := CONTROL_CHARACTERS.search(value):
        raise EventFieldInvalid(
            f"contains the control character U+{ord(found.group()):04X}", field=field
        )


def _check_integer(value: Any, *, field: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EventFieldInvalid(f"expected a whole number, got {type(value).__name__}", field=field)
    if not minimum <= value <= INTEGER_MAX:
        raise EventFieldInvalid(
            f"{str(value)[:20]} is outside {minimum}…{INTEGER_MAX}", field=field
        )


def _check_payload(payload: Any) -> None:
    """Walk the raw JSON without recursion (a deep document must not exhaust the stack)."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and "\x00" in value:
            raise EventFieldInvalid("contains the NUL character", field="payload")
        elif isinstance(value, float) and not math.isfinite(value):
            raise EventFieldInvalid(f"holds the number {value}", field="payload")


@transaction.atomic
def inbox_record(*, system: System, events: list[InboundEvent]) -> list[InboxEvent]:
    """Store events not seen before (unique system + event id) and schedule their processing.

    Returns the newly stored rows; a replayed event id is skipped and changes nothing. An
    event a column could not hold refuses the whole delivery (``EventFieldInvalid``) before
    anything is stored.
    """
    if not events:
        return []
    for event in events:
        inbound_event_check(event=event)
    ids = [e.event_id for e in events]
    seen = set(
        InboxEvent.objects.filter(system=system, event_id__in=ids).values_list(
            "event_id", flat=True
        )
    )
    fresh = [
        InboxEvent(system=system, event_id=e.event_id, type=str(e.type), payload=event_to_json(e))
        for e in {e.event_id: e for e in events if e.event_id not in seen}.values()
    ]
    InboxEvent.objects.bulk_create(fresh, ignore_conflicts=True)
    stored = list(
        InboxEvent.objects.filter(
            system=system, event_id__in=[f.event_id for f in fresh], processed_at__isnull=True
        ).order_by("id")
    )
    if stored:
        pks = [row.pk for row in stored]
        transaction.on_commit(lambda: _enqueue(pks), robust=True)
    return stored


def _enqueue(pks: list[int]) -> None:
    """Hand the events to a worker; if the broker is down the sweep picks them up later."""
    try:
        dispatch.enqueue("inventory.tasks.process_inbox_task", pks)
    except Exception:  # noqa: BLE001 - the inbox row is safe in the database
        log.warning("Could not enqueue inbox processing for %s; the sweep will.", pks)


# Which fact each inbound event writes; the ownership table says who may write it.
EVENT_FACT = {
    EventType.ORDER_PLACED: Fact.ORDER,
    EventType.ORDER_CANCELLED: Fact.ORDER,
    EventType.ORDER_FULFILLED: Fact.ORDER,
    EventType.RETURN_OPENED: Fact.ORDER,
    EventType.REFUND_ISSUED: Fact.REFUND,
    EventType.CATALOG_CHANGED: Fact.CATALOG,
    EventType.INVENTORY_CHANGED: Fact.ON_HAND,
}
# A refund line with one of these restock types claims the unit is sellable again: that is
# the shelf's fact (restock), so the claim is refused and recorded, never applied.
RESTOCK_CLAIMS = {"return", "cancel", "legacy_restock", "restock"}


def inbox_process(*, pk: int) -> InboxEvent | None:
    """Process one stored event exactly once (row lock + status), whatever the retries.

    Processing may need to read the storefront (a return whose webhook lists no lines). When the
    storefront refuses the read, the event fails with the reason. When anything else goes wrong
    (the storefront cannot answer now, a value the database refuses, a bug), what the event did
    is rolled back and it stays pending with the error, due again after a backoff; after
    ``ONEFACT_INBOX_MAX_ATTEMPTS`` it is parked as failed for a manager to retry. One event
    never stops the next: this raises only when the database itself cannot be written.
    """
    with transaction.atomic():
        row = (
            InboxEvent.objects.select_for_update()
            .select_related("system")
            .filter(pk=pk, status=InboxEvent.Status.PENDING)
            .first()
        )
        if row is None:
            return None
        try:
            with transaction.atomic():
                event = event_from_json(row.event_id, row.payload)
                status, result = _dispatch(system=row.system, event=event)
        except Exception as error:  # noqa: BLE001 - one event must never stall the inbox
            if not isinstance(error, StorefrontError) or error.retryable:
                return _inbox_attempt_failed(row=row, error=error)
            status, result = InboxEvent.Status.FAILED, f"{type(error).__name__}: {error}"
            row.last_error = result
        row.status = status
        row.result = result[:500]
        row.processed_at = timezone.now()
        row.next_attempt_at = None
        row.save(
            update_fields=["status", "result", "processed_at", "next_attempt_at", "last_error"]
        )
    return row


# The wait before the sweep tries a failed event again: doubling from 30 s, capped at an hour
# (with the default 8 attempts an event is parked about two hours after it first failed).
INBOX_BACKOFF_FIRST_SECONDS = 30
INBOX_BACKOFF_MAX_SECONDS = 3600


def inbox_backoff(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure an event waits for the next try."""
    return timedelta(
        seconds=min(INBOX_BACKOFF_MAX_SECONDS, INBOX_BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1))
    )


def _inbox_attempt_failed(*, row: InboxEvent, error: Exception) -> InboxEvent:
    """Count the attempt; wait for the next one, or park the event once they are used up."""
    reason = f"{type(error).__name__}: {error}"
    now = timezone.now()
    row.attempts += 1
    row.last_error = reason[:5000]
    if row.attempts >= settings.ONEFACT_INBOX_MAX_ATTEMPTS:
        log.error("Inbox event %s parked after %s attempts: %s", row.pk, row.attempts, reason)
        row.status = InboxEvent.Status.FAILED
        row.result = f"parked after {row.attempts} attempts: {reason}"[:500]
        row.processed_at, row.next_attempt_at = now, None
    else:
        log.warning("Inbox event %s (attempt %s) waits: %s", row.pk, row.attempts, reason)
        row.result = f"waiting to retry: {reason}"[:500]
        row.next_attempt_at = now + inbox_backoff(row.attempts)
    row.save(
        update_fields=["status", "result", "processed_at", "attempts", "next_attempt_at",
                       "last_error"]
    )  # fmt: skip
    return row


def inbox_retry(*, pk: int) -> InboxEvent | None:
    """A manager's Retry of a parked (failed) event: pending again with fresh attempts, then
    processed now. None when the event is not parked (already retried, or never failed)."""
    reset = InboxEvent.objects.filter(pk=pk, status=InboxEvent.Status.FAILED).update(
        status=InboxEvent.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        processed_at=None,
        result="retried by a manager",
    )
    if not reset:
        return None
    return inbox_process(pk=pk)


def _dispatch(*, system: System, event: InboundEvent) -> tuple[str, str]:
    fact = EVENT_FACT[event.type]
    try:
        authority_enforce(fact=fact, system=system, payload=event_to_json(event))
    except NotOwner as refused:
        if event.type == EventType.INVENTORY_CHANGED:
            _non_owner_on_hand(system=system, event=event)
        return InboxEvent.Status.REFUSED, str(refused)
    if event.type == EventType.REFUND_ISSUED:
        _refused_restock_claims(system=system, event=event)
    handler = {
        EventType.ORDER_PLACED: orders.order_placed,
        EventType.ORDER_CANCELLED: orders.order_cancelled,
        EventType.ORDER_FULFILLED: orders.order_fulfilled,
    }.get(event.type)
    if handler is not None:
        outcomes = handler(system=system, event=event)
        return InboxEvent.Status.PROCESSED, "; ".join(
            f"{o.sku} ×{o.quantity}: {o.result}" for o in outcomes
        )
    if event.type == EventType.CATALOG_CHANGED:
        changed = catalog_apply(items=event.catalog, complete=False)
        return InboxEvent.Status.PROCESSED, f"{changed} SKU(s) created or changed"
    subscribers = hooks.event_handlers(str(event.type))
    if not subscribers:
        return InboxEvent.Status.IGNORED, f"no subscriber for {event.type}"
    return InboxEvent.Status.PROCESSED, "; ".join(
        h(system=system, event=event) for h in subscribers
    )


def _storefront_value(*, system: System, sku: Sku) -> int:
    """The number the shelf would send this storefront for the SKU now."""
    from inventory.storefront import adapter_for

    availability = selectors.availability_for_sku(sku=sku)
    try:
        mirrors = adapter_for(system).capabilities.mirrors
    except ValueError:
        mirrors = Mirrors.ON_HAND
    value = availability.available if mirrors == Mirrors.AVAILABLE else availability.on_hand
    return max(value, 0)


def _non_owner_on_hand(*, system: System, event: InboundEvent) -> None:
    """The storefront claims its own number: record it and let the next push correct it."""
    codes = [line.sku for line in event.lines if line.sku] or _resolve_codes(system, event)
    sku = Sku.objects.filter(code__in=codes).first()
    if sku is None or event.quantity is None:
        return
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    shelf_value = _storefront_value(system=system, sku=sku)
    discrepancies_create([Discrepancy(
        kind=Discrepancy.Kind.NON_OWNER_WRITE,
        fact=Fact.ON_HAND,
        sku=sku,
        owner=owner,
        consumer=system,
        owner_value=shelf_value,
        consumer_value=event.quantity,
        winner=owner,
        reference=event.event_id,
        detail=(
            f"{system.name} says {event.quantity}, shelf says {shelf_value}; "
            f"{owner.name if owner else 'nobody'} owns on-hand and wins."
        ),
    )])  # fmt: skip
    # What the storefront holds now is known: compare against it when correcting.
    SyncState.objects.update_or_create(
        storefront=system, sku=sku, defaults={"pushed_value": event.quantity}
    )
    outbox_record(sku=sku)


def _resolve_codes(system: System, event: InboundEvent) -> list[str]:
    """Storefronts that name an inventory item, not a SKU (Shopify): ask the adapter."""
    from inventory.storefront import adapter_for

    resolve = getattr(adapter_for(system), "resolve_inventory_item_sku", None)
    if resolve is None:
        return []
    return [code for line in event.lines if line.line_ref and (code := resolve(line.line_ref))]


def _refused_restock_claims(*, system: System, event: InboundEvent) -> None:
    claims = [line for line in event.lines if line.reason in RESTOCK_CLAIMS]
    if not claims:
        return
    try:
        authority_enforce(fact=Fact.RESTOCK, system=system, payload=event_to_json(event))
    except NotOwner:
        owner = selectors.owner_of(fact=Fact.RESTOCK)
        skus = {s.code: s for s in Sku.objects.filter(code__in=[c.sku for c in claims])}
        discrepancies_create(
            [
                Discrepancy(
                    kind=Discrepancy.Kind.NON_OWNER_WRITE,
                    fact=Fact.RESTOCK,
                    sku=skus.get(c.sku),
                    owner=owner,
                    consumer=system,
                    consumer_value=c.quantity,
                    winner=owner,
                    reference=event.order_ref,
                    detail=(
                        f"{system.name} refunded with restock of {c.quantity} × {c.sku}; "
                        "the shelf restocks only what staff confirm arrived sellable."
                    ),
                )
                for c in claims
            ]
        )


@transaction.atomic
def catalog_apply(*, items: list[CatalogItem], complete: bool) -> int:
    """Mirror the storefront's catalog: new SKUs, renamed, (de)activated.

    With ``complete`` (a full pull), SKUs the storefront no longer lists are deactivated.
    Never pushes the catalog anywhere: the storefront owns it.
    """
    by_code = {item.sku: item for item in items if item.sku}
    existing = {s.code: s for s in Sku.objects.filter(code__in=list(by_code))}
    new = [
        Sku(code=code, title=item.title[:255], active=item.active)
        for code, item in by_code.items()
        if code not in existing
    ]
    changed = [
        s
        for code, s in existing.items()
        if (s.title, s.active) != (by_code[code].title[:255], by_code[code].active)
    ]
    for s in changed:
        s.title, s.active = by_code[s.code].title[:255], by_code[s.code].active
    Sku.objects.bulk_create(new, ignore_conflicts=True)
    Sku.objects.bulk_update(changed, ["title", "active"])
    gone = 0
    if complete:
        gone = Sku.objects.filter(active=True).exclude(code__in=list(by_code)).update(active=False)
    return len(new) + len(changed) + gone


def catalog_pull(*, storefront: System) -> int:
    """Page through the storefront's catalog and mirror it (a full pull)."""
    from inventory.storefront import adapter_for

    authority_enforce(fact=Fact.CATALOG, system=storefront, payload={"pull": storefront.name})
    adapter = adapter_for(storefront)
    items: list[CatalogItem] = []
    cursor = None
    while True:
        page = adapter.read_catalog(cursor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    return catalog_apply(items=items, complete=True)
