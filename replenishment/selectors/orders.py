"""Reads of purchase orders and receipts, and the ghost-row finder."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from inventory import selectors as inventory_selectors
from inventory.models import Fact
from replenishment.models import PurchaseOrder, PurchaseOrderLine, Receipt, ReorderPolicy


def purchase_orders_for_list(*, status: str = "") -> QuerySet[PurchaseOrder]:
    """Purchase orders, newest first, with their supplier (one query a page)."""
    qs = PurchaseOrder.objects.select_related("supplier").order_by("-id")
    if status == "open":
        qs = qs.filter(status__in=PurchaseOrder.OPEN)
    elif status:
        qs = qs.filter(status=status)
    return qs


def purchase_orders_to_receive() -> QuerySet[PurchaseOrder]:
    """Sent and partially received orders, the oldest expected first (the dock's list)."""
    return (
        PurchaseOrder.objects.filter(status__in=PurchaseOrder.OPEN)
        .select_related("supplier")
        .order_by("expected_at", "id")
    )


def purchase_order_with_lines(*, number: str) -> PurchaseOrder | None:
    """One purchase order with its lines and their SKUs (two queries)."""
    lines = PurchaseOrderLine.objects.select_related("sku").order_by("sku__code")
    return (
        PurchaseOrder.objects.select_related("supplier", "created_by")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .filter(number__iexact=number.strip())
        .first()
    )


def receipts_for_po(*, po: PurchaseOrder, limit: int = 50) -> QuerySet[Receipt]:
    return (
        Receipt.objects.filter(line__po=po)
        .select_related("line__sku", "bin", "actor")
        .order_by("-id")[:limit]
    )


# --- ghost rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class GhostRow:
    """Something that claims stock, an order or a policy that nothing supports."""

    key: str  # stable: one open discrepancy per key
    fact: str
    detail: str
    sku: object
    bin: object | None = None
    quantity: int | None = None
    count: bool = False  # a shelf row: ask for a count of the bin


def ghost_rows() -> list[GhostRow]:
    """Every ghost row, in three queries whatever the shelf's size.

    Shelf rows holding stock that nothing supports (an inactive bin, a SKU the catalog no
    longer has, a balance with no ledger rows behind it), and purchase order lines of
    unfinished orders and reorder policies for SKUs the catalog no longer has. The catalog
    never deletes a SKU (it is deactivated), so "unknown" means no longer in the catalog.
    """
    shelf_rows = inventory_selectors.on_hand_unsupported()
    found = []
    for row in shelf_rows:
        reasons = []
        if not row.bin.active:
            reasons.append(f"bin {row.bin.code} is inactive")
        if not row.sku.active:
            reasons.append(f"{row.sku.code} is no longer in the catalog")
        if not row.has_ledger:
            reasons.append("no ledger movement put it there")
        found.append(
            GhostRow(
                key=f"ghost:shelf:{row.bin.code}:{row.sku.code}",
                fact=Fact.ON_HAND,
                detail=(
                    f"Bin {row.bin.code} holds {row.quantity} of {row.sku.code} that nothing "
                    f"supports: {'; '.join(reasons)}. Count the bin."
                ),
                sku=row.sku,
                bin=row.bin,
                quantity=row.quantity,
                count=True,
            )
        )
    lines = (
        PurchaseOrderLine.objects.filter(
            sku__active=False,
            po__status__in=[PurchaseOrder.Status.DRAFT, *PurchaseOrder.OPEN],
        )
        .select_related("po", "sku")
        .order_by("po_id", "sku__code")
    )
    found += [
        GhostRow(
            key=f"ghost:po-line:{line.po.number}:{line.sku.code}",
            fact=Fact.CATALOG,
            detail=(
                f"{line.po.number} ({line.po.get_status_display().lower()}) orders "
                f"{line.ordered} of {line.sku.code}, which the catalog no longer has."
            ),
            sku=line.sku,
            quantity=line.outstanding,
        )
        for line in lines
    ]
    policies = (
        ReorderPolicy.objects.filter(sku__active=False).select_related("sku").order_by("sku__code")
    )
    found += [
        GhostRow(
            key=f"ghost:policy:{policy.sku.code}",
            fact=Fact.CATALOG,
            detail=(
                f"A reorder policy exists for {policy.sku.code}, which the catalog no longer has."
            ),
            sku=policy.sku,
        )
        for policy in policies
    ]
    return found
