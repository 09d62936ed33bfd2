"""The movement endpoint's one round trip, and why its memory of tokens cannot go stale.

A request's token System may come from the process's memory (``inventory.selectors.tokens``);
the SKU, the bin and the ownership are never remembered, the write's statement reads them.
Every change below is made on another connection, as another process (the admin, a shell,
another web worker) would make it: nothing in this process is told, and the very next request
still sees it, because the statement that writes checks the table in its own snapshot.

These run through Django's real WSGI handler, as gunicorn does: the request-start signal
(and its health-check ping of a persistent connection) included, which the test client
leaves out. Round trips are counted on the wire (libpq's trace), pings and all.
"""

import uuid

import psycopg
import pytest
from django.db import connection

from inventory.bench.loadtest import round_trips, server_dsn, wsgi_post
from inventory.models import AuthorityConflict, Fact, OnHand, StockMovement, System
from inventory.selectors import tokens
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory, SystemFactory

pytestmark = pytest.mark.django_db(transaction=True)
Kind = StockMovement.Kind

RECEIVE = {"sku": "SKU-1", "bin": "A-14", "kind": "receive", "quantity": 2}
SHIP = {"sku": "SKU-1", "bin": "A-14", "kind": "ship", "quantity": -1}


@pytest.fixture
def shelf_stock(postgres):
    """Bin A-14 holding 10 of SKU-1 (committed: other connections see it) and the shelf's
    token; the memory of tokens starts empty."""
    shelf = System.objects.get(name="shelf")
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    on_hand_adjust(bin=bin, sku=sku, delta=10, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="seed-1")  # fmt: skip
    tokens._hints.clear()
    yield shelf.issue_token()
    tokens._hints.clear()


def _post(token: str, body, *, key: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key or uuid.uuid4().hex}
    return wsgi_post("/api/movements", body, headers)


def _elsewhere(sql: str, params=()) -> None:
    """Change the tables on a connection of its own, committed, as another process would."""
    with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as other:
        other.execute(sql, params)


def _balance() -> int:
    return OnHand.objects.get(bin__code="A-14", sku__code="SKU-1").quantity


# One round trip ------------------------------------------------------------------------------


def test_api_movement_with_a_remembered_token_is_one_round_trip(shelf_stock):
    assert _post(shelf_stock, RECEIVE)[0] == 201  # the token is remembered from here on
    for _ in range(3):
        with round_trips() as trips:
            status, body = _post(shelf_stock, SHIP)
        assert status == 201 and body["source_system"] == "shelf"
        # Not even the health-check ping: the statement is the request's only round trip.
        assert trips.count == 1
    assert _balance() == 12 - 3
    assert StockMovement.objects.filter(kind=Kind.SHIP).count() == 3


def test_api_movement_on_a_cold_memory_reads_the_token_once_and_answers_the_same(shelf_stock):
    with round_trips() as trips:
        status, body = _post(shelf_stock, SHIP, key="cold-1")
    assert status == 201
    # The ping of the persistent connection, the token, then the statement: prepared on its
    # connection's first run (one more round trip), executed.
    assert trips.count <= 4
    move = StockMovement.objects.get(source_event_id="cold-1")
    assert body == {
        "id": move.pk, "kind": "ship", "sku": "SKU-1", "bin": "A-14", "quantity": -1,
        "balance_after": 9, "source_system": "shelf", "event_id": "cold-1", "reference": "",
        "created_at": body["created_at"], "replayed": False,
    }  # fmt: skip
    assert _balance() == 9


def test_api_movement_not_plain_answers_as_before_in_autocommit(shelf_stock):
    """Replay, key reused, too little stock and a bin's first unit leave the statement
    undone and are settled by the general path, without the checks being read again."""
    first = _post(shelf_stock, SHIP, key="k-1")
    assert first[0] == 201
    again = _post(shelf_stock, SHIP, key="k-1")
    assert again[0] == 200 and again[1]["id"] == first[1]["id"] and again[1]["replayed"]
    reused = _post(shelf_stock, {**SHIP, "quantity": -2}, key="k-1")
    assert reused[0] == 409 and reused[1]["code"] == "idempotency_key_reused"
    short = _post(shelf_stock, {**SHIP, "quantity": -50})
    assert short[0] == 409 and short[1]["code"] == "insufficient_stock"
    BinFactory(code="B-1")
    new_bin = _post(shelf_stock, {**RECEIVE, "bin": "B-1"})
    assert new_bin[0] == 201 and new_bin[1]["balance_after"] == 2
    assert _balance() == 9


def test_api_movement_retries_once_on_a_connection_the_server_dropped(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    backend = connection.connection.info.backend_pid
    _elsewhere("SELECT pg_terminate_backend(%s)", [backend])
    status, body = _post(shelf_stock, SHIP, key="after-restart")
    assert status == 201 and body["balance_after"] == 8
    assert connection.connection.info.backend_pid != backend
    assert StockMovement.objects.filter(source_event_id="after-restart").count() == 1


# A change made elsewhere is seen by the very next request -------------------------------------


def test_api_token_revoked_elsewhere_is_refused_next_request(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere(
        "UPDATE inventory_system SET token_hash = '', token_prefix = '' WHERE name = 'shelf'"
    )
    status, body = _post(shelf_stock, SHIP)
    assert (status, body["code"]) == (401, "unauthorized")
    assert _balance() == 9
    assert System.hash_token(shelf_stock) not in tokens._hints


def test_api_token_replaced_elsewhere_is_refused_next_request(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    System.objects.get(name="shelf").issue_token()
    assert _post(shelf_stock, SHIP)[0] == 401
    assert _balance() == 9


def test_api_system_deactivated_elsewhere_is_refused_next_request(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere("UPDATE inventory_system SET active = false WHERE name = 'shelf'")
    assert _post(shelf_stock, SHIP)[0] == 401
    assert _balance() == 9


def test_api_system_renamed_elsewhere_answers_with_its_new_name(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere("UPDATE inventory_system SET name = 'main-shelf' WHERE name = 'shelf'")
    status, body = _post(shelf_stock, SHIP)
    assert (status, body["source_system"]) == (201, "main-shelf")
    # Remembered afresh: the next one is a single round trip again, with the new name.
    with round_trips() as trips:
        status, body = _post(shelf_stock, SHIP)
    assert (status, body["source_system"], trips.count) == (201, "main-shelf", 1)


def test_api_ownership_moved_elsewhere_is_refused_and_recorded_next_request(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    other = SystemFactory(name="erp")
    _elsewhere("UPDATE inventory_ownership SET owner_id = %s WHERE fact = 'on_hand'", [other.pk])
    status, body = _post(shelf_stock, SHIP)
    assert (status, body["code"], body["fact"]) == (403, "not_owner", Fact.ON_HAND)
    assert AuthorityConflict.objects.filter(system__name="shelf", fact=Fact.ON_HAND).count() == 1
    assert _balance() == 9


def test_api_sku_deactivated_elsewhere_refuses_a_receipt_next_request(shelf_stock):
    assert _post(shelf_stock, RECEIVE)[0] == 201
    _elsewhere("UPDATE inventory_sku SET active = false WHERE code = 'SKU-1'")
    status, body = _post(shelf_stock, RECEIVE)
    assert (status, body["code"], body["field"]) == (422, "inactive_sku", "sku")
    # The shelf's rules decide, not the statement: a SKU gone from the catalog still ships.
    assert _post(shelf_stock, SHIP)[0] == 201
    assert _balance() == 11


def test_api_bin_deactivated_elsewhere_refuses_a_put_next_request(shelf_stock):
    assert _post(shelf_stock, RECEIVE)[0] == 201
    _elsewhere("UPDATE inventory_bin SET active = false WHERE code = 'A-14'")
    status, body = _post(shelf_stock, RECEIVE)
    assert (status, body["field"]) == (422, "bin")
    assert _post(shelf_stock, SHIP)[0] == 201  # emptying an inactive bin is allowed
    assert _balance() == 11


def test_api_sku_renamed_elsewhere_is_unknown_next_request(shelf_stock):
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere("UPDATE inventory_sku SET code = 'SKU-1-OLD' WHERE code = 'SKU-1'")
    status, body = _post(shelf_stock, SHIP)
    assert (status, body["code"], body["field"]) == (404, "unknown_sku", "sku")


@pytest.mark.parametrize(
    "body",
    [
        {**SHIP, "quantity": 0},  # refused by the schema, before any write
        "{not json",
        {**SHIP, "sku": "NOPE"},  # refused by the shelf, after the statement
    ],
    ids=["invalid", "unreadable", "unknown-sku"],
)
def test_api_revoked_token_answers_401_whatever_else_is_wrong(shelf_stock, body):
    """A refusal never rests on the memory alone: a revoked token is a 401 first, as it is
    for a process that never saw it."""
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere("UPDATE inventory_system SET token_hash = '' WHERE name = 'shelf'")
    remembered = _post(shelf_stock, body)
    tokens._hints.clear()
    forgotten = _post(shelf_stock, body)
    assert remembered == forgotten and remembered[0] == 401


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE inventory_system SET token_hash = '' WHERE name = 'shelf'",
        "UPDATE inventory_system SET active = false WHERE name = 'shelf'",
        "UPDATE inventory_system SET name = 'renamed' WHERE name = 'shelf'",
        "UPDATE inventory_ownership SET owner_id = NULL WHERE fact = 'on_hand'",
        "UPDATE inventory_sku SET active = false",
        "UPDATE inventory_bin SET active = false",
        "UPDATE inventory_sku SET code = 'gone'",
        "UPDATE inventory_bin SET code = 'gone'",
    ],
    ids=[
        "revoked",
        "inactive",
        "renamed",
        "disowned",
        "sku-off",
        "bin-off",
        "sku-gone",
        "bin-gone",
    ],
)
@pytest.mark.parametrize("body", [RECEIVE, SHIP], ids=["receive", "ship"])
def test_api_remembered_token_answers_as_a_forgotten_one(shelf_stock, change, body):
    """The memory cannot drift from the tables: after any change, a process that remembers
    the token answers exactly what a process that never saw it answers."""
    assert _post(shelf_stock, SHIP)[0] == 201
    _elsewhere(change)
    remembered = _post(shelf_stock, body, key="after")
    tokens._hints.clear()
    forgotten = _post(shelf_stock, body, key="after-cold")
    strip = ("id", "event_id", "created_at", "balance_after")
    assert remembered[0] == forgotten[0]
    assert {k: v for k, v in remembered[1].items() if k not in strip} == {
        k: v for k, v in forgotten[1].items() if k not in strip
    }
