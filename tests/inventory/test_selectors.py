import pytest

from inventory import selectors
from inventory.models import AuthorityConflict, Fact, OnHand, Ownership, StockMovement
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, CommitmentFactory, SkuFactory

Kind = StockMovement.Kind


def _receive(bin, sku, shelf, qty, event):
    return on_hand_adjust(
        bin=bin, sku=sku, delta=qty, kind=Kind.RECEIVE, source_system=shelf, source_event_id=event
    )


def test_availability_for_sku_is_on_hand_minus_open_commitments(stocked_bin, sku, shelf):
    _receive(BinFactory(code="B-01"), sku, shelf, 5, "r-2")
    CommitmentFactory(sku=sku, quantity=3)
    CommitmentFactory(sku=sku, quantity=2, status="released")
    result = selectors.availability_for_sku(sku=sku)
    assert (result.on_hand, result.committed, result.available) == (15, 3, 12)
    assert selectors.available_for_sku(sku=sku) == 12
    assert selectors.on_hand_total(sku=sku) == 15


def test_availability_for_sku_with_no_stock_is_zero(db):
    result = selectors.availability_for_sku(sku=SkuFactory())
    assert (result.on_hand, result.committed, result.available) == (0, 0, 0)


def test_on_hand_for_bin_and_sku(stocked_bin, sku, shelf):
    other = BinFactory(code="A-01", walk_order=1)
    _receive(other, sku, shelf, 2, "r-3")
    assert [r.bin.code for r in selectors.on_hand_for_sku(sku=sku)] == ["A-01", "A-14"]
    assert [(r.sku.code, r.quantity) for r in selectors.on_hand_for_bin(bin=stocked_bin)] == [
        ("SKU-1", 10)
    ]


def test_ledger_for_sku_is_newest_first(stocked_bin, sku, shelf):
    _receive(stocked_bin, sku, shelf, 1, "r-4")
    assert [m.source_event_id for m in selectors.ledger_for_sku(sku=sku)] == ["r-4", "seed-1"]


def test_skus_with_stock_annotates_every_sku(stocked_bin, sku):
    CommitmentFactory(sku=sku, quantity=4)
    empty = SkuFactory()
    rows = {s.code: (s.on_hand, s.committed, s.available) for s in selectors.skus_with_stock()}
    assert rows == {"SKU-1": (10, 4, 6), empty.code: (0, 0, 0)}


def test_ledger_mismatches_is_empty_for_a_clean_shelf(stocked_bin):
    assert selectors.ledger_mismatches() == []


@pytest.mark.ledger_broken
def test_ledger_mismatches_finds_a_balance_changed_behind_the_ledger(stocked_bin, sku):
    OnHand.objects.filter(bin=stocked_bin, sku=sku).update(quantity=7)
    ghost = OnHand.objects.create(bin=BinFactory(code="C-09"), sku=sku, quantity=0)
    OnHand.objects.filter(pk=ghost.pk).update(quantity=3)
    found = {
        (m.bin_code, m.sku_code, m.balance, m.ledger_sum) for m in selectors.ledger_mismatches()
    }
    assert found == {("A-14", "SKU-1", 7, 10), ("C-09", "SKU-1", 3, 0)}


def test_authority_audit_lists_every_fact_and_flags_gaps_and_double_writers(
    stocked_bin, sku, shelf, storefront
):
    Ownership.objects.filter(fact=Fact.PRICE).update(owner=None)
    AuthorityConflict.objects.create(system=storefront, fact=Fact.ON_HAND, owner=shelf)
    audit = {f.fact: f for f in selectors.authority_audit()}
    assert list(audit) == list(Fact.values)
    assert audit["price"].is_gap and not audit["catalog"].is_gap
    assert audit["on_hand"].writers == ["shelf", "storefront"]
    assert audit["on_hand"].has_many_writers and audit["on_hand"].conflicts == 1
    assert not audit["order"].has_many_writers


def test_system_for_token_matches_only_the_hash(shelf):
    token = shelf.issue_token()
    assert shelf.token_hash != token
    assert selectors.system_for_token(token=token) == shelf
    assert selectors.system_for_token(token=token + "x") is None
    assert selectors.system_for_token(token="") is None
