"""Reads of the ownership table: who owns each fact, who may read it, the conflicts."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from inventory.models import (
    AuthorityConflict,
    Fact,
    Ownership,
    StockMovement,
    System,
    Warehouse,
)
from inventory.selectors.tokens import system_for_token_hash

# Which fact authorised each kind of movement: a shipment is the storefront's order fact
# played out on the shelf; every other movement is the shelf writing its own on-hand.
MOVEMENT_FACT = {
    StockMovement.Kind.SHIP: Fact.ORDER,
    StockMovement.Kind.RETURN_RESTOCK: Fact.RESTOCK,
}


@dataclass
class FactAuthority:
    fact: str
    label: str
    owner: System | None
    consumers: list[System]
    truth_moment: str
    writers: list[str] = field(default_factory=list)
    conflicts: int = 0
    # On-hand only: the warehouses whose on-hand another system (a 3PL) owns instead.
    owned_elsewhere: list[Warehouse] = field(default_factory=list)

    @property
    def is_gap(self) -> bool:
        return self.owner is None

    @property
    def has_many_writers(self) -> bool:
        return len(self.writers) > 1


def authority_audit() -> list[FactAuthority]:
    """Every fact with its owner, consumers and the systems seen writing it.

    Seen writing = accepted ledger movements (by the fact that authorised their kind) and
    refused writes (authority conflicts). A fact with no owner is a gap; a fact written by
    more than one system is flagged. On-hand also lists the warehouses a 3PL owns. Five
    queries whatever the data size.
    """
    ownerships = {
        o.fact: o for o in Ownership.objects.select_related("owner").prefetch_related("consumers")
    }
    writers: dict[str, set[str]] = {f: set() for f in Fact.values}
    for kind, system in (
        StockMovement.objects.values_list("kind", "source_system__name").distinct().order_by()
    ):
        writers[MOVEMENT_FACT.get(kind, Fact.ON_HAND)].add(system)
    conflicts: dict[str, int] = {}
    for fact, system, n in (
        AuthorityConflict.objects.values("fact", "system__name")
        .annotate(n=Count("id"))
        .values_list("fact", "system__name", "n")
        .order_by()
    ):
        writers[fact].add(system)
        conflicts[fact] = conflicts.get(fact, 0) + n
    elsewhere = list(
        Warehouse.objects.filter(owner__isnull=False).select_related("owner").order_by("code")
    )
    result = []
    for fact, label in Fact.choices:
        own = ownerships.get(fact)
        result.append(
            FactAuthority(
                fact=fact,
                label=label,
                owner=own.owner if own else None,
                consumers=list(own.consumers.all()) if own else [],
                truth_moment=own.truth_moment if own else "",
                writers=sorted(writers[fact]),
                conflicts=conflicts.get(fact, 0),
                owned_elsewhere=elsewhere if fact == Fact.ON_HAND else [],
            )
        )
    return result


def system_for_token(*, token: str) -> System | None:
    """The active System holding this API token, read from the table now."""
    if not token:
        return None
    return system_for_token_hash(token_hash=System.hash_token(token))


def facts_readable_by(*, system: System) -> QuerySet:
    """The facts ``system`` may read: those the ownership table names it owner or consumer of.

    A lazy ``values_list`` of fact names, so ``fact__in=`` uses it as a subquery.
    """
    return (
        Ownership.objects.filter(Q(owner=system) | Q(consumers=system))
        .values_list("fact", flat=True)
        .distinct()
    )


def system_may_read(*, system: System, fact: str) -> bool:
    return facts_readable_by(system=system).filter(fact=fact).exists()


def recent_conflicts(*, limit: int = 20) -> QuerySet[AuthorityConflict]:
    return AuthorityConflict.objects.select_related("system", "owner").order_by("-id")[:limit]


def recent_ownership_changes(*, limit: int = 20):
    from inventory.models import OwnershipChange

    return OwnershipChange.objects.select_related("ownership", "changed_by").order_by("-id")[:limit]


def owner_of(*, fact: str) -> System | None:
    ownership = Ownership.objects.select_related("owner").filter(fact=fact).first()
    return ownership.owner if ownership else None
