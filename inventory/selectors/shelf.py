"""The shelf's balance rows and the shelf system, as the apps above inventory read them.

Returns, replenishment and drift walks never query ``OnHand`` themselves: each read they
need is one function here, the same single query it was in their own code. Rows are in walk
order (the order a counter walks the bins) unless said otherwise.
"""

from collections.abc import Iterable

from django.db.models import Exists, Expression, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from inventory.models import Bin, OnHand, Sku, StockMovement, System

WALK_ORDER = ("bin__walk_order", "bin__code")


def shelf_system() -> System:
    """The shelf: the system OneFact itself writes as (one query)."""
    return System.objects.get(name="shelf")


def on_hand_held_in_bins(*, bins: Iterable[Bin | int]) -> QuerySet[OnHand]:
    """The balances holding units in these bins, with their bin and SKU, in walk order and
    by SKU code within a bin."""
    return (
        OnHand.objects.filter(bin__in=bins, quantity__gt=0)
        .select_related("bin", "sku")
        .order_by(*WALK_ORDER, "sku__code")
    )


def on_hand_ever_held(*, sku_ids: Iterable[int]) -> QuerySet[OnHand]:
    """Every balance row of these SKUs, empty ones too (the bins that ever held them), with
    their bin, in walk order."""
    return OnHand.objects.filter(sku_id__in=sku_ids).select_related("bin").order_by(*WALK_ORDER)


def bin_codes_holding_sku(*, sku: Sku) -> list[str]:
    """The codes of the bins holding units of this SKU, in walk order."""
    return list(
        OnHand.objects.filter(sku=sku, quantity__gt=0)
        .order_by(*WALK_ORDER)
        .values_list("bin__code", flat=True)
    )


def active_bins_of_skus(*, sku_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(SKU id, bin id) of every active bin with a balance row of these SKUs, in walk
    order."""
    return list(
        OnHand.objects.filter(sku_id__in=sku_ids, bin__active=True)
        .order_by(*WALK_ORDER)
        .values_list("sku_id", "bin_id")
    )


def home_bins_of_skus(*, skus: Iterable[Sku]) -> dict[int, int]:
    """Each SKU's home: the active bin of lowest pk holding units of it (SKU id → bin id)."""
    return dict(
        OnHand.objects.filter(sku__in=skus, bin__active=True, quantity__gt=0)
        .order_by("sku_id", "-bin_id")
        .values_list("sku_id", "bin_id")
    )


def on_hand_held_of_active_skus() -> QuerySet[OnHand]:
    """Balances holding units of SKUs still in the catalog (whatever the bin)."""
    return OnHand.objects.filter(quantity__gt=0, sku__active=True)


def on_hand_countable() -> QuerySet[OnHand]:
    """Balances a count can check: units of a catalog SKU in an active bin."""
    return OnHand.objects.filter(quantity__gt=0, bin__active=True, sku__active=True)


def on_hand_unsupported() -> QuerySet[OnHand]:
    """Balances holding units that nothing supports: an inactive bin, a SKU the catalog no
    longer has, or no ledger movement behind them (``has_ledger`` annotated), with their bin
    and SKU, by bin and SKU code."""
    ledger = StockMovement.objects.filter(bin=OuterRef("bin"), sku=OuterRef("sku"))
    return (
        OnHand.objects.filter(quantity__gt=0)
        .annotate(has_ledger=Exists(ledger))
        .filter(Q(bin__active=False) | Q(sku__active=False) | Q(has_ledger=False))
        .select_related("bin", "sku")
        .order_by("bin__code", "sku__code")
    )


def on_hand_quantity_of(*, bin: Expression, sku: Expression) -> Coalesce:
    """The balance of a bin and SKU as an expression (0 without a row), for annotating rows
    that name a bin and a SKU: ``on_hand_quantity_of(bin=OuterRef("bin"), sku=OuterRef("sku"))``."""
    return Coalesce(
        Subquery(
            OnHand.objects.filter(bin=bin, sku=sku).values("quantity")[:1],
            output_field=IntegerField(),
        ),
        0,
    )
