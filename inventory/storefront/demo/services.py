"""The demo storefront's own actions: what a shopper or a shop clerk does in the storefront.

The demo storefront is a single-number storefront: placing an order decrements its own
number at once, cancelling gives the units back. Each order action reaches OneFact the way
a real storefront's webhook does: an ``InboundEvent`` in the demo's delivery shape, stored
once in the inbox (``inbox_record``) and processed after commit. Event ids are
``<order number>:<action>`` (``D-1001:placed``), so delivering an action twice changes
nothing.

A hand edit of the demo's number (``demo_storefront_drift``) sends no event at all: the next
reconciliation has to find the gap.
"""

from collections import Counter

from django.db import transaction
from django.utils import timezone

from inventory.exceptions import InventoryError
from inventory.models import System
from inventory.selectors import skus_with_stock
from inventory.services.inbound import inbox_record
from inventory.storefront.base import EventLine, EventType, InboundEvent
from inventory.storefront.demo.adapter import demo_events_from_body, demo_webhook_body
from inventory.storefront.demo.models import DemoLevel, DemoOrder

STOREFRONT = "storefront"
MAX_QUANTITY = 1_000_000
FIRST_ORDER_NUMBER = 1001
RETURN_REASON = "customer return"


class DemoStorefrontError(InventoryError):
    """A demo storefront action that cannot happen (wrong state, unknown SKU, too few)."""


# --- writes ------------------------------------------------------------------------------


@transaction.atomic
def demo_storefront_seed() -> int:
    """Give every active SKU without one a demo number equal to the shelf's available.

    Set-based: one query for the shelf's figures, one insert. Idempotent; returns how many
    demo levels were created.
    """
    missing = (
        skus_with_stock()
        .filter(active=True)
        .exclude(code__in=DemoLevel.objects.values("sku_code"))
        .values_list("code", "title", "available")
        .order_by("code")
    )
    new = [
        DemoLevel(sku_code=code, title=title, quantity=max(available, 0))
        for code, title, available in missing
    ]
    DemoLevel.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    return len(new)


@transaction.atomic
def demo_storefront_drift(*, sku_code: str, quantity: int) -> DemoLevel:
    """Someone edits the demo's number by hand: silently, no event; reconciliation finds it."""
    _check_quantity(quantity, minimum=0)
    level = DemoLevel.objects.select_for_update().filter(sku_code=sku_code).first()
    if level is None:
        raise DemoStorefrontError(f"The demo storefront has no SKU {sku_code}.")
    level.quantity = quantity
    level.save(update_fields=["quantity", "updated_at"])
    return level


@transaction.atomic
def demo_order_place(
    *, lines: list[tuple[str, int]], customer_name: str = "", request_key: str = ""
) -> DemoOrder:
    """A shopper orders: the demo's numbers drop at once and ORDER_PLACED reaches OneFact.

    Refused, changing nothing, when the demo's own number of any line is short: a
    storefront doesn't sell what it thinks it lacks, or when the order form's
    ``request_key`` already placed an order (a double click, a resubmitted page).
    """
    wanted = Counter()
    for sku_code, quantity in lines:
        _check_quantity(quantity, minimum=1)
        wanted[sku_code] += quantity
    if not wanted:
        raise DemoStorefrontError("An order needs at least one line.")
    # The storefront row is the demo's order-number lock: numbers are handed out in turn.
    system = System.objects.select_for_update().get(name=STOREFRONT)
    if request_key and (placed := DemoOrder.objects.filter(request_key=request_key).first()):
        raise DemoStorefrontError(
            f"This form already placed order {placed.number}; nothing was ordered twice."
        )
    levels = _locked_levels(list(wanted))
    for sku_code, quantity in wanted.items():
        level = levels.get(sku_code)
        if level is None or not level.active:
            raise DemoStorefrontError(f"The demo storefront does not sell {sku_code}.")
        if level.quantity < quantity:
            raise DemoStorefrontError(
                f"The demo storefront shows {level.quantity} of {sku_code}; "
                f"it cannot sell {quantity}."
            )
    _levels_change(levels=levels, deltas={code: -n for code, n in wanted.items()})
    order = DemoOrder.objects.create(
        number=_next_number(),
        customer_name=customer_name,
        lines=[{"sku": code, "quantity": n} for code, n in wanted.items()],
        request_key=request_key,
    )
    _deliver(system=system, order=order, kind=EventType.ORDER_PLACED, action="placed")
    return order


@transaction.atomic
def demo_order_cancel(*, order: DemoOrder) -> DemoOrder:
    """Cancel a placed order: its units go back to the demo's numbers; ORDER_CANCELLED."""
    order = _locked_order(order=order)
    if order.status == DemoOrder.Status.PLACED:
        deltas = Counter()
        for line in order.lines:
            deltas[line["sku"]] += line["quantity"]
        _levels_change(levels=_locked_levels(list(deltas)), deltas=deltas)
        order.status = DemoOrder.Status.CANCELLED
        order.save(update_fields=["status"])
    elif order.status != DemoOrder.Status.CANCELLED:
        raise DemoStorefrontError(
            f"Order {order.number} is {order.status}; it cannot be cancelled."
        )
    # Cancelling twice: the same event id again, which the inbox skips.
    _deliver(order=order, kind=EventType.ORDER_CANCELLED, action="cancelled")
    return order


@transaction.atomic
def demo_order_fulfil(*, order: DemoOrder) -> DemoOrder:
    """Ship a placed order; the demo's number was already decremented at order time."""
    order = _locked_order(order=order)
    if order.status == DemoOrder.Status.PLACED:
        order.status = DemoOrder.Status.FULFILLED
        order.save(update_fields=["status"])
    elif order.status != DemoOrder.Status.FULFILLED:
        raise DemoStorefrontError(
            f"Order {order.number} is {order.status}; it cannot be fulfilled."
        )
    _deliver(order=order, kind=EventType.ORDER_FULFILLED, action="fulfilled")
    return order


@transaction.atomic
def demo_return_open(
    *, order: DemoOrder, lines: list[tuple[str, int, str]] | None = None
) -> DemoOrder:
    """A customer of a fulfilled order opens a return (R-<order number>); RETURN_OPENED.

    Nothing else changes here: the returns app receives it, and only staff confirming the
    units in a bin puts anything back on the shelf.
    """
    order = _locked_order(order=order)
    if order.status != DemoOrder.Status.FULFILLED:
        raise DemoStorefrontError(
            f"Order {order.number} is {order.status}; only a fulfilled order can be returned."
        )
    ordered = Counter()
    for line in order.lines:
        ordered[line["sku"]] += line["quantity"]
    if lines is None:
        lines = [(code, n, RETURN_REASON) for code, n in ordered.items()]
    returned = Counter()
    for sku_code, quantity, _reason in lines:
        _check_quantity(quantity, minimum=1)
        returned[sku_code] += quantity
        if returned[sku_code] > ordered[sku_code]:
            raise DemoStorefrontError(
                f"Order {order.number} has {ordered[sku_code]} of {sku_code}; "
                f"{returned[sku_code]} cannot be returned."
            )
    if not lines:
        raise DemoStorefrontError("A return needs at least one line.")
    event_lines = [
        EventLine(sku=code, quantity=n, line_ref=str(i), reason=reason or RETURN_REASON)
        for i, (code, n, reason) in enumerate(lines, start=1)
    ]
    _deliver(
        order=order,
        kind=EventType.RETURN_OPENED,
        action="return-opened",
        lines=event_lines,
        return_ref=f"R-{order.number}",
    )
    return order


# --- helpers -----------------------------------------------------------------------------


def _check_quantity(quantity: int, *, minimum: int) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise DemoStorefrontError(f"A quantity is a whole number, not {quantity!r}.")
    if not minimum <= quantity <= MAX_QUANTITY:
        raise DemoStorefrontError(
            f"A quantity must be between {minimum} and {MAX_QUANTITY:,}; got {quantity}."
        )


def _locked_levels(sku_codes: list[str]) -> dict[str, DemoLevel]:
    """The demo levels of these SKUs, row-locked in sku_code order (no deadlocks)."""
    rows = DemoLevel.objects.select_for_update().filter(sku_code__in=sku_codes)
    return {row.sku_code: row for row in rows.order_by("sku_code")}


def _levels_change(*, levels: dict[str, DemoLevel], deltas: dict[str, int]) -> None:
    """Add ``deltas`` to the locked levels (a SKU since removed from the demo is skipped)."""
    now = timezone.now()
    for sku_code, delta in deltas.items():
        if level := levels.get(sku_code):
            level.quantity += delta
            level.updated_at = now
    DemoLevel.objects.bulk_update(
        [levels[c] for c in deltas if c in levels], ["quantity", "updated_at"]
    )


def _locked_order(*, order: DemoOrder) -> DemoOrder:
    return DemoOrder.objects.select_for_update().get(pk=order.pk)


def _next_number() -> str:
    """D-1001, D-1002, …; called under the storefront row's lock."""
    last = DemoOrder.objects.order_by("-id").values_list("number", flat=True).first()
    try:
        return f"D-{int(last.removeprefix('D-')) + 1}" if last else f"D-{FIRST_ORDER_NUMBER}"
    except ValueError:
        return f"D-{FIRST_ORDER_NUMBER + DemoOrder.objects.count()}"


def _deliver(
    *,
    order: DemoOrder,
    kind: EventType,
    action: str,
    system: System | None = None,
    lines: list[EventLine] | None = None,
    return_ref: str = "",
) -> None:
    """Deliver one event about ``order`` to OneFact, in the demo's webhook shape."""
    if lines is None:
        lines = [
            EventLine(sku=line["sku"], quantity=line["quantity"], line_ref=str(i))
            for i, line in enumerate(order.lines, start=1)
        ]
    event = InboundEvent(
        event_id=f"{order.number}:{action}",
        type=kind,
        occurred_at=timezone.now(),
        order_ref=order.number,
        return_ref=return_ref,
        customer_name=order.customer_name,
        lines=lines,
    )
    # Through the delivery format, so the inbox holds exactly what a webhook would bring.
    events = demo_events_from_body(demo_webhook_body(event))
    inbox_record(system=system or System.objects.get(name=STOREFRONT), events=events)
