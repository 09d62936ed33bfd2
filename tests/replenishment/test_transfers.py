"""Transfers between warehouses: drafted, dispatched all or nothing, received by scanning at
the other end; in transit in between, so on-hand plus in transit never changes in total."""

import pytest
from django.core.management import call_command

from inventory import selectors as inventory_selectors
from inventory.models import Bin, Discrepancy, OnHand, StockMovement
from inventory.selectors import ledger_mismatches, on_hand_total
from inventory.services import on_hand_adjust
from replenishment.exceptions import TransferRefused
from replenishment.models import Transfer, TransferLine, TransferReceipt
from replenishment.selectors import coverage_for_sku, in_transit_by_sku
from replenishment.services.transfers import (
    LineDraft,
    transfer_cancel,
    transfer_close,
    transfer_create,
    transfer_dispatch,
    transfer_line_receive,
)
from tests.factories import BinFactory, SkuFactory, WarehouseFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    shelf_counted,
)

Kind = StockMovement.Kind


def _put(bin, sku, units, shelf, event):
    on_hand_adjust(
        bin=bin, sku=sku, delta=units, kind=Kind.RECEIVE, source_system=shelf,
        source_event_id=event,
    )  # fmt: skip


@pytest.fixture
def site(db, shelf):
    """MAIN's A-14 holds 10 of MUG-1 and 3 of CUP-1; WH-2 has the empty bin B-01."""
    main = inventory_selectors.default_warehouse()
    wh2 = WarehouseFactory(code="WH-2", name="Shop")
    mug, cup = SkuFactory(code="MUG-1"), SkuFactory(code="CUP-1")
    a14, b01 = BinFactory(code="A-14"), BinFactory(code="B-01", warehouse=wh2)
    _put(a14, mug, 10, shelf, "seed-mug")
    _put(a14, cup, 3, shelf, "seed-cup")
    return {"main": main, "wh2": wh2, "mug": mug, "cup": cup, "a14": a14, "b01": b01}


def _draft(site, *lines, **kwargs):
    return transfer_create(
        from_warehouse=site["main"],
        to_warehouse=site["wh2"],
        lines=[LineDraft(sku=s, from_bin=b, quantity=q) for s, b, q in lines]
        or [LineDraft(sku=site["mug"], from_bin=site["a14"], quantity=4)],
        **kwargs,
    )


def _total(sku) -> int:
    """The company's units of the SKU: on the shelf anywhere, plus in transit."""
    return on_hand_total(sku=sku) + in_transit_by_sku().get(sku.pk, 0)


# --- drafting --------------------------------------------------------------------------


def test_transfer_create_drafts_lines_and_moves_nothing(site):
    transfer = _draft(site)

    assert transfer.number == f"TR-{transfer.pk:05d}"
    assert transfer.status == Transfer.Status.DRAFT
    line = transfer.lines.get()
    assert (line.sku, line.from_bin, line.quantity, line.received) == (
        site["mug"], site["a14"], 4, 0,
    )  # fmt: skip
    assert on_hand_total(sku=site["mug"]) == 10
    assert in_transit_by_sku() == {}


def test_transfer_create_replayed_form_returns_the_first_draft(site):
    first = _draft(site, request_key="form-0001")
    again = _draft(site, request_key="form-0001")

    assert again.pk == first.pk and again.replayed and not first.replayed
    assert Transfer.objects.count() == 1 and TransferLine.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ("same_warehouse", "to_warehouse", "goes to another warehouse"),
        ("other_bin", "from_bin", "Bin B-01 is not in MAIN"),
        ("inactive_bin", "from_bin", "Bin A-14 is inactive"),
        ("inactive_sku", "sku", "MUG-1 is no longer in the catalog"),
        ("zero", "quantity", "whole number of units"),
        ("bool", "quantity", "whole number of units"),
        ("fraction", "quantity", "whole number of units"),
    ],
)
def test_transfer_create_refuses_bad_input_at_its_field_and_creates_nothing(
    site, change, field, message
):
    to, bin, quantity = site["wh2"], site["a14"], 4
    if change == "same_warehouse":
        to = site["main"]
    elif change == "other_bin":
        bin = site["b01"]
    elif change == "inactive_bin":
        Bin.objects.filter(pk=bin.pk).update(active=False)
        bin.refresh_from_db()
    elif change == "inactive_sku":
        site["mug"].active = False
        site["mug"].save()
    else:
        quantity = {"zero": 0, "bool": True, "fraction": 1.5}[change]

    with pytest.raises(TransferRefused) as refused:
        transfer_create(
            from_warehouse=site["main"], to_warehouse=to,
            lines=[LineDraft(sku=site["mug"], from_bin=bin, quantity=quantity)],
        )  # fmt: skip

    assert refused.value.field == field
    assert message in str(refused.value)
    assert not Transfer.objects.exists()


def test_transfer_create_names_the_line_at_fault(site):
    with pytest.raises(TransferRefused) as refused:
        _draft(site, (site["mug"], site["a14"], 2), (site["cup"], site["b01"], 1))
    assert (refused.value.line, refused.value.field) == (1, "from_bin")


def test_the_database_refuses_a_transfer_to_its_own_warehouse(site):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(number="TR-X", from_warehouse=site["main"],
                                to_warehouse=site["main"])  # fmt: skip


# --- dispatch --------------------------------------------------------------------------


def test_transfer_dispatch_takes_every_line_out_and_puts_it_in_transit(site):
    transfer = _draft(site, (site["mug"], site["a14"], 4), (site["cup"], site["a14"], 3))

    transfer = transfer_dispatch(transfer=transfer)

    assert transfer.status == Transfer.Status.IN_TRANSIT and transfer.dispatched_at
    assert on_hand_total(sku=site["mug"]) == 6 and on_hand_total(sku=site["cup"]) == 0
    assert in_transit_by_sku() == {site["mug"].pk: 4, site["cup"].pk: 3}
    assert in_transit_by_sku(warehouse=site["wh2"]) == {site["mug"].pk: 4, site["cup"].pk: 3}
    assert in_transit_by_sku(warehouse=site["main"]) == {}
    moves = StockMovement.objects.filter(reference=transfer.number)
    assert sorted((m.kind, m.quantity) for m in moves) == [(Kind.TRANSFER, -4), (Kind.TRANSFER, -3)]


def test_transfer_dispatch_is_all_or_nothing_and_names_the_short_line(site):
    transfer = _draft(site, (site["mug"], site["a14"], 4), (site["cup"], site["a14"], 5))
    movements = StockMovement.objects.count()

    with pytest.raises(TransferRefused) as refused:
        transfer_dispatch(transfer=transfer)

    assert "CUP-1 from bin A-14 needs 5, the bin holds 3" in str(refused.value)
    assert StockMovement.objects.count() == movements
    assert on_hand_total(sku=site["mug"]) == 10 and on_hand_total(sku=site["cup"]) == 3
    assert Transfer.objects.get(pk=transfer.pk).status == Transfer.Status.DRAFT
    assert in_transit_by_sku() == {}


def test_transfer_dispatch_twice_moves_the_units_once(site):
    transfer = _draft(site)
    transfer_dispatch(transfer=transfer)
    again = transfer_dispatch(transfer=Transfer.objects.get(pk=transfer.pk))

    assert again.status == Transfer.Status.IN_TRANSIT
    assert on_hand_total(sku=site["mug"]) == 6
    assert StockMovement.objects.filter(reference=transfer.number).count() == 1


def test_transfer_cancel_only_a_draft(site):
    draft = _draft(site)
    assert transfer_cancel(transfer=draft).status == Transfer.Status.CANCELLED
    assert transfer_cancel(transfer=draft).status == Transfer.Status.CANCELLED  # twice: same
    with pytest.raises(TransferRefused, match="only a draft is dispatched"):
        transfer_dispatch(transfer=draft)

    sent = transfer_dispatch(transfer=_draft(site))
    with pytest.raises(TransferRefused, match="only a draft is cancelled"):
        transfer_cancel(transfer=sent)
    assert Transfer.objects.get(pk=sent.pk).status == Transfer.Status.IN_TRANSIT
    assert on_hand_total(sku=site["mug"]) == 6


# --- receipt ---------------------------------------------------------------------------


def test_transfer_line_receive_in_parts_then_received(site):
    transfer = transfer_dispatch(transfer=_draft(site))
    line = transfer.lines.get()

    first = transfer_line_receive(line=line, bin=site["b01"], units=3, key="scan-0001")
    assert first.line.received == 3 and not first.mismatch
    assert Transfer.objects.get(pk=transfer.pk).status == Transfer.Status.PARTIALLY_RECEIVED
    assert in_transit_by_sku(warehouse=site["wh2"]) == {site["mug"].pk: 1}
    assert on_hand_total(sku=site["mug"], warehouse=site["wh2"]) == 3

    transfer_line_receive(line=line, bin=site["b01"], units=1, key="scan-0002")
    transfer = Transfer.objects.get(pk=transfer.pk)
    assert transfer.status == Transfer.Status.RECEIVED and transfer.closed_at
    assert in_transit_by_sku() == {}
    assert on_hand_total(sku=site["mug"], warehouse=site["wh2"]) == 4
    assert on_hand_total(sku=site["mug"]) == 10


def test_transfer_line_receive_replayed_scan_changes_nothing(site):
    line = transfer_dispatch(transfer=_draft(site)).lines.get()
    first = transfer_line_receive(line=line, bin=site["b01"], units=2, key="scan-0001")
    again = transfer_line_receive(line=line, bin=site["b01"], units=2, key="scan-0001")

    assert again.replayed and again.receipt.pk == first.receipt.pk
    assert TransferLine.objects.get(pk=line.pk).received == 2
    assert OnHand.objects.get(bin=site["b01"], sku=site["mug"]).quantity == 2


def test_transfer_line_receive_refuses_a_bin_of_another_warehouse(site):
    line = transfer_dispatch(transfer=_draft(site)).lines.get()

    with pytest.raises(TransferRefused) as refused:
        transfer_line_receive(line=line, bin=site["a14"], units=2, key="scan-0001")

    assert refused.value.field == "bin" and "Bin A-14 is not in WH-2" in str(refused.value)
    assert TransferLine.objects.get(pk=line.pk).received == 0
    assert not TransferReceipt.objects.exists()
    assert on_hand_total(sku=site["mug"]) == 6


def test_transfer_line_receive_refuses_a_draft(site):
    line = _draft(site).lines.get()
    with pytest.raises(TransferRefused, match="nothing can be received"):
        transfer_line_receive(line=line, bin=site["b01"], units=1, key="scan-0001")
    assert not TransferReceipt.objects.exists()


def test_transfer_line_receive_creates_a_new_bin_in_the_receiving_warehouse(site):
    line = transfer_dispatch(transfer=_draft(site)).lines.get()

    outcome = transfer_line_receive(line=line, bin="C-07", units=4, key="scan-0001")

    assert outcome.receipt.bin.code == "C-07"
    assert Bin.objects.get(code="C-07").warehouse == site["wh2"]


def test_transfer_line_receive_over_what_was_sent_is_booked_and_recorded(site):
    line = transfer_dispatch(transfer=_draft(site)).lines.get()

    outcome = transfer_line_receive(line=line, bin=site["b01"], units=6, key="scan-0001")

    assert outcome.line.received == 6
    assert on_hand_total(sku=site["mug"], warehouse=site["wh2"]) == 6
    d = outcome.mismatch
    assert (d.kind, d.owner_value, d.consumer_value) == (
        Discrepancy.Kind.RECEIPT_MISMATCH, 4, 6,
    )  # fmt: skip
    assert "2 more than sent" in d.detail and "Count bin A-14 of MAIN" in d.detail
    assert Transfer.objects.get(pk=line.transfer_id).status == Transfer.Status.RECEIVED
    assert in_transit_by_sku() == {}


def test_transfer_close_records_what_never_arrived_and_ends_its_transit(site):
    transfer = transfer_dispatch(transfer=_draft(site))
    transfer_line_receive(line=transfer.lines.get(), bin=site["b01"], units=3, key="scan-0001")

    closed, short = transfer_close(transfer=transfer)

    assert closed.status == Transfer.Status.RECEIVED and closed.closed_at
    assert [(d.kind, d.owner_value, d.consumer_value) for d in short] == [
        (Discrepancy.Kind.RECEIPT_MISMATCH, 4, 3)
    ]
    assert "closed short" in short[0].detail and "(1 never arrived)" in short[0].detail
    assert in_transit_by_sku() == {}
    assert transfer_close(transfer=closed) == (closed, [])  # twice: nothing more recorded
    assert Discrepancy.objects.filter(reference=transfer.number).count() == 1


def test_transfer_close_refuses_a_draft(site):
    draft = _draft(site)
    with pytest.raises(TransferRefused, match="only a dispatched transfer is closed"):
        transfer_close(transfer=draft)
    assert Transfer.objects.get(pk=draft.pk).status == Transfer.Status.DRAFT


# --- the ledger and coverage -------------------------------------------------------------


def test_on_hand_plus_in_transit_is_constant_through_dispatch_and_receipt(site):
    PurchaseOrderLineFactory(po=PurchaseOrderFactory(status="sent"), sku=site["mug"], ordered=5)
    before = _total(site["mug"])
    assert before == 15

    transfer = transfer_dispatch(transfer=_draft(site))
    assert _total(site["mug"]) == before
    # Per warehouse: the order counts toward the default warehouse, the transfer toward WH-2.
    assert in_transit_by_sku(warehouse=site["main"]) == {site["mug"].pk: 5}
    assert in_transit_by_sku(warehouse=site["wh2"]) == {site["mug"].pk: 4}

    line = transfer.lines.get()
    transfer_line_receive(line=line, bin=site["b01"], units=1, key="scan-0001")
    assert _total(site["mug"]) == before
    transfer_line_receive(line=line, bin="B-02", units=3, key="scan-0002")
    assert _total(site["mug"]) == before

    assert ledger_mismatches() == []
    call_command("verify_ledger", "--no-record")  # raises CommandError on any mismatch


def test_coverage_in_total_is_the_same_before_dispatch_after_it_and_after_receipt(site):
    mug = site["mug"]
    shelf_counted(mug)
    ReorderPolicyFactory(sku=mug, safety_stock_days=None, safety_stock_units=12)

    def figures():
        c = coverage_for_sku(sku=mug)
        return (c.position, c.in_transit + c.on_hand, c.suggested, c.urgency)

    before = figures()
    assert before[0] == 10 and before[2] == 2  # 10 on the shelf, up to 12: order 2

    transfer = transfer_dispatch(transfer=_draft(site))
    after_dispatch = coverage_for_sku(sku=mug)
    assert (after_dispatch.on_hand, after_dispatch.in_transit) == (6, 4)
    assert figures() == before

    transfer_line_receive(line=transfer.lines.get(), bin=site["b01"], units=4, key="scan-0001")
    assert figures() == before
