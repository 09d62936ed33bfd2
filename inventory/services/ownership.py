"""Writes of the ownership table and its enforcement on every inbound write."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from inventory.exceptions import InvalidMovement, NotOwner
from inventory.models import (
    AuthorityConflict,
    Bin,
    Fact,
    OnHand,
    Ownership,
    OwnershipChange,
    System,
    TruthMoment,
    Warehouse,
)


def _ownership_snapshot(ownership: Ownership) -> dict[str, Any]:
    snapshot = {
        "owner": ownership.owner.name if ownership.owner_id else None,
        "consumers": sorted(s.name for s in ownership.consumers.all()),
        "truth_moment": ownership.truth_moment,
    }
    if ownership.fact == Fact.ON_HAND:
        # On-hand may be owned per warehouse: the warehouses another system owns, if any.
        elsewhere = Warehouse.objects.filter(owner__isnull=False).order_by("code")
        if owned := dict(elsewhere.values_list("code", "owner__name")):
            snapshot["warehouses"] = owned
    return snapshot


def ownership_validate(*, fact: str, owner: System | None, consumers: Iterable[System]) -> None:
    """The rule of the ownership table: every fact has one owner, and it is not a consumer.

    Raises ``ValidationError`` keyed by field (``owner``, ``consumers``), so the admin form
    shows each message at its field; ``ownership_change`` calls it on every write.
    """
    label = Fact(fact).label.split(" (")[0] if fact in Fact.values else fact
    errors: dict[str, str] = {}
    if owner is None:
        errors["owner"] = (
            f"{label} needs an owner: pick the one system whose word is the truth for it."
        )
    elif any(c.pk == owner.pk for c in consumers):
        errors["consumers"] = (
            f"{owner.name} owns {label.lower()}, so it cannot also consume it: "
            f"untick {owner.name} in the consumers."
        )
    if errors:
        raise ValidationError(errors)


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
    """Change who owns a fact (and who consumes it); the change is audited with its reason.

    Refused (``ValidationError``, nothing saved) when it would leave the fact without an
    owner or list the owner among its consumers: see ``ownership_validate``.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMovement("Every change to the ownership table needs a reason.")
    consumers = list(consumers)
    ownership_validate(fact=ownership.fact, owner=owner, consumers=consumers)
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


def warehouse_owner_validate(*, warehouse: Warehouse, owner: System | None) -> None:
    """The rules of owning on-hand per warehouse, as ``ValidationError`` at ``owner``.

    A warehouse's on-hand is the shelf's (``owner`` None) or a 3PL system's. Handing it to a
    3PL needs its bins empty (OneFact writes no movement there from then on, so units left
    in its bins would be a number nobody owns) and not the default warehouse (new bins go
    there).
    """
    if owner is None or owner.kind == System.Kind.SHELF:
        return
    if owner.kind != System.Kind.THIRD_PARTY:
        raise ValidationError(
            {
                "owner": f"{owner.name} is not a 3PL's system: only a 3PL can own a warehouse's "
                "on-hand instead of the shelf."
            }  # fmt: skip
        )
    if warehouse.is_default:
        raise ValidationError(
            {
                "owner": f"{warehouse.code} is the default warehouse, where new bins go: make "
                "another warehouse the default first."
            }  # fmt: skip
        )
    held = OnHand.objects.filter(bin__warehouse=warehouse).aggregate(units=Sum("quantity"))
    if held["units"]:
        raise ValidationError(
            {
                "owner": f"{warehouse.code}'s bins still hold {held['units']} units: move or "
                f"count them out first. Once {owner.name} owns on-hand there, OneFact writes "
                "no movement there."
            }  # fmt: skip
        )


@transaction.atomic
def warehouse_owner_set(
    *, warehouse: Warehouse, owner: System | None, reason: str, actor: AbstractBaseUser | None
) -> OwnershipChange | None:
    """Set who owns on-hand at one warehouse: the shelf (None) or a 3PL's system. Audited
    in the ownership table (on on-hand's row) with its reason; a 3PL's warehouse's bins
    are deactivated, so no movement is put there. ``None`` when nothing changes."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Every change to the ownership table needs a reason."})
    if owner is not None and owner.kind == System.Kind.SHELF:
        owner = None
    ownership = Ownership.objects.select_for_update().get(fact=Fact.ON_HAND)
    locked = Warehouse.objects.select_for_update().get(pk=warehouse.pk)
    if locked.owner_id == (owner.pk if owner else None):
        return None
    if owner is not None:
        # First, so no movement puts units there while the bins are checked empty (the
        # whole change rolls back when they are not).
        Bin.objects.filter(warehouse=locked, active=True).update(active=False)
    warehouse_owner_validate(warehouse=locked, owner=owner)
    before = _ownership_snapshot(ownership)
    locked.owner = owner
    locked.save(update_fields=["owner"])
    warehouse.owner = owner
    return OwnershipChange.objects.create(
        ownership=ownership,
        changed_by=actor,
        before=before,
        after=_ownership_snapshot(ownership),
        reason=reason,
    )


warehouse_owner_set.alters_data = True


def authority_enforce(*, fact: str, system: System, payload: Any = None) -> None:
    """Refuse a write of ``fact`` by ``system`` unless the ownership table names it owner.

    Every inbound write calls this before it opens its own transaction. A refusal is
    recorded as an ``AuthorityConflict`` (committed even though the write is not) and
    raised as ``NotOwner``; nothing of the write is applied.
    """
    owner_id = Ownership.objects.filter(fact=fact).values_list("owner_id", flat=True).first()
    if owner_id is not None and owner_id == system.pk and system.active:
        return
    owner = System.objects.filter(pk=owner_id).first() if owner_id is not None else None
    AuthorityConflict.objects.create(
        system=system,
        fact=fact,
        owner=owner,
        payload=payload if payload is not None else {},
        detail=f"{system.name} is not the owner of {fact}"[:255],
    )
    raise NotOwner(fact=fact, system=system.name, owner=owner.name if owner else None)
