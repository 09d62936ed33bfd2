"""Reads of the shelf and the ownership table. Other apps read on-hand only through here."""

from dataclasses import dataclass, field

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from inventory.models import (
    AuthorityConflict,
    Bin,
    Commitment,
    Discrepancy,
    Fact,
    Job,
    OnHand,
    Ownership,
    Sku,
    StockMovement,
    SyncState,
    System,
    TruthMoment,
)

# Which fact authorised each kind of movement: a shipment is the storefront's order fact
# played out on the shelf; every other movement is the shelf writing its own on-hand.
MOVEMENT_FACT = {
    StockMovement.Kind.SHIP: Fact.ORDER,
    StockMovement.Kind.RETURN_RESTOCK: Fact.RESTOCK,
}


def truth_moment() -> str:
    """The configured event that changes on-hand for orders (from the ownership table)."""
    value = (
        Ownership.objects.filter(fact=Fact.ON_HAND).values_list("truth_moment", flat=True).first()
    )
    return value or TruthMoment.SHIP


def on_hand_for_sku(*, sku: Sku) -> QuerySet[OnHand]:
    """The SKU's balance in every bin that has held it, in walk order."""
    return (
        OnHand.objects.filter(sku=sku)
        .select_related("bin")
        .order_by("bin__walk_order", "bin__code")
    )


def on_hand_for_bin(*, bin: Bin) -> QuerySet[OnHand]:
    return OnHand.objects.filter(bin=bin, quantity__gt=0).select_related("sku").order_by("sku")


def on_hand_total(*, sku: Sku) -> int:
    return OnHand.objects.filter(sku=sku).aggregate(t=Coalesce(Sum("quantity"), 0))["t"]


def committed_total(*, sku: Sku) -> int:
    return Commitment.objects.filter(sku=sku, status=Commitment.Status.OPEN).aggregate(
        t=Coalesce(Sum("quantity"), 0)
    )["t"]


@dataclass(frozen=True)
class Availability:
    on_hand: int
    committed: int

    @property
    def available(self) -> int:
        return self.on_hand - self.committed


def availability_for_sku(*, sku: Sku) -> Availability:
    """On-hand, open commitments and available (on-hand minus commitments) in one query."""
    row = Sku.objects.filter(pk=sku.pk).values(
        on_hand=Coalesce(
            Subquery(
                OnHand.objects.filter(sku=OuterRef("pk"))
                .values("sku")
                .annotate(t=Sum("quantity"))
                .values("t"),
                output_field=IntegerField(),
            ),
            0,
        ),
        committed=Coalesce(
            Subquery(
                Commitment.objects.filter(sku=OuterRef("pk"), status=Commitment.Status.OPEN)
                .values("sku")
                .annotate(t=Sum("quantity"))
                .values("t"),
                output_field=IntegerField(),
            ),
            0,
        ),
    )[0]
    return Availability(on_hand=row["on_hand"], committed=row["committed"])


def available_for_sku(*, sku: Sku) -> int:
    return availability_for_sku(sku=sku).available


def skus_with_stock() -> QuerySet[Sku]:
    """SKUs annotated with on-hand, committed and available, for lists (one query a page)."""
    on_hand = (
        OnHand.objects.filter(sku=OuterRef("pk"))
        .values("sku")
        .annotate(t=Sum("quantity"))
        .values("t")
    )
    committed = (
        Commitment.objects.filter(sku=OuterRef("pk"), status=Commitment.Status.OPEN)
        .values("sku")
        .annotate(t=Sum("quantity"))
        .values("t")
    )
    return Sku.objects.annotate(
        on_hand=Coalesce(Subquery(on_hand, output_field=IntegerField()), 0),
        committed=Coalesce(Subquery(committed, output_field=IntegerField()), 0),
    ).annotate(available=F("on_hand") - F("committed"))


def on_hand_by_sku() -> QuerySet[OnHand]:
    """Every SKU's on-hand over its bins, grouped: ``sku_id`` and ``on_hand`` (SKUs with a
    balance row only). For reads of a whole catalog, where one grouped scan beats a
    subquery per SKU."""
    return OnHand.objects.values("sku_id").annotate(on_hand=Sum("quantity")).order_by()


def committed_by_sku() -> QuerySet[Commitment]:
    """Every SKU's open commitments, grouped: ``sku_id`` and ``committed``."""
    return (
        Commitment.objects.filter(status=Commitment.Status.OPEN)
        .values("sku_id")
        .annotate(committed=Sum("quantity"))
        .order_by()
    )


def ledger_for_sku(*, sku: Sku) -> QuerySet[StockMovement]:
    """The SKU's movements, newest first."""
    return (
        StockMovement.objects.filter(sku=sku)
        .select_related("bin", "source_system", "actor")
        .order_by("-id")
    )


@dataclass(frozen=True)
class LedgerMismatch:
    bin_code: str
    sku_code: str
    balance: int
    ledger_sum: int

    @property
    def difference(self) -> int:
        return self.balance - self.ledger_sum


def ledger_mismatches() -> list[LedgerMismatch]:
    """Every (bin, SKU) whose balance differs from the sum of its ledger, in two queries."""
    ledger_sum = (
        StockMovement.objects.filter(bin=OuterRef("bin"), sku=OuterRef("sku"))
        .values("bin", "sku")
        .annotate(t=Sum("quantity"))
        .values("t")
    )
    rows = (
        OnHand.objects.annotate(
            ledger_sum=Coalesce(Subquery(ledger_sum, output_field=IntegerField()), 0)
        )
        .exclude(quantity=F("ledger_sum"))
        .values_list("bin__code", "sku__code", "quantity", "ledger_sum")
    )
    found = [LedgerMismatch(*row) for row in rows]
    # Ledger rows with no balance row behind them at all.
    orphans = (
        StockMovement.objects.filter(
            ~Exists(OnHand.objects.filter(bin=OuterRef("bin"), sku=OuterRef("sku")))
        )
        .values("bin__code", "sku__code")
        .annotate(t=Sum("quantity"))
        .values_list("bin__code", "sku__code", "t")
        .order_by()
    )
    found += [LedgerMismatch(b, s, 0, t) for b, s, t in orphans]
    return sorted(found, key=lambda m: (m.bin_code, m.sku_code))


@dataclass
class FactAuthority:
    fact: str
    label: str
    owner: System | None
    consumers: list[System]
    truth_moment: str
    writers: list[str] = field(default_factory=list)
    conflicts: int = 0

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
    more than one system is flagged. Four queries whatever the data size.
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
            )
        )
    return result


def system_for_token(*, token: str) -> System | None:
    if not token:
        return None
    return System.objects.filter(token_hash=System.hash_token(token), active=True).first()


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


def home_figures(*, role: str) -> dict:
    """The few figures each role's home page shows, in a fixed number of queries."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=7)
    figures: dict = {
        "bins": Bin.objects.filter(active=True).count(),
        "skus": Sku.objects.filter(active=True).count(),
    }
    if role in ("manager", "admin"):
        owned = Ownership.objects.aggregate(n=Count("owner"))["n"]
        figures |= {
            "gaps": len(Fact.values) - owned,
            "conflicts_7d": AuthorityConflict.objects.filter(created_at__gte=since).count(),
            "movements_7d": StockMovement.objects.filter(created_at__gte=since).count(),
            "units_on_hand": OnHand.objects.aggregate(t=Coalesce(Sum("quantity"), 0))["t"],
        }
    return figures


def owner_of(*, fact: str) -> System | None:
    ownership = Ownership.objects.select_related("owner").filter(fact=fact).first()
    return ownership.owner if ownership else None


def discrepancies_for_list(
    *, status: str = "", kind: str = "", sku_code: str = ""
) -> QuerySet[Discrepancy]:
    """Discrepancies, newest first, with everything a list row shows in the same query."""
    qs = Discrepancy.objects.select_related(
        "sku", "bin", "owner", "consumer", "winner", "resolved_by"
    ).order_by("-created_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if sku_code:
        qs = qs.filter(sku__code__iexact=sku_code)
    return qs


def sync_states_for_sku(*, sku: Sku) -> QuerySet[SyncState]:
    return SyncState.objects.filter(sku=sku).select_related("storefront").order_by("storefront")


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Managers and admins see every job; anyone else only the jobs they started."""
    if user.has_perm("inventory.run_reconciliation") or user.has_perm("inventory.add_bin"):
        return Job.objects.select_related("created_by")
    return Job.objects.filter(created_by=user).select_related("created_by")


def sync_log_for_sku(*, sku: Sku, limit: int = 10):
    """The SKU's latest acknowledged pushes, newest first: its sync history."""
    from inventory.models import SyncLog

    return SyncLog.objects.filter(sku=sku).select_related("storefront").order_by("-id")[:limit]
