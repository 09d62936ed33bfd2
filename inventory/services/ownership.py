"""Writes of the ownership table and its enforcement on every inbound write."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from inventory.exceptions import InvalidMovement, NotOwner
from inventory.models import (
    AuthorityConflict,
    Fact,
    Ownership,
    OwnershipChange,
    System,
    TruthMoment,
)


def _ownership_snapshot(ownership: Ownership) -> dict[str, Any]:
    return {
        "owner": ownership.owner.name if ownership.owner_id else None,
        "consumers": sorted(s.name for s in ownership.consumers.all()),
        "truth_moment": ownership.truth_moment,
    }


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
