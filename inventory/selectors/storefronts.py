"""Reads of the storefront screens: the list of storefronts with their state, and the rows
of a correction batch as a manager reviews them."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Sum

from inventory.models import (
    CorrectionBatch,
    Discrepancy,
    Fact,
    Job,
    OnHand,
    Ownership,
    SyncModeChange,
    System,
)

Status = CorrectionBatch.Status


def storefronts_for_list() -> QuerySet[System]:
    """Every storefront system, with whether it mirrors on-hand, is paused (a batch held)
    and has a go-live preview waiting: one query."""
    batches = CorrectionBatch.objects.filter(storefront=OuterRef("pk"))
    return (
        System.objects.filter(kind=System.Kind.STOREFRONT)
        .annotate(
            mirrors_on_hand=Exists(
                Ownership.consumers.through.objects.filter(
                    system_id=OuterRef("pk"), ownership__fact=Fact.ON_HAND
                )
            ),
            paused=Exists(batches.filter(status=Status.HELD)),
            has_preview=Exists(batches.filter(status=Status.PREVIEW)),
        )
        .order_by("name")
    )


def last_reconciliation() -> Job | None:
    """The newest reconciliation started from the browser (a job). Beat's runs and the
    command leave no job, and no run is recorded per storefront."""
    return (
        Job.objects.filter(kind="reconcile", finished_at__isnull=False)
        .order_by("-finished_at")
        .only("pk", "status", "finished_at")
        .first()
    )


def not_yet_counted_for(*, storefront: System) -> QuerySet[Discrepancy]:
    """The storefront's SKUs the shelf has not counted yet, most units first."""
    return (
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.NOT_YET_COUNTED, consumer=storefront)
        .select_related("sku")
        .order_by("-consumer_value", "sku__code")
    )


def orders_at_risk_list(*, limit: int = 20) -> QuerySet[Discrepancy]:
    return (
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.ORDERS_AT_RISK)
        .select_related("sku")
        .order_by("-created_at")[:limit]
    )


@dataclass(frozen=True)
class BatchLine:
    """One SKU of a batch: what it would send, what the storefront held, the shelf now."""

    sku_id: int
    code: str
    value: int
    expected: int | None
    shelf_now: int | None = None

    @property
    def change(self) -> int:
        return self.value - (self.expected or 0)


def batch_lines(*, batch: CorrectionBatch) -> list[BatchLine]:
    """The batch's writes, largest change first (no query)."""
    lines = [
        BatchLine(sku_id, code, value, expected) for sku_id, code, value, expected in batch.writes
    ]
    return sorted(lines, key=lambda line: (-abs(line.change), line.code))


def with_shelf_now(*, lines: list[BatchLine]) -> list[BatchLine]:
    """The same lines with the shelf's on-hand now beside them: one grouped query."""
    now = dict(
        OnHand.objects.filter(sku_id__in=[line.sku_id for line in lines])
        .values("sku_id")
        .annotate(on_hand=Sum("quantity"))
        .order_by()
        .values_list("sku_id", "on_hand")
    )
    return [
        BatchLine(line.sku_id, line.code, line.value, line.expected, now.get(line.sku_id, 0))
        for line in lines
    ]


def mode_change_actor(change: SyncModeChange) -> str:
    """Who switched: the user, else the migration that adopted an existing database, else
    OneFact itself."""
    if change.changed_by_id is not None:
        return str(change.changed_by)
    return "migration" if change.reason.startswith("Migration:") else "system"
