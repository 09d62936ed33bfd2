"""Reconciliation: read the storefront's numbers, compare with the shelf, surface every gap.

Page by page: one set-based query fetches the shelf's numbers for the page's SKUs; every
disagreement becomes a discrepancy (both values, the owner, the winner: always the
owner), and one batched call corrects the storefront. A gap past the tolerance, or a SKU
that disagrees again within the repeat window, asks for a count of the bins holding it.
SKUs with a push still in flight are skipped: that is lag, not a disagreement.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import hooks, selectors
from inventory.models import Discrepancy, Fact, OnHand, OutboxEntry, Sku, SyncState, System
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    Level,
    LevelWrite,
    Mirrors,
    StorefrontAdapter,
    WriteStatus,
)


@dataclass
class ReconcileReport:
    storefront: str
    pages: int = 0
    skus_compared: int = 0
    skipped_in_flight: int = 0
    unknown_skus: int = 0
    gaps: int = 0
    discrepancies_written: int = 0
    corrected: int = 0
    counts_requested: int = 0
    orders_at_risk: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def add(self, other: "ReconcileReport") -> None:
        for key, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, key, getattr(self, key) + value)


def _shelf_for_page(storefront: System, codes: list[str]) -> dict[str, dict]:
    acknowledged = SyncState.objects.filter(storefront=storefront, sku=OuterRef("sku")).values(
        "pushed_version"
    )
    in_flight = OutboxEntry.objects.filter(
        sku=OuterRef("pk"), id__gt=Coalesce(Subquery(acknowledged), Value(0))
    )
    rows = (
        selectors.skus_with_stock()
        .filter(code__in=codes)
        .annotate(in_flight=Exists(in_flight))
        .values("pk", "code", "on_hand", "committed", "in_flight")
    )
    return {r["code"]: r for r in rows}


def _reconcile_page(
    *,
    storefront: System,
    adapter: StorefrontAdapter,
    owner: System | None,
    levels: list[Level],
    report: ReconcileReport,
) -> None:
    shelf = _shelf_for_page(storefront, [level.sku for level in levels])
    mirrors_available = adapter.capabilities.mirrors == Mirrors.AVAILABLE
    gaps: list[tuple[dict, int, int]] = []  # (shelf row, shelf value, storefront value)
    for level in levels:
        row = shelf.get(level.sku)
        if row is None:
            report.unknown_skus += 1
            continue
        if row["in_flight"]:
            report.skipped_in_flight += 1
            continue
        report.skus_compared += 1
        value = row["on_hand"] - row["committed"] if mirrors_available else row["on_hand"]
        value = max(value, 0)
        if level.quantity != value:
            gaps.append((row, value, level.quantity))
    report.pages += 1
    if not gaps:
        return
    report.gaps += len(gaps)
    # Recorded and committed before the storefront is touched, so a worker killed
    # mid-page never leaves a correction without its record; corrected after.
    _record_gaps(storefront=storefront, owner=owner, gaps=gaps, report=report)
    _correct(storefront, adapter, gaps, report)


@transaction.atomic
def _record_gaps(*, storefront: System, owner: System | None, gaps, report) -> None:
    # A gap recorded by an earlier run that never got its correction (a killed worker, a
    # stale write) is the same disagreement: it is not recorded twice.
    pending = set(
        Discrepancy.objects.open()
        .filter(
            kind=Discrepancy.Kind.STOREFRONT_GAP,
            consumer=storefront,
            sku_id__in=[row["pk"] for row, _, _ in gaps],
            corrected_at__isnull=True,
        )
        .values_list("sku_id", flat=True)
    )
    gaps = [gap for gap in gaps if gap[0]["pk"] not in pending]
    if not gaps:
        return
    now = timezone.now()
    window = now - timedelta(hours=settings.ONEFACT_RECONCILE_REPEAT_HOURS)
    repeated = set(
        Discrepancy.objects.filter(
            kind=Discrepancy.Kind.STOREFRONT_GAP,
            consumer=storefront,
            sku_id__in=[row["pk"] for row, _, _ in gaps],
            created_at__gte=window,
        ).values_list("sku_id", flat=True)
    )
    tolerance = settings.ONEFACT_RECONCILE_TOLERANCE
    owner_name = owner.name if owner else "nobody"
    discrepancies = Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.STOREFRONT_GAP,
                fact=Fact.ON_HAND,
                sku_id=row["pk"],
                owner=owner,
                consumer=storefront,
                owner_value=value,
                consumer_value=theirs,
                winner=owner,
                detail=(
                    f"{storefront.name} says {theirs}, shelf says {value}; "
                    f"{owner_name} owns on-hand and wins."
                    + (" Seen again within the window." if row["pk"] in repeated else "")
                ),
                count_requested_at=(
                    now if abs(theirs - value) > tolerance or row["pk"] in repeated else None
                ),
            )
            for row, value, theirs in gaps
        ]
    )
    report.discrepancies_written += len(discrepancies)
    _request_counts([d for d in discrepancies if d.count_requested_at], report)


def _request_counts(discrepancies: list[Discrepancy], report: ReconcileReport) -> None:
    if not discrepancies:
        return
    bins: dict[int, list] = {}
    for row in OnHand.objects.filter(
        sku_id__in=[d.sku_id for d in discrepancies], quantity__gt=0
    ).select_related("bin", "sku"):
        bins.setdefault(row.sku_id, []).append(row.bin)
    skus = Sku.objects.in_bulk([d.sku_id for d in discrepancies])
    for d in discrepancies:
        hooks.request_count(
            hooks.CountRequest(
                sku=skus[d.sku_id],
                bins=bins.get(d.sku_id, []),
                reason=d.detail,
                discrepancy=d,
                trigger="reconciliation",
            )  # fmt: skip
        )
        report.counts_requested += 1


def _correct(storefront, adapter, gaps, report: ReconcileReport) -> None:
    """Send the shelf's value, compared with what the storefront just said it holds."""
    writes = [
        LevelWrite(
            sku=row["code"],
            quantity=value,
            expected=theirs,
            idempotency_key=f"onefact-reconcile-{row['pk']}-{theirs}-{value}",
            reason="correction",
            ledger_ref="onefact://reconcile",
        )
        for row, value, theirs in gaps
    ]
    applied: dict[int, int] = {}
    by_code = {row["code"]: (row, value) for row, value, _ in gaps}
    step = max(1, adapter.capabilities.max_batch)
    for i in range(0, len(writes), step):
        for result in adapter.set_levels(writes[i : i + step]):
            row, value = by_code[result.sku]
            if result.status == WriteStatus.APPLIED or (
                result.status == WriteStatus.STALE and result.actual == value
            ):
                applied[row["pk"]] = value
    if applied:
        _mark_corrected(storefront, applied, report)


@transaction.atomic
def _mark_corrected(storefront: System, applied: dict[int, int], report) -> None:
    now = timezone.now()
    SyncState.objects.bulk_create(
        [
            SyncState(storefront=storefront, sku_id=pk, pushed_value=v, pushed_at=now)
            for pk, v in applied.items()
        ],  # fmt: skip
        update_conflicts=True,
        unique_fields=["storefront", "sku"],
        update_fields=["pushed_value", "pushed_at"],
    )
    fixed = Discrepancy.objects.filter(
        pk__in=list(
            Discrepancy.objects.open()
            .filter(
                kind=Discrepancy.Kind.STOREFRONT_GAP,
                consumer=storefront,
                sku_id__in=list(applied),
                corrected_at__isnull=True,
            )
            .values_list("pk", flat=True)
        )
    )
    fixed.update(
        correction=Case(*[When(sku_id=pk, then=Value(v)) for pk, v in applied.items()]),
        corrected_at=now,
    )
    fixed.filter(count_requested_at__isnull=True).update(
        status=Discrepancy.Status.RESOLVED,
        resolution=Discrepancy.Resolution.CORRECTION,
        resolved_at=now,
    )
    report.corrected += len(applied)


def storefront_reconcile(*, storefront: System, codes: list[str] | None = None) -> ReconcileReport:
    """Reconcile one storefront (all its SKUs, or only ``codes``), page by page."""
    report = ReconcileReport(storefront=storefront.name)
    adapter = adapter_for(storefront)
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    cursor = None
    while True:
        page = adapter.read_levels(codes, cursor)
        _reconcile_page(storefront=storefront, adapter=adapter, owner=owner,
                        levels=page.items, report=report)  # fmt: skip
        cursor = page.next_cursor
        if not cursor:
            break
    return report


storefront_reconcile.alters_data = True


def reconcile_ranges(*, size: int) -> list[tuple[str, str]]:
    """Split the active catalog into SKU-code ranges of about ``size`` codes (streamed)."""
    ranges, first, last = [], None, None
    codes = Sku.objects.filter(active=True).order_by("code").values_list("code", flat=True)
    for n, code in enumerate(codes.iterator(chunk_size=5000)):
        if n % size == 0:
            if first is not None:
                ranges.append((first, last))
            first = code
        last = code
    if first is not None:
        ranges.append((first, last))
    return ranges


def range_codes(*, first: str, last: str) -> list[str]:
    return list(
        Sku.objects.filter(active=True, code__gte=first, code__lte=last)
        .order_by("code")
        .values_list("code", flat=True)
    )


@transaction.atomic
def orders_at_risk_check() -> int:
    """Open storefront commitments above the shelf's on-hand: one discrepancy per SKU.

    A SKU no longer at risk has its discrepancy resolved (the shelf caught up).
    """
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    at_risk = list(
        selectors.skus_with_stock()
        .filter(committed__gt=F("on_hand"))
        .values("pk", "code", "on_hand", "committed")
    )
    open_risk = Discrepancy.objects.open().filter(kind=Discrepancy.Kind.ORDERS_AT_RISK)
    known = set(open_risk.values_list("sku_id", flat=True))
    new = Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.ORDERS_AT_RISK,
                fact=Fact.ORDER,
                sku_id=r["pk"],
                owner=owner,
                owner_value=r["on_hand"],
                consumer_value=r["committed"],
                winner=owner,
                detail=(
                    f"Open orders want {r['committed']} of {r['code']}, "
                    f"the shelf holds {r['on_hand']}."
                ),
            )
            for r in at_risk
            if r["pk"] not in known
        ]
    )
    open_risk.filter(~Q(sku_id__in=[r["pk"] for r in at_risk])).update(
        status=Discrepancy.Status.RESOLVED,
        resolution=Discrepancy.Resolution.CORRECTION,
        resolved_at=timezone.now(),
        resolution_note="No longer at risk: the shelf covers the open orders.",
    )
    return len(new)
