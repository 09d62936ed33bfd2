"""Returns arrive."""

import operator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import reduce

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as shelf_selectors
from inventory.models import Fact, InboxEvent, Sku, System
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    EventLine,
    InboundEvent,
)
from returns.exceptions import (
    ReturnsError,
)
from returns.models import (
    ReturnAuthorisation,
    ReturnLine,
)
from returns.services.common import MAX_QUANTITY
from returns.services.refunds import _refund_status_update


@dataclass
class OrderedLines:
    """What the storefront's ORDER_PLACED events said of one order."""

    skus: dict[str, str] = field(default_factory=dict)  # line_ref → SKU
    customer_name: str = ""


@dataclass(frozen=True)
class ExpectedLine:
    line_ref: str
    sku_code: str
    quantity: int
    reason: str = ""


@transaction.atomic
def return_open_from_event(*, system: System, event: InboundEvent) -> str:
    """RETURN_OPENED from a storefront (runs inside the inbox's processing transaction).

    Deduplicated on the storefront's return reference: Shopify's returns/request and
    returns/approve both announce the same return. An event that lists no lines (Shopify's
    documented payloads carry only a count) takes them from the storefront's API; a storefront
    error there propagates, so the inbox tries the event again instead of recording an empty
    return. Lines without a SKU (Shopify's webhooks name the order line only) take it from the
    order's ORDER_PLACED event, and so does a return that names no customer (Shopify documents
    none on its return topics). Changes nothing on-hand.
    """
    ref = (event.return_ref or "").strip()[:100]
    if not ref:
        return f"return event {event.event_id} names no return; nothing recorded"
    if not event.lines:
        known = ReturnAuthorisation.objects.filter(storefront=system, return_ref=ref).first()
        if known is not None:
            return f"return {known.number} already recorded; nothing changed"
        event = replace(event, lines=_storefront_return_lines(system=system, return_ref=ref))
    ordered = OrderedLines()
    if event.lines and (not event.customer_name or any(not x.sku for x in event.lines)):
        ordered = _order_placed(system=system, order_ref=event.order_ref)
    lines = _event_lines(event=event, ordered=ordered)
    if not lines:
        return f"return {ref} names no returned units; nothing recorded"
    occurred = event.occurred_at
    if occurred is not None and timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred, UTC)
    rma, created = _return_create(
        storefront=system,
        return_ref=ref,
        order_ref=(event.order_ref or "")[:100],
        customer_name=(event.customer_name or ordered.customer_name)[:100],
        origin=ReturnAuthorisation.Origin.STOREFRONT,
        lines=lines,
        source_event_id=event.event_id[:200],
        created_at=min(occurred, timezone.now()) if occurred else None,
    )
    if not created:
        return f"return {rma.number} already recorded; nothing changed"
    units = sum(line.quantity for line in lines)
    unknown = [line.line_ref for line in lines if not line.sku_code]
    note = f"; {len(unknown)} line(s) without a SKU" if unknown else ""
    return f"return {rma.number} recorded: {units} unit(s) expected on {len(lines)} line(s){note}"


def _storefront_return_lines(*, system: System, return_ref: str) -> list[EventLine]:
    """The return's lines as the storefront's API lists them (none from a storefront whose
    return events carry their lines, or a system without an adapter)."""
    try:
        adapter = adapter_for(system)
    except ValueError:
        return []
    try:
        return adapter.read_return_lines(return_ref)
    finally:
        if close := getattr(adapter, "close", None):
            close()  # an HTTP client the adapter opened for this read


def _event_lines(*, event: InboundEvent, ordered: OrderedLines) -> list[ExpectedLine]:
    """The event's lines, merged per line reference, SKUs resolved from the order if needed."""
    merged: dict[str, ExpectedLine] = {}
    for n, line in enumerate(event.lines, start=1):
        if line.quantity <= 0:
            continue
        ref = (line.line_ref or str(n))[:100]
        code = (line.sku or ordered.skus.get(ref, ""))[:64]
        if known := merged.get(ref):
            merged[ref] = ExpectedLine(
                ref, known.sku_code, known.quantity + line.quantity, known.reason
            )
        else:
            merged[ref] = ExpectedLine(ref, code, line.quantity, (line.reason or "")[:255])
    return list(merged.values())


def _order_placed(*, system: System, order_ref: str) -> OrderedLines:
    """The order's line SKUs and customer from the storefront's ORDER_PLACED events."""
    found = OrderedLines()
    if not order_ref:
        return found
    payloads = InboxEvent.objects.filter(
        system=system, type="order_placed", payload__order_ref=order_ref
    ).values_list("payload", flat=True)
    for payload in payloads:
        found.customer_name = found.customer_name or (payload or {}).get("customer_name") or ""
        for line in (payload or {}).get("lines") or []:
            if line.get("sku") and line.get("line_ref"):
                found.skus.setdefault(str(line["line_ref"]), str(line["sku"]))
    return found


@transaction.atomic
def _return_create(
    *,
    storefront: System | None,
    return_ref: str,
    order_ref: str,
    customer_name: str,
    origin: str,
    lines: list[ExpectedLine],
    source_event_id: str = "",
    creation_key: str = "",
    actor: AbstractBaseUser | None = None,
    created_at: datetime | None = None,
) -> tuple[ReturnAuthorisation, bool]:
    if storefront is not None and (
        known := ReturnAuthorisation.objects.filter(
            storefront=storefront, return_ref=return_ref
        ).first()
    ):
        return known, False
    number = return_ref
    if ReturnAuthorisation.objects.filter(number=number).exists() and storefront is not None:
        number = f"{storefront.name}:{return_ref}"[:100]
    skus = {s.code.upper(): s for s in Sku.objects.filter(code__in=[x.sku_code for x in lines])}
    try:
        with transaction.atomic():
            rma = ReturnAuthorisation.objects.create(
                number=number,
                storefront=storefront,
                return_ref=return_ref,
                order_ref=order_ref,
                customer_name=customer_name,
                origin=origin,
                source_event_id=source_event_id,
                creation_key=creation_key,
                created_by=actor,
                **({"created_at": created_at} if created_at else {}),
            )
            ReturnLine.objects.bulk_create(
                [
                    ReturnLine(
                        rma=rma,
                        line_ref=line.line_ref,
                        sku=skus.get(line.sku_code.upper()),
                        sku_code=line.sku_code,
                        reason=line.reason,
                        expected=line.quantity,
                    )
                    for line in lines
                ]
            )
    except IntegrityError:
        # The same return recorded concurrently (request and approve processed at once).
        known = ReturnAuthorisation.objects.filter(
            Q(storefront=storefront, return_ref=return_ref)
            | (Q(creation_key=creation_key) & ~Q(creation_key=""))
        ).first()
        if known is None:
            raise
        return known, False
    _refund_status_update(rma=rma)
    return rma, True


@transaction.atomic
def return_create_by_hand(
    *,
    order_ref: str,
    customer_name: str,
    lines: list[tuple[str, int, str]],
    creation_key: str,
    actor: AbstractBaseUser | None,
) -> ReturnAuthorisation:
    """A manager takes a return by phone: the order, the customer, the lines expected.

    The return's storefront is the owner of orders (it decides the refund and is told the
    outcome). Submitting the same form twice (same ``creation_key``) creates one return.
    """
    order_ref = (order_ref or "").strip()
    if not order_ref:
        raise ReturnsError(_("Name the order the units were bought on."), field="order_ref")
    if not creation_key:
        raise ReturnsError(_("This form is out of date: reload the page."), field="order_ref")
    if known := ReturnAuthorisation.objects.filter(creation_key=creation_key).first():
        return known
    wanted: dict[str, ExpectedLine] = {}
    for code, quantity, reason in lines:
        code = (code or "").strip()
        if not code:
            continue
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise ReturnsError(
                _("%(code)s: a quantity is a whole number from 1 to %(max)s.")
                % {"code": code, "max": MAX_QUANTITY},
                field="lines",
            )
        key = code.upper()
        if key in wanted:
            known_line = wanted[key]
            wanted[key] = ExpectedLine(
                known_line.line_ref, known_line.sku_code, known_line.quantity + quantity, reason
            )
        else:
            wanted[key] = ExpectedLine(str(len(wanted) + 1), code, quantity, (reason or "")[:255])
    if not wanted:
        raise ReturnsError(
            _("A return needs at least one line: a SKU and a quantity."), field="lines"
        )
    matches = Sku.objects.filter(reduce(operator.or_, [Q(code__iexact=x) for x in wanted]))
    known_skus = {sku.code.upper(): sku.code for sku in matches}
    unknown = [line.sku_code for key, line in wanted.items() if key not in known_skus]
    if unknown:
        raise ReturnsError(
            _("Not in the catalog: %(codes)s.") % {"codes": ", ".join(unknown)}, field="lines"
        )
    expected = [
        ExpectedLine(x.line_ref, known_skus[key], x.quantity, x.reason) for key, x in wanted.items()
    ]
    owner = shelf_selectors.owner_of(fact=Fact.ORDER)
    storefront = owner if owner and owner.kind == System.Kind.STOREFRONT else None
    rma, created = _return_create(
        storefront=storefront,
        return_ref=creation_key[:100],
        order_ref=order_ref[:100],
        customer_name=(customer_name or "").strip()[:100],
        origin=ReturnAuthorisation.Origin.PHONE,
        lines=expected,
        creation_key=creation_key,
        actor=actor,
    )
    if created:
        # A short number staff can type: PH-<id>; it is also what the storefront is told.
        number = f"PH-{rma.pk}"
        if ReturnAuthorisation.objects.filter(number=number).exists():
            number = f"PH-{rma.pk}-{creation_key[:6]}"  # a storefront's return took it
        rma.number = rma.return_ref = number
        rma.save(update_fields=["number", "return_ref"])
    return rma


return_create_by_hand.alters_data = True
