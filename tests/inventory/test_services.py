import pytest
from django.db import IntegrityError, transaction

from inventory.exceptions import InsufficientStock, InvalidMovement
from inventory.models import LedgerImmutable, OnHand, StockMovement
from inventory.services import on_hand_adjust, on_hand_transfer
from tests.factories import BinFactory, SkuFactory, SystemFactory

Kind = StockMovement.Kind


def _ship(bin, sku, shelf, qty, event):
    return on_hand_adjust(
        bin=bin, sku=sku, delta=-qty, kind=Kind.SHIP, source_system=shelf, source_event_id=event
    )


def test_on_hand_adjust_receive_creates_balance_and_ledger_row(bin, sku, shelf):
    move = on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=5,
        kind=Kind.RECEIVE,
        source_system=shelf,
        source_event_id="po-1",
        reference="PO-1",
        note="first delivery",
    )
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 5
    assert move.balance_after == 5
    assert (move.kind, move.quantity, move.reference) == (Kind.RECEIVE, 5, "PO-1")
    assert StockMovement.objects.count() == 1


def test_on_hand_adjust_records_balance_after_each_movement(stocked_bin, sku, shelf):
    first = _ship(stocked_bin, sku, shelf, 3, "o-1")
    second = _ship(stocked_bin, sku, shelf, 2, "o-2")
    assert (first.balance_after, second.balance_after) == (7, 5)


def test_on_hand_adjust_rejects_negative_balance_and_writes_nothing(stocked_bin, sku, shelf):
    with pytest.raises(InsufficientStock) as raised:
        _ship(stocked_bin, sku, shelf, 11, "o-big")
    assert raised.value.short_by == 1
    assert "A-14 holds 10 of SKU-1" in str(raised.value)
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 10
    assert not StockMovement.objects.filter(source_event_id="o-big").exists()


def test_on_hand_adjust_rejects_taking_from_a_bin_that_never_held_the_sku(bin, shelf):
    other = SkuFactory()
    with pytest.raises(InsufficientStock):
        _ship(bin, other, shelf, 1, "o-none")
    assert not OnHand.objects.filter(sku=other).exists()
    assert not StockMovement.objects.filter(sku=other).exists()


def test_on_hand_adjust_replay_returns_first_result_and_changes_nothing(stocked_bin, sku, shelf):
    first = _ship(stocked_bin, sku, shelf, 4, "order-77")
    again = _ship(stocked_bin, sku, shelf, 4, "order-77")
    assert again.pk == first.pk
    assert (first.replayed, again.replayed) == (False, True)
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 6
    assert StockMovement.objects.filter(source_event_id="order-77").count() == 1


def test_on_hand_adjust_same_event_id_from_another_system_is_another_event(stocked_bin, sku, shelf):
    scanner = SystemFactory(name="scanner-1")
    _ship(stocked_bin, sku, shelf, 1, "evt-1")
    _ship(stocked_bin, sku, scanner, 1, "evt-1")
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 8


def test_on_hand_adjust_replay_inside_outer_transaction_keeps_it_usable(stocked_bin, sku, shelf):
    with transaction.atomic():
        _ship(stocked_bin, sku, shelf, 1, "evt-a")
        _ship(stocked_bin, sku, shelf, 1, "evt-a")
        _ship(stocked_bin, sku, shelf, 1, "evt-b")
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 8


@pytest.mark.parametrize("delta", [0, 1.5, True])
def test_on_hand_adjust_rejects_non_whole_or_zero_units(bin, sku, shelf, delta):
    with pytest.raises(InvalidMovement):
        on_hand_adjust(
            bin=bin, sku=sku, delta=delta, kind=Kind.RECEIVE, source_system=shelf,
            source_event_id="x",
        )  # fmt: skip
    assert not StockMovement.objects.exists()


def test_on_hand_adjust_requires_a_source_event_id(bin, sku, shelf):
    with pytest.raises(InvalidMovement):
        on_hand_adjust(
            bin=bin, sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf, source_event_id=""
        )


def test_on_hand_adjust_refuses_stock_into_an_inactive_bin(sku, shelf):
    closed = BinFactory(active=False)
    with pytest.raises(InvalidMovement, match="inactive"):
        on_hand_adjust(
            bin=closed, sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf,
            source_event_id="r",
        )  # fmt: skip


def test_on_hand_transfer_writes_two_legs_in_one_transaction(stocked_bin, sku, shelf):
    to_bin = BinFactory(code="B-02")
    out, into = on_hand_transfer(
        from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=4, source_system=shelf,
        source_event_id="t-1",
    )  # fmt: skip
    assert (out.quantity, out.balance_after, out.leg) == (-4, 6, 0)
    assert (into.quantity, into.balance_after, into.leg) == (4, 4, 1)
    assert OnHand.objects.get(bin=to_bin, sku=sku).quantity == 4


def test_on_hand_transfer_short_source_writes_neither_leg(stocked_bin, sku, shelf):
    to_bin = BinFactory(code="B-03")
    with pytest.raises(InsufficientStock):
        on_hand_transfer(
            from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=11, source_system=shelf,
            source_event_id="t-2",
        )  # fmt: skip
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 10
    assert not OnHand.objects.filter(bin=to_bin, sku=sku, quantity__gt=0).exists()
    assert not StockMovement.objects.filter(source_event_id="t-2").exists()


def test_on_hand_transfer_replay_changes_nothing(stocked_bin, sku, shelf):
    to_bin = BinFactory(code="B-04")
    args = dict(
        from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=3, source_system=shelf,
        source_event_id="t-3",
    )  # fmt: skip
    on_hand_transfer(**args)
    on_hand_transfer(**args)
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 7
    assert OnHand.objects.get(bin=to_bin, sku=sku).quantity == 3


def test_on_hand_transfer_refuses_same_bin(stocked_bin, sku, shelf):
    with pytest.raises(InvalidMovement):
        on_hand_transfer(
            from_bin=stocked_bin, to_bin=stocked_bin, sku=sku, quantity=1, source_system=shelf,
            source_event_id="t-4",
        )  # fmt: skip


def test_ledger_row_refuses_update_and_delete(stocked_bin, sku):
    move = StockMovement.objects.get(sku=sku)
    move.note = "edited"
    with pytest.raises(LedgerImmutable):
        move.save()
    with pytest.raises(LedgerImmutable):
        move.delete()
    with pytest.raises(LedgerImmutable):
        StockMovement.objects.filter(pk=move.pk).update(note="edited")
    with pytest.raises(LedgerImmutable):
        StockMovement.objects.filter(pk=move.pk).delete()
    assert StockMovement.objects.get(pk=move.pk).note == ""


def test_on_hand_quantity_below_zero_is_refused_by_the_database(stocked_bin, sku):
    with pytest.raises(IntegrityError), transaction.atomic():
        OnHand.objects.filter(bin=stocked_bin, sku=sku).update(quantity=-1)


def test_on_hand_one_row_per_bin_and_sku_is_a_database_constraint(stocked_bin, sku):
    with pytest.raises(IntegrityError), transaction.atomic():
        OnHand.objects.create(bin=stocked_bin, sku=sku)


def test_on_hand_adjust_at_records_when_a_historical_movement_happened(bin, sku, shelf):
    from datetime import timedelta

    from django.utils import timezone

    then = timezone.now() - timedelta(days=20)
    move = on_hand_adjust(bin=bin, sku=sku, delta=3, kind=Kind.RECEIVE, source_system=shelf,
                          source_event_id="history-1", at=then)  # fmt: skip
    assert StockMovement.objects.get(pk=move.pk).created_at == then
    live = on_hand_adjust(bin=bin, sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf,
                          source_event_id="live-1")  # fmt: skip
    assert live.created_at > then
