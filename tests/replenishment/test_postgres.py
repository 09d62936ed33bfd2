"""What only PostgreSQL shows: double submissions racing each other at the dock, and
transfers dispatched or received twice at once."""

import pytest

from inventory.models import Bin, StockMovement
from inventory.selectors import default_warehouse, ledger_mismatches, on_hand_total
from inventory.services import on_hand_adjust
from replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Transfer,
    TransferLine,
    TransferReceipt,
)
from replenishment.selectors import in_transit_by_sku
from replenishment.services import purchase_order_draft, purchase_order_line_receive
from replenishment.services.transfers import (
    LineDraft,
    transfer_create,
    transfer_dispatch,
    transfer_line_receive,
)
from tests.factories import BinFactory, SkuFactory, WarehouseFactory
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


def _transfer_of_mugs(shelf, *, units: int = 4):
    """MAIN's A-14 holds 10 of MUG-1; a draft transfer takes ``units`` of them to WH-2."""
    wh2 = WarehouseFactory(code="WH-2")
    a14, sku = BinFactory(code="A-14"), SkuFactory(code="MUG-1")
    on_hand_adjust(bin=a14, sku=sku, delta=10, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="seed")  # fmt: skip
    transfer = transfer_create(
        from_warehouse=default_warehouse(), to_warehouse=wh2,
        lines=[LineDraft(sku=sku, from_bin=a14, quantity=units)],
    )  # fmt: skip
    return transfer, sku, a14, BinFactory(code="B-01", warehouse=wh2)


def test_two_dispatches_of_one_transfer_at_once_move_the_units_once(postgres, shelf):
    transfer, sku, a14, _ = _transfer_of_mugs(shelf)

    results = in_threads(2, lambda i: transfer_dispatch(
        transfer=Transfer.objects.get(pk=transfer.pk)))  # fmt: skip

    assert all(not isinstance(r, Exception) for r in results), results
    assert {r.status for r in results} == {"in_transit"}
    assert on_hand_total(sku=sku) == 6
    assert in_transit_by_sku() == {sku.pk: 4}
    assert StockMovement.objects.filter(reference=transfer.number).count() == 1
    assert ledger_mismatches() == []


def test_dispatches_racing_for_one_bin_never_take_more_than_it_holds(postgres, shelf):
    """Two transfers of 7 from a bin of 10: one is dispatched, the other moves nothing."""
    first, sku, a14, _ = _transfer_of_mugs(shelf, units=7)
    second = transfer_create(
        from_warehouse=first.from_warehouse, to_warehouse=first.to_warehouse,
        lines=[LineDraft(sku=sku, from_bin=a14, quantity=7)],
    )  # fmt: skip
    ids = [first.pk, second.pk]

    results = in_threads(2, lambda i: transfer_dispatch(transfer=Transfer.objects.get(pk=ids[i])))

    assert sorted(type(r).__name__ for r in results) == ["Transfer", "TransferRefused"]
    assert on_hand_total(sku=sku) == 3
    statuses = sorted(Transfer.objects.values_list("status", flat=True))
    assert statuses == ["draft", "in_transit"]
    assert ledger_mismatches() == []


def test_one_transfer_scan_submitted_four_times_at_once_is_booked_once(postgres, shelf):
    transfer, sku, _, b01 = _transfer_of_mugs(shelf)
    line = transfer_dispatch(transfer=transfer).lines.get()

    results = in_threads(4, lambda i: transfer_line_receive(
        line=TransferLine.objects.get(pk=line.pk), bin=Bin.objects.get(pk=b01.pk),
        units=4, key="same-scan-0001"))  # fmt: skip

    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert TransferReceipt.objects.count() == 1
    assert on_hand_total(sku=sku, warehouse=b01.warehouse) == 4
    assert Transfer.objects.get(pk=transfer.pk).status == "received"
    assert ledger_mismatches() == []
