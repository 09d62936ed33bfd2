"""Reads of transfers between warehouses, and of what is in transit (replenishment's fact).

In transit is what is on its way and still the company's: open purchase orders' outstanding
units and dispatched transfers' units not yet received. Per warehouse, a transfer counts
toward the warehouse it goes to, and a purchase order toward the default warehouse
(purchase orders name no warehouse yet). In total a dispatched transfer still counts: its
units left on-hand, so on-hand plus in transit is the same before and after it.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Prefetch, QuerySet, Sum

from inventory import selectors as inventory_selectors
from inventory.models import Warehouse
from replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Transfer,
    TransferLine,
    TransferReceipt,
)


def in_transit_by_sku(*, warehouse: Warehouse | int | None = None) -> dict[int, int]:
    """Units in transit per SKU id (SKUs with none are absent), toward one warehouse or in
    total; two grouped queries whatever the number of orders and transfers."""
    warehouse_id = warehouse.pk if isinstance(warehouse, Warehouse) else warehouse
    totals: dict[int, int] = defaultdict(int)
    default = inventory_selectors.default_warehouse() if warehouse_id is not None else None
    if warehouse_id is None or (default is not None and default.pk == warehouse_id):
        ordered = (
            PurchaseOrderLine.objects.filter(
                po__status__in=PurchaseOrder.OPEN, ordered__gt=F("received")
            )
            .values("sku_id")
            .annotate(units=Sum(F("ordered") - F("received")))
            .values_list("sku_id", "units")
        )
        for sku_id, units in ordered:
            totals[sku_id] += units
    moving = TransferLine.objects.filter(
        transfer__status__in=Transfer.OPEN, quantity__gt=F("received")
    )
    if warehouse_id is not None:
        moving = moving.filter(transfer__to_warehouse_id=warehouse_id)
    sent = (
        moving.values("sku_id")
        .annotate(units=Sum(F("quantity") - F("received")))
        .values_list("sku_id", "units")
    )
    for sku_id, units in sent:
        totals[sku_id] += units
    return dict(totals)


def transfers_for_list(*, status: str = "") -> QuerySet[Transfer]:
    """Transfers, newest first, with their warehouses (one query a page)."""
    qs = Transfer.objects.select_related("from_warehouse", "to_warehouse").order_by("-id")
    if status == "open":
        qs = qs.filter(status__in=Transfer.OPEN)
    elif status:
        qs = qs.filter(status=status)
    return qs


def transfers_to_receive() -> QuerySet[Transfer]:
    """Dispatched transfers not fully received, the oldest dispatched first (the dock's list)."""
    return (
        Transfer.objects.filter(status__in=Transfer.OPEN)
        .select_related("from_warehouse", "to_warehouse")
        .order_by("dispatched_at", "id")
    )


def transfer_with_lines(*, number: str) -> Transfer | None:
    """One transfer with its warehouses, lines, their SKUs and bins (two queries)."""
    lines = TransferLine.objects.select_related("sku", "from_bin").order_by(
        "sku__code", "from_bin__code"
    )
    return (
        Transfer.objects.select_related("from_warehouse", "to_warehouse", "created_by")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .filter(number__iexact=number.strip())
        .first()
    )


def transfer_receipts(*, transfer: Transfer, limit: int = 50) -> QuerySet[TransferReceipt]:
    return (
        TransferReceipt.objects.filter(line__transfer=transfer)
        .select_related("line__sku", "bin", "actor")
        .order_by("-id")[:limit]
    )
