"""What only PostgreSQL shows: double submissions racing each other at the dock."""

import pytest

from inventory.models import Bin, StockMovement
from inventory.selectors import ledger_mismatches, on_hand_total
from replenishment.models import PurchaseOrder, PurchaseOrderLine, Receipt
from replenishment.services import purchase_order_draft, purchase_order_line_receive
from tests.factories import BinFactory, SkuFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    SupplierFactory,
    shelf_counted,
)
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_receipt_submitted_six_times_at_once_is_booked_once(postgres):
    bin, sku = BinFactory(), SkuFactory()
    line = PurchaseOrderLineFactory(po=PurchaseOrderFactory(status="sent"), sku=sku, ordered=10)

    def submit(i):
        return purchase_order_line_receive(
            line=PurchaseOrderLine.objects.get(pk=line.pk), bin=Bin.objects.get(pk=bin.pk),
            units=4, key="same-key-0001",
        )  # fmt: skip

    results = in_threads(6, submit)

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.receipt.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert on_hand_total(sku=sku) == 4
    assert PurchaseOrderLine.objects.get(pk=line.pk).received == 4
    assert Receipt.objects.count() == 1 and StockMovement.objects.count() == 1


def test_different_receipts_of_one_line_at_once_all_count(postgres):
    bin, sku = BinFactory(), SkuFactory()
    line = PurchaseOrderLineFactory(po=PurchaseOrderFactory(status="sent"), sku=sku, ordered=10)

    def submit(i):
        return purchase_order_line_receive(
            line=PurchaseOrderLine.objects.get(pk=line.pk), bin=Bin.objects.get(pk=bin.pk),
            units=2, key=f"key-{i:08}",
        )  # fmt: skip

    results = in_threads(6, submit)

    assert all(not isinstance(r, Exception) for r in results), results
    assert PurchaseOrderLine.objects.get(pk=line.pk).received == 12
    assert on_hand_total(sku=sku) == 12
    # Exactly one receipt took the line past its order, and only it recorded the excess.
    over = [r.mismatch for r in results if r.mismatch]
    assert [(d.owner_value, d.consumer_value) for d in over] == [(10, 12)]
    assert PurchaseOrder.objects.get().status == "received"
    assert ledger_mismatches() == []


def test_one_draft_submitted_four_times_at_once_makes_one_set_of_orders(postgres):
    skus = [SkuFactory() for _ in range(3)]
    shelf_counted(*skus)  # empty shelves, counted: their 0 is known
    supplier = SupplierFactory()
    for sku in skus:
        ReorderPolicyFactory(sku=sku, supplier=supplier, safety_stock_days=None,
                             safety_stock_units=5)  # fmt: skip

    def submit(i):
        return purchase_order_draft(sku_ids=[s.pk for s in skus], request_key="draft-race-1")

    results = in_threads(4, submit)

    assert all(not isinstance(r, Exception) for r in results), results
    assert PurchaseOrder.objects.count() == 1
    assert PurchaseOrderLine.objects.count() == 3
    assert {r.orders[0].pk for r in results} == {PurchaseOrder.objects.get().pk}
