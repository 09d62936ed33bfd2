"""The shelf's movement rules in one validator, the replay checks inside the write path, the
count lock and the reads the apps above inventory use instead of querying OnHand."""

import re
from pathlib import Path

import pytest

from inventory import selectors
from inventory.exceptions import EventIdReused, InvalidMovement, MovementRefused
from inventory.models import OnHand, StockMovement
from inventory.services import (
    movement_check,
    on_hand_adjust,
    on_hand_lock_for_count,
    on_hand_transfer,
)
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
ROOT = Path(__file__).resolve().parents[2]


def _receive(bin, sku, shelf, units, event):
    return on_hand_adjust(
        bin=bin, sku=sku, delta=units, kind=Kind.RECEIVE, source_system=shelf,
        source_event_id=event,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bin_active", "sku_active", "delta", "kind", "field", "code", "words"),
    [
        (True, True, 0, Kind.RECEIVE, "quantity", "invalid_movement", "whole, non-zero"),
        (True, True, 1.5, Kind.RECEIVE, "quantity", "invalid_movement", "whole, non-zero"),
        (True, True, True, Kind.RECEIVE, "quantity", "invalid_movement", "whole, non-zero"),
        (False, True, 2, Kind.RECEIVE, "bin", "invalid_movement", "is inactive; put the"),
        (False, True, 2, Kind.COUNT_ADJUST, "bin", "invalid_movement", "is inactive; put"),
        (True, False, 2, Kind.RECEIVE, "sku", "inactive_sku", "no longer in the catalog"),
    ],
)
def test_movement_check_names_the_field_of_each_rule(
    db, bin_active, sku_active, delta, kind, field, code, words
):
    bin, sku = BinFactory(active=bin_active), SkuFactory(active=sku_active)
    with pytest.raises(MovementRefused, match=words) as refused:
        movement_check(bin=bin, sku=sku, delta=delta, kind=kind)
    assert (refused.value.field, refused.value.code) == (field, code)
    assert isinstance(refused.value, InvalidMovement)


def test_movement_check_lets_units_out_of_an_inactive_bin_and_an_inactive_sku_ship(db):
    bin, sku = BinFactory(active=False), SkuFactory(active=False)
    movement_check(bin=bin, sku=sku, delta=-2, kind=Kind.SHIP)
    movement_check(bin=BinFactory(), sku=sku, delta=3, kind=Kind.COUNT_ADJUST)


def test_on_hand_adjust_refuses_receiving_an_inactive_sku_and_writes_nothing(bin, shelf):
    retired = SkuFactory(active=False)
    with pytest.raises(MovementRefused, match="no longer in the catalog"):
        _receive(bin, retired, shelf, 4, "r-1")
    assert not StockMovement.objects.exists()
    assert not OnHand.objects.filter(sku=retired, quantity__gt=0).exists()


def test_a_replay_answers_with_the_first_movement_even_when_the_rules_now_refuse_it(
    bin, sku, shelf
):
    first = _receive(bin, sku, shelf, 4, "r-1")
    sku.active = False
    sku.save(update_fields=["active"])
    again = _receive(bin, sku, shelf, 4, "r-1")
    assert again.replayed and again.pk == first.pk
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 4
    with pytest.raises(MovementRefused):
        _receive(bin, sku, shelf, 4, "r-2")


def test_an_event_id_reused_for_another_movement_is_refused(bin, sku, shelf):
    first = _receive(bin, sku, shelf, 4, "r-1")
    with pytest.raises(EventIdReused, match="event id of its own") as refused:
        _receive(bin, sku, shelf, 5, "r-1")
    assert refused.value.movement.pk == first.pk and refused.value.event_id == "r-1"
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 4
    assert StockMovement.objects.count() == 1


def test_on_hand_transfer_replay_and_reuse_are_decided_before_anything_else(
    stocked_bin, sku, shelf
):
    to_bin = BinFactory(code="B-02")
    legs = on_hand_transfer(
        from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=3, source_system=shelf,
        source_event_id="t-1",
    )  # fmt: skip
    to_bin.active = False
    to_bin.save(update_fields=["active"])
    again = on_hand_transfer(
        from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=3, source_system=shelf,
        source_event_id="t-1",
    )  # fmt: skip
    assert [m.pk for m in again] == [m.pk for m in legs] and all(m.replayed for m in again)
    with pytest.raises(EventIdReused):
        on_hand_transfer(
            from_bin=stocked_bin, to_bin=to_bin, sku=sku, quantity=2, source_system=shelf,
            source_event_id="t-1",
        )  # fmt: skip
    assert OnHand.objects.get(bin=to_bin, sku=sku).quantity == 3
    assert StockMovement.objects.filter(kind=Kind.TRANSFER).count() == 2


def test_on_hand_lock_for_count_reads_the_bins_balances_by_sku(stocked_bin, sku, shelf):
    other, absent = SkuFactory(), SkuFactory()
    _receive(stocked_bin, other, shelf, 2, "r-1")
    _receive(BinFactory(), absent, shelf, 7, "r-2")
    locked = on_hand_lock_for_count(bin=stocked_bin, sku_ids=[sku.pk, other.pk, absent.pk])
    assert locked == {sku.pk: 10, other.pk: 2}


def test_shelf_system_is_the_shelf(shelf, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert selectors.shelf_system() == shelf


def test_on_hand_unsupported_finds_stock_nothing_supports(stocked_bin, sku, shelf):
    assert list(selectors.on_hand_unsupported()) == []
    stocked_bin.active = False
    stocked_bin.save(update_fields=["active"])
    rows = list(selectors.on_hand_unsupported())
    assert [(r.bin, r.sku, r.has_ledger) for r in rows] == [(stocked_bin, sku, True)]


def test_the_apps_above_inventory_never_query_the_shelf_rows_themselves():
    """Inventory owns its reads, its lock and the shelf system (issue 20, point 3)."""
    found = []
    for app in ("returns", "replenishment", "driftwalks"):
        for file in sorted((ROOT / app).rglob("*.py")):
            text = file.read_text()
            for pattern in (r"OnHand\.objects", r"System\.objects\.get\(name=\"shelf\"\)"):
                found += [
                    f"{file.relative_to(ROOT)}: {pattern}" for _ in re.finditer(pattern, text)
                ]
    assert found == []
