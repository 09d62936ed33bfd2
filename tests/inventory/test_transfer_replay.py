"""A transfer replays like a movement: under concurrency one request with an Idempotency-Key
writes the two legs and answers 201, every other one answers 200 ``replayed`` with them."""

import json

import pytest
from django.test import Client

from inventory.exceptions import InvalidMovement
from inventory.models import Bin, OnHand, Sku, StockMovement
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust, on_hand_transfer
from tests.factories import BinFactory, SkuFactory
from tests.threads import in_threads

Kind = StockMovement.Kind
MOVE_3 = {"sku": "SKU-1", "from_bin": "A-14", "to_bin": "B-02", "quantity": 3}


def _post(token: str, body: dict, key: str):
    return Client().post(
        "/api/transfers",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )


@pytest.fixture
def stocked(shelf):
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    BinFactory(code="B-02")
    on_hand_adjust(bin=bin, sku=sku, delta=5, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="stock")  # fmt: skip
    return shelf.issue_token()


def _leg_ids(body: dict) -> tuple[int, ...]:
    return tuple(leg["id"] for leg in body["movements"])


def _balances() -> dict[str, int]:
    return dict(OnHand.objects.values_list("bin__code", "quantity"))


@pytest.mark.django_db(transaction=True)
def test_transfer_create_concurrent_replays_answer_one_201_and_the_rest_200(postgres, stocked):
    responses = in_threads(20, lambda i: _post(stocked, MOVE_3, key="move-once"))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], [(r.status_code, r.json()) for r in responses]
    bodies = [r.json() for r in responses]
    assert [b["replayed"] for b in bodies].count(False) == 1
    pairs = zip(responses, bodies, strict=True)
    assert all(b["replayed"] == (r.status_code == 200) for r, b in pairs)
    legs = StockMovement.objects.filter(kind=Kind.TRANSFER)
    assert legs.count() == 2
    assert {_leg_ids(b) for b in bodies} == {
        tuple(legs.order_by("leg").values_list("id", flat=True))
    }
    assert _balances() == {"A-14": 2, "B-02": 3}
    assert ledger_mismatches() == []


@pytest.mark.django_db
def test_transfer_create_replay_answers_200_with_the_first_legs(stocked):
    first = _post(stocked, MOVE_3, key="move-once")
    again = _post(stocked, MOVE_3, key="move-once")

    assert (first.status_code, again.status_code) == (201, 200)
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert _leg_ids(again.json()) == _leg_ids(first.json())
    assert _balances() == {"A-14": 2, "B-02": 3}


@pytest.mark.django_db
def test_on_hand_transfer_refuses_an_event_id_of_another_movement(shelf, stocked):
    a14, b02, sku = Bin.objects.get(code="A-14"), Bin.objects.get(code="B-02"), Sku.objects.get()
    on_hand_adjust(bin=a14, sku=sku, delta=-1, kind=Kind.SHIP, source_system=shelf,
                   source_event_id="order-7")  # fmt: skip

    with pytest.raises(InvalidMovement, match="event id of its own"):
        on_hand_transfer(from_bin=a14, to_bin=b02, sku=sku, quantity=3, source_system=shelf,
                         source_event_id="order-7")  # fmt: skip

    assert not StockMovement.objects.filter(kind=Kind.TRANSFER).exists()
    assert _balances() == {"A-14": 4}
