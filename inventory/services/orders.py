"""The storefront's orders played out on the shelf, at the configured truth moment.

Truth moment ``ship`` (default): a placed order is a commitment (less *available*, same
on-hand); fulfilment ships the units out of the bins and releases the commitment; a
cancellation releases it. Truth moment ``order``: placing the order ships at once and a
cancellation puts the units back where they came from.

Pick rule: units leave the bins holding the SKU in walk order (lowest first), splitting
across bins when one does not hold enough.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from inventory import hooks, selectors
from inventory.exceptions import InsufficientStock
from inventory.models import (
    Commitment,
    Discrepancy,
    Fact,
    InboxEvent,
    OnHand,
    Sku,
    StockMovement,
    System,
    TruthMoment,
)
from inventory.services.outbox import outbox_record
from inventory.services.stock import on_hand_adjust
from inventory.storefront.base import EventLine, EventType, InboundEvent

Kind = StockMovement.Kind


@dataclass
class LineOutcome:
    sku: str
    quantity: int
    result: str


def _skus(lines: list[EventLine]) -> dict[str, Sku]:
    return {s.code: s for s in Sku.objects.filter(code__in=[x.sku for x in lines])}


def _line_ref(line: EventLine, n: int) -> str:
    return line.line_ref or str(n + 1)


def _pick(*, system: System, sku: Sku, quantity: int, order_ref: str, event_key: str):
    """Ship ``quantity`` out of the bins in walk order; all or nothing (raises short)."""
    with transaction.atomic():
        remaining = quantity
        rows = (
            OnHand.objects.filter(sku=sku, quantity__gt=0, bin__active=True)
            .select_related("bin")
            .order_by("bin__walk_order", "bin__code")
        )
        for leg, row in enumerate(rows):
            take = min(row.quantity, remaining)
            on_hand_adjust(bin=row.bin, sku=sku, delta=-take, kind=Kind.SHIP,
                           source_system=system, source_event_id=event_key, leg=leg,
                           reference=order_ref)  # fmt: skip
            remaining -= take
            if remaining == 0:
                return
        held = selectors.on_hand_total(sku=sku) + (quantity - remaining)
        raise InsufficientStock(bin_code="(all bins)", sku_code=sku.code, requested=quantity,
                                on_hand=held)  # fmt: skip


def _already_shipped(*, system: System, event_key: str) -> bool:
    return StockMovement.objects.filter(source_system=system, source_event_id=event_key).exists()


def _ship_line(*, system: System, sku: Sku, quantity: int, order_ref: str, event_key: str) -> str:
    if _already_shipped(system=system, event_key=event_key):
        return "already shipped"
    try:
        _pick(system=system, sku=sku, quantity=quantity, order_ref=order_ref, event_key=event_key)
    except InsufficientStock as short:
        _short_fulfilment(system=system, sku=sku, quantity=quantity, held=short.on_hand,
                          order_ref=order_ref)  # fmt: skip
        return f"refused: the shelf holds {short.on_hand}"
    return "shipped"


def _short_fulfilment(*, system: System, sku: Sku, quantity: int, held: int, order_ref: str):
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    discrepancy = Discrepancy.objects.create(
        kind=Discrepancy.Kind.SHORT_FULFILMENT,
        fact=Fact.ON_HAND,
        sku=sku,
        owner=owner,
        consumer=system,
        owner_value=held,
        consumer_value=quantity,
        winner=owner,
        reference=order_ref,
        detail=f"{system.name} shipped {quantity}, the shelf holds {held}.",
        count_requested_at=timezone.now(),
    )
    bins = [row.bin for row in selectors.on_hand_for_sku(sku=sku)]
    hooks.request_count(
        hooks.CountRequest(
            sku=sku,
            bins=bins,
            reason=discrepancy.detail,
            discrepancy=discrepancy,
            trigger="short_fulfilment",
        )  # fmt: skip
    )


def _order_closed(*, system: System, order_ref: str) -> bool:
    """Webhooks arrive out of order: was this order already cancelled or fulfilled?"""
    return InboxEvent.objects.filter(
        system=system,
        type__in=[EventType.ORDER_CANCELLED, EventType.ORDER_FULFILLED],
        status=InboxEvent.Status.PROCESSED,
        payload__order_ref=order_ref,
    ).exists()


@transaction.atomic
def order_placed(*, system: System, event: InboundEvent) -> list[LineOutcome]:
    if _order_closed(system=system, order_ref=event.order_ref):
        return [LineOutcome(x.sku, x.quantity, "order already closed") for x in event.lines]
    skus = _skus(event.lines)
    moment = selectors.truth_moment()
    outcomes = []
    for n, line in enumerate(event.lines):
        sku = skus.get(line.sku)
        if sku is None or line.quantity <= 0:
            outcomes.append(LineOutcome(line.sku, line.quantity, "unknown SKU or quantity"))
            continue
        line_ref = _line_ref(line, n)
        if moment == TruthMoment.ORDER:
            key = f"order:{event.order_ref}:{line_ref}:ship"
            result = _ship_line(system=system, sku=sku, quantity=line.quantity,
                                order_ref=event.order_ref, event_key=key)  # fmt: skip
        else:
            _, created = Commitment.objects.get_or_create(
                source_system=system,
                order_ref=event.order_ref,
                line_ref=line_ref,
                defaults={"sku": sku, "quantity": line.quantity},
            )
            if created:
                outbox_record(sku=sku)
            result = "committed" if created else "already committed"
        outcomes.append(LineOutcome(line.sku, line.quantity, result))
    return outcomes


def _release(
    *, system: System, order_ref: str, line_refs: list[str] | None = None
) -> list[Commitment]:
    """Release the order's open commitments (only those lines, when given)."""
    open_lines = Commitment.objects.select_for_update().filter(
        source_system=system, order_ref=order_ref, status=Commitment.Status.OPEN
    )
    if line_refs is not None:
        open_lines = open_lines.filter(line_ref__in=line_refs)
    open_lines = list(open_lines.select_related("sku").order_by("pk"))
    now = timezone.now()
    for commitment in open_lines:
        commitment.status = Commitment.Status.RELEASED
        commitment.released_at = now
        commitment.save(update_fields=["status", "released_at"])
        outbox_record(sku=commitment.sku)
    return open_lines


@transaction.atomic
def order_cancelled(*, system: System, event: InboundEvent) -> list[LineOutcome]:
    if selectors.truth_moment() == TruthMoment.ORDER:
        # Units left on-hand when the order was placed: put each back into its bin.
        shipped = StockMovement.objects.filter(
            source_system=system, source_event_id__startswith=f"order:{event.order_ref}:",
            kind=Kind.SHIP, quantity__lt=0,
        ).select_related("bin", "sku")  # fmt: skip
        outcomes = []
        for move in shipped:
            on_hand_adjust(bin=move.bin, sku=move.sku, delta=-move.quantity, kind=Kind.SHIP,
                           source_system=system, source_event_id=f"cancel:{move.pk}",
                           reference=event.order_ref, note="cancelled before shipping")  # fmt: skip
            outcomes.append(LineOutcome(move.sku.code, -move.quantity, "put back"))
        return outcomes
    released = _release(system=system, order_ref=event.order_ref)
    return [LineOutcome(c.sku.code, c.quantity, "released") for c in released]


@transaction.atomic
def order_fulfilled(*, system: System, event: InboundEvent) -> list[LineOutcome]:
    if selectors.truth_moment() == TruthMoment.ORDER:
        return [LineOutcome(x.sku, x.quantity, "shipped when placed") for x in event.lines]
    skus = _skus(event.lines)
    outcomes = []
    for n, line in enumerate(event.lines):
        sku = skus.get(line.sku)
        if sku is None or line.quantity <= 0:
            outcomes.append(LineOutcome(line.sku, line.quantity, "unknown SKU or quantity"))
            continue
        key = f"order:{event.order_ref}:{_line_ref(line, n)}:ship"
        result = _ship_line(system=system, sku=sku, quantity=line.quantity,
                            order_ref=event.order_ref, event_key=key)  # fmt: skip
        outcomes.append(LineOutcome(line.sku, line.quantity, result))
    refs = [_line_ref(line, n) for n, line in enumerate(event.lines)]
    _release(system=system, order_ref=event.order_ref, line_refs=refs or None)
    return outcomes
