"""Reads of the adoption path: which storefronts are live, which SKUs the shelf knows, what
waits for a manager (a go-live preview, a batch the circuit breaker held)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.db.models.functions import Coalesce

from inventory.models import (
    CorrectionBatch,
    Discrepancy,
    Fact,
    OnHand,
    ShelfEvidence,
    Sku,
    SyncModeChange,
    SyncState,
    System,
)


def _storefronts() -> QuerySet[System]:
    return (
        System.objects.filter(
            kind=System.Kind.STOREFRONT, active=True, consumed_facts__fact=Fact.ON_HAND
        )
        .exclude(adapter="")
        .order_by("pk")
    )


def storefronts_for_reconcile() -> list[System]:
    """Active storefronts that mirror on-hand, live or observed: every one is read and
    compared; only live ones are written."""
    return list(_storefronts())


def storefronts_for_push() -> list[System]:
    """Live storefronts that mirror on-hand: the ones the shelf pushes to."""
    return list(_storefronts().filter(sync_mode=System.SyncMode.LIVE))


def storefront_is_live(*, storefront: System) -> bool:
    return storefront.sync_mode == System.SyncMode.LIVE


def held_batch_for(*, storefront: System) -> CorrectionBatch | None:
    """The batch the circuit breaker holds for this storefront: while there is one, its
    sync is paused."""
    return CorrectionBatch.objects.filter(
        storefront=storefront, status=CorrectionBatch.Status.HELD
    ).first()


def held_batches() -> QuerySet[CorrectionBatch]:
    """Every held batch, for the managers' banner (one query)."""
    return (
        CorrectionBatch.objects.filter(status=CorrectionBatch.Status.HELD)
        .select_related("storefront")
        .order_by("pk")
    )


def preview_for(*, storefront: System) -> CorrectionBatch | None:
    return CorrectionBatch.objects.filter(
        storefront=storefront, status=CorrectionBatch.Status.PREVIEW
    ).first()


def batches_for(*, storefront: System, limit: int = 20) -> QuerySet[CorrectionBatch]:
    """The storefront's batches, newest first, without their writes (a list needs only the
    figures, and a preview of a large catalog carries a write per SKU)."""
    return (
        CorrectionBatch.objects.filter(storefront=storefront)
        .select_related("decided_by")
        .defer("writes")[:limit]
    )


def mode_changes_for(*, storefront: System, limit: int = 20) -> QuerySet[SyncModeChange]:
    return SyncModeChange.objects.filter(system=storefront).select_related("changed_by")[:limit]


def sku_is_known(*, sku: Sku) -> bool:
    return ShelfEvidence.objects.filter(sku=sku).exists()


def known_sku_ids(*, sku_ids: Iterable[int]) -> set[int]:
    return set(
        ShelfEvidence.objects.filter(sku_id__in=list(sku_ids)).values_list("sku_id", flat=True)
    )


def storefronts_hold_none(*, sku: Sku) -> bool:
    """No storefront has been seen holding the SKU: never told or seen a number above zero,
    and no open disagreement where it said it had some."""
    told = SyncState.objects.filter(sku=sku, pushed_value__gt=0)
    seen = Discrepancy.objects.open().filter(
        sku=sku,
        fact=Fact.ON_HAND,
        consumer__kind=System.Kind.STOREFRONT,
        consumer_value__gt=0,
    )
    return not told.exists() and not seen.exists()


@dataclass(frozen=True)
class Readiness:
    """How far a storefront is from going live."""

    skus_total: int
    skus_known: int
    units_shelf_known: int
    uncounted_open: int
    uncounted_units: int
    orders_at_risk: int

    @property
    def skus_unknown(self) -> int:
        return self.skus_total - self.skus_known

    @property
    def percent_known(self) -> int:
        return int(100 * self.skus_known / self.skus_total) if self.skus_total else 0


def readiness_for(*, storefront: System) -> Readiness:
    """Figures of the shelf's side, in a few aggregate queries: SKUs in the catalog and how
    many are known, the shelf's units of the known ones, what the storefront says of the
    SKUs not yet counted (their open discrepancies), orders at risk."""
    active = Sku.objects.filter(active=True)
    known = ShelfEvidence.objects.filter(sku__active=True)
    units = OnHand.objects.filter(Exists(known.filter(sku=OuterRef("sku")))).aggregate(
        t=Coalesce(Sum("quantity"), 0)
    )["t"]
    uncounted = Discrepancy.objects.open().filter(
        kind=Discrepancy.Kind.NOT_YET_COUNTED, consumer=storefront
    )
    figures = uncounted.aggregate(n=Count("pk"), u=Coalesce(Sum("consumer_value"), 0))
    return Readiness(
        skus_total=active.count(),
        skus_known=known.count(),
        units_shelf_known=units,
        uncounted_open=figures["n"],
        uncounted_units=figures["u"],
        orders_at_risk=Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.ORDERS_AT_RISK)
        .count(),
    )
