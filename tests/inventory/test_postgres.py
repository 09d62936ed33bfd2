"""What only a real PostgreSQL can show: row locks under concurrency and the ledger trigger."""

import pytest
from django.db import DatabaseError, connection, transaction

from inventory.exceptions import InsufficientStock
from inventory.models import Bin, OnHand, Sku, StockMovement, System
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust, on_hand_transfer
from tests.factories import BinFactory, SkuFactory
from tests.threads import in_threads

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_concurrent_ships_of_ten_units_exactly_ten_succeed(postgres):
    shelf = System.objects.get(name="shelf")
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="HOT-1")
    on_hand_adjust(bin=bin, sku=sku, delta=10, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="stock")  # fmt: skip

    def ship(i):
        return on_hand_adjust(
            bin=Bin.objects.get(pk=bin.pk), sku=Sku.objects.get(pk=sku.pk), delta=-1,
            kind=Kind.SHIP, source_system=System.objects.get(name="shelf"),
            source_event_id=f"order-{i}",
        )  # fmt: skip

    results = in_threads(20, ship)
    assert sum(isinstance(r, StockMovement) for r in results) == 10
    assert sum(isinstance(r, InsufficientStock) for r in results) == 10
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 0
    assert StockMovement.objects.filter(sku=sku, kind=Kind.SHIP).count() == 10
    assert sorted(m.balance_after for m in StockMovement.objects.filter(kind=Kind.SHIP)) == list(
        range(10)
    )
    assert ledger_mismatches() == []


def test_concurrent_replays_of_one_event_apply_once(postgres):
    shelf = System.objects.get(name="shelf")
    bin, sku = BinFactory(), SkuFactory()
    on_hand_adjust(bin=bin, sku=sku, delta=10, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="stock")  # fmt: skip

    def replay(i):
        return on_hand_adjust(
            bin=Bin.objects.get(pk=bin.pk), sku=Sku.objects.get(pk=sku.pk), delta=-3,
            kind=Kind.SHIP, source_system=System.objects.get(name="shelf"),
            source_event_id="the-same-order",
        )  # fmt: skip

    results = in_threads(8, replay)
    assert all(isinstance(r, StockMovement) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 7


def test_opposite_concurrent_transfers_do_not_deadlock(postgres):
    shelf = System.objects.get(name="shelf")
    a, b, sku = BinFactory(), BinFactory(), SkuFactory()
    for bin in (a, b):
        on_hand_adjust(bin=bin, sku=sku, delta=50, kind=Kind.RECEIVE, source_system=shelf,
                       source_event_id=f"stock-{bin.pk}")  # fmt: skip

    def move(i):
        src, dst = (a, b) if i % 2 else (b, a)
        return on_hand_transfer(
            from_bin=Bin.objects.get(pk=src.pk), to_bin=Bin.objects.get(pk=dst.pk),
            sku=Sku.objects.get(pk=sku.pk), quantity=1,
            source_system=System.objects.get(name="shelf"), source_event_id=f"t-{i}",
        )  # fmt: skip

    results = in_threads(16, move)
    assert all(isinstance(r, tuple) for r in results), results
    assert OnHand.objects.get(bin=a, sku=sku).quantity == 50
    assert ledger_mismatches() == []


def test_raw_sql_update_or_delete_on_the_ledger_fails(postgres):
    shelf = System.objects.get(name="shelf")
    on_hand_adjust(bin=BinFactory(), sku=SkuFactory(), delta=2, kind=Kind.RECEIVE,
                   source_system=shelf, source_event_id="r")  # fmt: skip
    table = StockMovement._meta.db_table
    for sql in (f"UPDATE {table} SET quantity = 99", f"DELETE FROM {table}"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert StockMovement.objects.get().quantity == 2


@pytest.mark.parametrize("attempt", range(5))
def test_fifty_concurrent_decrements_of_five_units_exactly_five_succeed(postgres, attempt):
    shelf = System.objects.get(name="shelf")
    bin, sku = BinFactory(), SkuFactory()
    on_hand_adjust(bin=bin, sku=sku, delta=5, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id=f"stock-{attempt}")  # fmt: skip

    def take(i):
        return on_hand_adjust(
            bin=Bin.objects.get(pk=bin.pk), sku=Sku.objects.get(pk=sku.pk), delta=-1,
            kind=Kind.SHIP, source_system=System.objects.get(name="shelf"),
            source_event_id=f"take-{attempt}-{i}",
        )  # fmt: skip

    results = in_threads(50, take)
    assert sum(isinstance(r, StockMovement) for r in results) == 5
    assert sum(isinstance(r, InsufficientStock) for r in results) == 45
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 0
    assert ledger_mismatches() == []


def test_a_plain_movement_outside_a_transaction_is_one_statement(postgres, monkeypatch):
    """No BEGIN/COMMIT around it: the statement is its own transaction, and the push is
    kicked once it has committed."""
    from inventory.models import OutboxEntry
    from inventory.services import outbox

    kicks = []
    monkeypatch.setattr(outbox, "_kick", lambda: kicks.append(connection.in_atomic_block))
    shelf = System.objects.get(name="shelf")
    bin, sku = BinFactory(), SkuFactory()
    on_hand_adjust(
        bin=bin, sku=sku, delta=5, kind=Kind.RECEIVE, source_system=shelf, source_event_id="first"
    )  # fmt: skip  (a bin's first unit: general path)
    seen = []  # (in a transaction?, statement) of each statement sent

    def watch(execute, sql, params, many, context):
        seen.append((connection.in_atomic_block, sql.split()[0]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        move = on_hand_adjust(bin=bin, sku=sku, delta=-2, kind=Kind.SHIP, source_system=shelf,
                              source_event_id="plain")  # fmt: skip
    assert seen == [(False, "WITH")] and not move.replayed
    assert (move.balance_after, OnHand.objects.get(bin=bin, sku=sku).quantity) == (3, 3)
    assert OutboxEntry.objects.filter(sku=sku).count() == 2 and kicks == [False, False]
    again = on_hand_adjust(bin=bin, sku=sku, delta=-2, kind=Kind.SHIP, source_system=shelf,
                           source_event_id="plain")  # fmt: skip
    assert (again.pk, again.replayed, OnHand.objects.get(bin=bin, sku=sku).quantity) == (
        move.pk,
        True,
        3,
    )
    with pytest.raises(InsufficientStock):
        on_hand_adjust(bin=bin, sku=sku, delta=-4, kind=Kind.SHIP, source_system=shelf,
                       source_event_id="short")  # fmt: skip
    assert StockMovement.objects.filter(sku=sku).count() == 2 and len(kicks) == 2
