"""Every write of the shelf and the ownership table.

``on_hand_adjust`` is the one write path for on-hand in the whole project: returns,
replenishment, drift walks, the API and the admin all call it (or ``on_hand_transfer``,
which is two of its legs in one transaction).
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from inventory.exceptions import InsufficientStock, InvalidMovement
from inventory.models import (
    Bin,
    OnHand,
    Sku,
    StockMovement,
    System,
)
from inventory.services.outbox import outbox_record

Kind = StockMovement.Kind

_ONHAND = OnHand._meta.db_table


def _movement_replayed(*, source_system: System, source_event_id: str, leg: int):
    return (
        StockMovement.objects.select_related("bin", "sku")
        .filter(source_system=source_system, source_event_id=source_event_id, leg=leg)
        .first()
    )


def _balance_change(*, bin: Bin, sku: Sku, delta: int) -> int:
    """Change one balance by a conditional update that cannot go below zero.

    Returns the new balance, or raises ``InsufficientStock`` having changed nothing.
    The UPDATE takes the row lock, so concurrent movements on one bin and SKU queue here.
    """
    sql = (
        f"UPDATE {_ONHAND} SET quantity = quantity + %s, updated_at = CURRENT_TIMESTAMP "
        f"WHERE bin_id = %s AND sku_id = %s AND quantity + %s >= 0 RETURNING quantity"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [delta, bin.pk, sku.pk, delta])
        row = cursor.fetchone()
        if row is None and delta > 0:
            # First stock of this SKU in this bin: create the row (racing creators are
            # fine, the unique constraint keeps one) and apply the change to it.
            OnHand.objects.bulk_create([OnHand(bin=bin, sku=sku)], ignore_conflicts=True)
            cursor.execute(sql, [delta, bin.pk, sku.pk, delta])
            row = cursor.fetchone()
    if row is None:
        current = OnHand.objects.filter(bin=bin, sku=sku).values_list("quantity", flat=True)
        raise InsufficientStock(
            bin_code=bin.code, sku_code=sku.code, requested=-delta, on_hand=next(iter(current), 0)
        )
    return row[0]


@transaction.atomic
def _on_hand_adjust(
    *,
    bin: Bin,
    sku: Sku,
    delta: int,
    kind: str,
    source_system: System,
    source_event_id: str,
    leg: int,
    reference: str,
    actor: AbstractBaseUser | None,
    note: str,
    at: datetime | None,
) -> StockMovement:
    if done := _movement_replayed(
        source_system=source_system, source_event_id=source_event_id, leg=leg
    ):
        return done
    balance_after = _balance_change(bin=bin, sku=sku, delta=delta)
    move = StockMovement.objects.create(
        kind=kind,
        bin=bin,
        sku=sku,
        quantity=delta,
        balance_after=balance_after,
        source_system=source_system,
        source_event_id=source_event_id,
        leg=leg,
        reference=reference,
        actor=actor,
        note=note,
        **({"created_at": at} if at is not None else {}),
    )
    outbox_record(sku=sku)
    return move


def _validate_movement(*, bin: Bin, sku: Sku, delta: int, kind: str, source_event_id: str):
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidMovement("A movement moves a whole, non-zero number of units.")
    if kind not in Kind.values:
        raise InvalidMovement(f"Unknown movement kind {kind!r}.")
    if not source_event_id:
        raise InvalidMovement("Every movement names its source's event id.")
    if delta > 0 and not bin.active:
        raise InvalidMovement(f"Bin {bin.code} is inactive; nothing can be put into it.")


def on_hand_adjust(
    *,
    bin: Bin,
    sku: Sku,
    delta: int,
    kind: str,
    source_system: System,
    source_event_id: str,
    leg: int = 0,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    note: str = "",
    at: datetime | None = None,
) -> StockMovement:
    """Apply one movement to one bin's balance of one SKU and append its ledger row.

    In one transaction: the balance changes by a conditional update that never goes below
    zero, and the ledger row records the movement with the balance after it. Too little
    stock raises ``InsufficientStock`` and writes nothing. Replaying the same
    (source system, event id, leg) returns the first movement and changes nothing.

    ``at`` is for loading history in order (demo seeds, imports of past movements): the
    time the movement happened. Live writes leave it out and are stamped now.
    """
    _validate_movement(bin=bin, sku=sku, delta=delta, kind=kind, source_event_id=source_event_id)
    fields = dict(
        bin=bin,
        sku=sku,
        delta=delta,
        kind=kind,
        source_system=source_system,
        source_event_id=source_event_id,
        leg=leg,
        reference=reference,
        actor=actor,
        note=note,
        at=at,
    )
    try:
        return _on_hand_adjust(**fields)
    except IntegrityError:
        # A concurrent replay of the same event committed first: ours rolled back whole.
        if done := _movement_replayed(
            source_system=source_system, source_event_id=source_event_id, leg=leg
        ):
            return done
        raise


on_hand_adjust.alters_data = True


@transaction.atomic
def on_hand_transfer(
    *,
    from_bin: Bin,
    to_bin: Bin,
    sku: Sku,
    quantity: int,
    source_system: System,
    source_event_id: str,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> tuple[StockMovement, StockMovement]:
    """Move units between two bins: two ledger legs in one transaction, or nothing."""
    if from_bin.pk == to_bin.pk:
        raise InvalidMovement("A transfer moves units between two different bins.")
    if not isinstance(quantity, int) or quantity <= 0:
        raise InvalidMovement("A transfer moves a whole, positive number of units.")
    common = dict(
        sku=sku,
        kind=Kind.TRANSFER,
        source_system=source_system,
        source_event_id=source_event_id,
        reference=reference,
        actor=actor,
        note=note,
    )
    out_leg = dict(bin=from_bin, delta=-quantity, leg=0, **common)
    in_leg = dict(bin=to_bin, delta=quantity, leg=1, **common)
    # Lock the two balance rows in bin pk order, so two opposite transfers never deadlock.
    first, second = (out_leg, in_leg) if from_bin.pk < to_bin.pk else (in_leg, out_leg)
    moves = {m["leg"]: on_hand_adjust(**m) for m in (first, second)}
    return moves[0], moves[1]
