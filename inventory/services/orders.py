"""The storefront's orders played out on the shelf, at the configured truth moment.

Truth moment ``ship`` (default): a placed order is a commitment (less *available*, same
on-hand); fulfilment ships the units out of the bins and releases the commitment; a
cancellation releases it. Truth moment ``order``: placing the order ships at once and a
cancellation puts the units back where they came from.

Pick rule: units leave the bins holding the SKU in walk order (lowest first), splitting
across bins when one does not hold enough.

An order the shelf cannot cover is caught when it arrives, not at the next reconciliation:
when a placed order commits (``ship``) or ships (``order``) more than the shelf holds beyond
the SKU's other open commitments, one ``ORDERS_AT_RISK`` discrepancy per order and SKU names
the order, the units short, the bins to count and the storefront's number as OneFact last
knew it, and asks drift walks to count those bins.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from inventory import hooks, selectors
from inventory.exceptions import InsufficientStock
from inventory.models import (
    Bin,
    Commitment,
    Discrepancy,
    Fact,
    InboxEvent,
    OnHand,
    Sku,
    StockMovement,
    SyncState,
    System,
    TruthMoment,
)
from inventory.services.discrepancies import discrepancies_create
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


def _ship_line(
    *,
    system: System,
    sku: Sku,
    quantity: int,
    order_ref: str,
    event_key: str,
    record_short: bool = True,
) -> str:
    """Ship one line; a short pick is refused and, with ``record_short``, recorded as a short
    fulfilment (an order placed at truth moment ``order`` is recorded as at risk instead)."""
    if _already_shipped(system=system, event_key=event_key):
        return "already shipped"
    try:
        _pick(system=system, sku=sku, quantity=quantity, order_ref=order_ref, event_key=event_key)
    except InsufficientStock as short:
        if record_short:
            _short_fulfilment(system=system, sku=sku, quantity=quantity, held=short.on_hand,
                              order_ref=order_ref)  # fmt: skip
        return f"refused: the shelf holds {short.on_hand}"
    return "shipped"


def _short_fulfilment(*, system: System, sku: Sku, quantity: int, held: int, order_ref: str):
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    [discrepancy] = discrepancies_create([Discrepancy(
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
    )])  # fmt: skip
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
            # The shelf as the order found it: what the pick may take (active bins), promised.
            held = _holdings(sku=sku)
            on_hand = sum(quantity for bin, quantity in held if bin.active)
            committed = selectors.committed_total(sku=sku)
            result = _ship_line(system=system, sku=sku, quantity=line.quantity,
                                order_ref=event.order_ref, event_key=key,
                                record_short=False)  # fmt: skip
            if result != "already shipped":
                _order_risk_check(system=system, sku=sku, order_ref=event.order_ref,
                                  wanted=line.quantity, on_hand=on_hand,
                                  others=committed, held=held,
                                  fact=Fact.ON_HAND)  # fmt: skip
        else:
            _, created = Commitment.objects.get_or_create(
                source_system=system,
                order_ref=event.order_ref,
                line_ref=line_ref,
                defaults={"sku": sku, "quantity": line.quantity},
            )
            if created:
                outbox_record(sku=sku)
                now = selectors.availability_for_sku(sku=sku)  # this line's commitment included
                _order_risk_check(system=system, sku=sku, order_ref=event.order_ref,
                                  wanted=line.quantity, on_hand=now.on_hand,
                                  others=now.committed - line.quantity,
                                  fact=Fact.ORDER)  # fmt: skip
            result = "committed" if created else "already committed"
        outcomes.append(LineOutcome(line.sku, line.quantity, result))
    return outcomes


# Open discrepancies that record the storefront's own number for a SKU (a hand edit seen by a
# webhook, a push or a reconciliation): the newest one is what it holds, as far as we know.
STOREFRONT_SAID = [
    Discrepancy.Kind.NON_OWNER_WRITE,
    Discrepancy.Kind.STALE_PUSH,
    Discrepancy.Kind.STOREFRONT_GAP,
]
BINS_NAMED = 5  # a sentence names this many bins, then "and N more"


def _holdings(*, sku: Sku) -> list[tuple[Bin, int]]:
    """Every bin that has held the SKU and what it holds now, in walk order (one query)."""
    return [(row.bin, row.quantity) for row in selectors.on_hand_for_sku(sku=sku)]


def _bin_list(codes: list[str]) -> str:
    shown = ", ".join(codes[:BINS_NAMED])
    more = len(codes) - BINS_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _storefront_number(*, system: System, sku: Sku) -> str:
    """What the storefront held at order time, from OneFact's own evidence, saying which.

    The newest open record of the storefront's number (a hand edit it reported, a push it
    refused as stale, a reconciliation's reading), else what OneFact last told it; never a
    guess. No storefront's order event carries its stock level, so none is read from there.
    """
    said = (
        Discrepancy.objects.open()
        .filter(
            kind__in=STOREFRONT_SAID,
            fact=Fact.ON_HAND,
            sku=sku,
            consumer=system,
            consumer_value__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("consumer_value", "created_at")
        .first()
    )
    if said is not None:
        value, at = said
        return f"the storefront showed {value} after a hand edit at {timezone.localtime(at):%H:%M}"
    told = (
        SyncState.objects.filter(storefront=system, sku=sku, pushed_value__isnull=False)
        .values_list("pushed_value", "pushed_at")
        .first()
    )
    if told is None:
        return "OneFact holds no number from the storefront for it"
    value, at = told
    when = f" at {timezone.localtime(at):%H:%M}" if at else ""
    return f"OneFact last told the storefront {value}{when}"


def _order_risk_check(
    *,
    system: System,
    sku: Sku,
    order_ref: str,
    wanted: int,
    on_hand: int,
    others: int,
    fact: str,
    held: list[tuple[Bin, int]] | None = None,
) -> Discrepancy | None:
    """Record an order the shelf cannot cover, once per order and SKU, and ask for a count;
    only for a SKU whose shelf number is known (counted since go-live).

    ``on_hand`` and ``others`` (the SKU's other open commitments) are the shelf as the order
    found it; ``held`` the bins then, when the order already moved stock (else read now).
    ``fact``: at truth moment ``ship`` the order is a promise (``order``) the shelf cannot
    keep, and the periodic ``orders_at_risk_check`` resolves it once the shelf covers the open
    orders; at ``order`` it is the on-hand change the shelf could not make (``on_hand``), and
    only the count it asks for resolves it.
    """
    covered = max(on_hand - others, 0)
    short = wanted - covered
    if short <= 0:
        return None
    if not selectors.sku_is_known(sku=sku):
        # The shelf has not counted it yet: its number is a gap, not a shortage, and a
        # manager told "3 short: contact the customer" might cancel a good order. The
        # opening stock-take (not yet counted) is what asks for its count.
        return None
    recorded = Discrepancy.objects.filter(
        kind=Discrepancy.Kind.ORDERS_AT_RISK, sku=sku, consumer=system, reference=order_ref
    )
    if recorded.exists():  # a repeated event of the same order: already caught
        return None
    held = _holdings(sku=sku) if held is None else held
    holding = [bin.code for bin, quantity in held if quantity > 0]
    shelf = f"the shelf holds {on_hand}"
    if len(holding) == 1:
        shelf += f" in {holding[0]}"
    elif holding:
        shelf += " in " + _bin_list([f"{bin.code} ({q})" for bin, q in held if q > 0])
    if others:
        shelf += f", {min(others, on_hand)} of them promised to other open orders"
    to_count = [bin for bin, quantity in held if quantity > 0] or [bin for bin, _ in held]
    ask = (
        f"count {_bin_list([bin.code for bin in to_count])}"
        if to_count
        else "no bin has held it: find it"
    )
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    [discrepancy] = discrepancies_create([Discrepancy(
        kind=Discrepancy.Kind.ORDERS_AT_RISK,
        fact=fact,
        sku=sku,
        owner=owner,
        consumer=system,
        owner_value=covered,
        consumer_value=wanted,
        winner=owner,
        reference=order_ref,
        detail=(
            f"order {order_ref} wants {wanted} of {sku.code}; {shelf}; "
            f"{_storefront_number(system=system, sku=sku)}; "
            f"{short} short: {ask} or contact the customer"
        )[:500],
        count_requested_at=timezone.now(),
    )])  # fmt: skip
    hooks.request_count(
        hooks.CountRequest(
            sku=sku,
            bins=to_count,
            reason=discrepancy.detail,
            discrepancy=discrepancy,
            trigger="orders_at_risk",
        )
    )
    return discrepancy


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
