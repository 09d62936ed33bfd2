"""Every write of the shelf and the ownership table.

``on_hand_adjust`` is the one write path for on-hand in the whole project: returns,
replenishment, drift walks, the API and the admin all call it (or ``on_hand_transfer``,
which is two of its legs in one transaction).
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from inventory.exceptions import InsufficientStock, InvalidMovement, NotOwner
from inventory.models import (
    AuthorityConflict,
    Bin,
    Fact,
    OnHand,
    Ownership,
    OwnershipChange,
    Sku,
    StockMovement,
    System,
    TruthMoment,
)

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
) -> StockMovement:
    if done := _movement_replayed(
        source_system=source_system, source_event_id=source_event_id, leg=leg
    ):
        return done
    balance_after = _balance_change(bin=bin, sku=sku, delta=delta)
    return StockMovement.objects.create(
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
    )


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
) -> StockMovement:
    """Apply one movement to one bin's balance of one SKU and append its ledger row.

    In one transaction: the balance changes by a conditional update that never goes below
    zero, and the ledger row records the movement with the balance after it. Too little
    stock raises ``InsufficientStock`` and writes nothing. Replaying the same
    (source system, event id, leg) returns the first movement and changes nothing.
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


# --- the ownership table -------------------------------------------------------------


def _ownership_snapshot(ownership: Ownership) -> dict[str, Any]:
    return {
        "owner": ownership.owner.name if ownership.owner_id else None,
        "consumers": sorted(s.name for s in ownership.consumers.all()),
        "truth_moment": ownership.truth_moment,
    }


@transaction.atomic
def ownership_change(
    *,
    ownership: Ownership,
    owner: System | None,
    consumers: Iterable[System],
    truth_moment: str = "",
    reason: str,
    actor: AbstractBaseUser | None,
) -> OwnershipChange:
    """Change who owns a fact (and who consumes it); the change is audited with its reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMovement("Every change to the ownership table needs a reason.")
    locked = Ownership.objects.select_for_update().get(pk=ownership.pk)
    if locked.fact != Fact.ON_HAND:
        truth_moment = ""
    elif truth_moment not in TruthMoment.values:
        raise InvalidMovement("On-hand needs a truth moment: ship or order.")
    before = _ownership_snapshot(locked)
    locked.owner = owner
    locked.truth_moment = truth_moment
    locked.save(update_fields=["owner", "truth_moment", "updated_at"])
    locked.consumers.set(consumers)
    return OwnershipChange.objects.create(
        ownership=locked,
        changed_by=actor,
        before=before,
        after=_ownership_snapshot(locked),
        reason=reason,
    )


ownership_change.alters_data = True


def authority_enforce(*, fact: str, system: System, payload: Any = None) -> None:
    """Refuse a write of ``fact`` by ``system`` unless the ownership table names it owner.

    Every inbound write calls this before it opens its own transaction. A refusal is
    recorded as an ``AuthorityConflict`` (committed even though the write is not) and
    raised as ``NotOwner``; nothing of the write is applied.
    """
    ownership = Ownership.objects.select_related("owner").filter(fact=fact).first()
    owner = ownership.owner if ownership else None
    if owner is not None and owner.pk == system.pk and system.active:
        return
    AuthorityConflict.objects.create(
        system=system,
        fact=fact,
        owner=owner,
        payload=payload if payload is not None else {},
        detail=f"{system.name} is not the owner of {fact}"[:255],
    )
    raise NotOwner(fact=fact, system=system.name, owner=owner.name if owner else None)
