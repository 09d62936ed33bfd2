"""Reads of the shelf: on-hand, commitments, availability and the ledger. Other apps read
on-hand only through ``inventory.selectors``."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from inventory.models import (
    Bin,
    Commitment,
    Fact,
    OnHand,
    Ownership,
    Sku,
    StockMovement,
    TruthMoment,
    Warehouse,
)


def truth_moment() -> str:
    """The configured event that changes on-hand for orders (from the ownership table)."""
    value = (
        Ownership.objects.filter(fact=Fact.ON_HAND).values_list("truth_moment", flat=True).first()
    )
    return value or TruthMoment.SHIP


def _in_warehouse(rows: QuerySet, warehouse: Warehouse | int | None) -> QuerySet:
    """Balance rows of one warehouse, or of all when ``warehouse`` is None."""
    return rows if warehouse is None else rows.filter(bin__warehouse=warehouse)


def warehouses() -> QuerySet[Warehouse]:
    """Every warehouse, active ones first, then by code."""
    return Warehouse.objects.order_by("-active", "code")


def default_warehouse() -> Warehouse | None:
    return Warehouse.objects.filter(is_default=True).first()


def on_hand_for_sku(*, sku: Sku, warehouse: Warehouse | int | None = None) -> QuerySet[OnHand]:
    """The SKU's balance in every bin that has held it (of one warehouse, or all), in walk
    order within each warehouse."""
    return _in_warehouse(
        OnHand.objects.filter(sku=sku)
        .select_related("bin__warehouse")
        .order_by("bin__warehouse__code", "bin__walk_order", "bin__code"),
        warehouse,
    )


@dataclass(frozen=True)
class WarehouseOnHand:
    warehouse_id: int
    code: str
    name: str
    on_hand: int


def on_hand_split_by_warehouse(balances: Iterable[OnHand]) -> list[WarehouseOnHand]:
    """Totals per warehouse of balance rows already read (``on_hand_for_sku``'s, whose bins
    come with their warehouse), so a page shows them without another query. A warehouse
    none of whose bins ever held the SKU is left out (its total would be 0)."""
    totals: Counter[Warehouse] = Counter()
    for row in balances:
        totals[row.bin.warehouse] += row.quantity
    return [
        WarehouseOnHand(warehouse_id=w.pk, code=w.code, name=w.name, on_hand=units)
        for w, units in sorted(totals.items(), key=lambda item: item[0].code)
    ]


def units_in_bin(*, bin: Bin) -> int:
    return OnHand.objects.filter(bin=bin).aggregate(t=Coalesce(Sum("quantity"), 0))["t"]


def on_hand_for_bin(*, bin: Bin) -> QuerySet[OnHand]:
    return OnHand.objects.filter(bin=bin, quantity__gt=0).select_related("sku").order_by("sku")


def on_hand_total(*, sku: Sku, warehouse: Warehouse | int | None = None) -> int:
    """The SKU's on-hand in one warehouse, or in all of them."""
    rows = _in_warehouse(OnHand.objects.filter(sku=sku), warehouse)
    return rows.aggregate(t=Coalesce(Sum("quantity"), 0))["t"]


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


def skus_with_stock(*, warehouse: Warehouse | int | None = None) -> QuerySet[Sku]:
    """SKUs annotated with on-hand (in one warehouse, or in all), committed and available,
    for lists (one query a page)."""
    on_hand = (
        _in_warehouse(OnHand.objects.filter(sku=OuterRef("pk")), warehouse)
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


def on_hand_by_sku(*, warehouse: Warehouse | int | None = None) -> QuerySet[OnHand]:
    """Every SKU's on-hand over its bins (of one warehouse, or all), grouped: ``sku_id`` and
    ``on_hand`` (SKUs with a balance row only). For reads of a whole catalog, where one
    grouped scan beats a subquery per SKU."""
    rows = _in_warehouse(OnHand.objects.all(), warehouse)
    return rows.values("sku_id").annotate(on_hand=Sum("quantity")).order_by()


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


def bins_holding_sku(*, sku_ids: list[int]) -> dict[int, list[OnHand]]:
    """Where each of these SKUs lives now: its bins holding units, with their quantities, in
    walk order (one query). Shown beside a put-away's bin field."""
    found: dict[int, list[OnHand]] = {pk: [] for pk in sku_ids}
    if not sku_ids:
        return found
    rows = (
        OnHand.objects.filter(sku_id__in=sku_ids, quantity__gt=0)
        .select_related("bin")
        .order_by("bin__walk_order", "bin__code")
    )
    for row in rows:
        found[row.sku_id].append(row)
    return found
