"""What each API token may see and write, for every operation the API has registered.

A token's system reads the facts the ownership table names it owner or consumer of, and writes
only the facts it owns. Every operation ninja knows must have a decision below: a new endpoint
without one fails ``test_every_api_operation_has_a_scope_decision`` and the matrix test.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.urls import reverse

from inventory.api import api
from inventory.models import (
    AuthorityConflict,
    Discrepancy,
    Fact,
    OnHand,
    OutboxEntry,
    Ownership,
    StockMovement,
    System,
)
from inventory.selectors import facts_readable_by, system_may_read
from inventory.services import ownership_change
from tests.factories import BinFactory, SystemFactory

READ, WRITE, LIST = "read", "write", "list"
ROLES = ["owner", "consumer", "unrelated", "revoked", "no token"]


@dataclass(frozen=True)
class Decision:
    mode: str  # READ: 403 unless owner/consumer; WRITE: 403 unless owner; LIST: filtered
    fact: str
    url_name: str
    kwargs: dict = field(default_factory=dict)
    body: dict | None = None


# (method, url name) → what the operation shows or writes, and how a test calls it.
DECISIONS = {
    ("GET", "sku-stock"): Decision(READ, Fact.ON_HAND, "sku-stock", {"code": "SKU-1"}),
    ("GET", "bin-stock"): Decision(READ, Fact.ON_HAND, "bin-stock", {"code": "A-14"}),
    ("POST", "movement-create"): Decision(
        WRITE,
        Fact.ON_HAND,
        "movement-create",
        body={"sku": "SKU-1", "bin": "A-14", "kind": "ship", "quantity": -2},
    ),
    ("POST", "transfer-create"): Decision(
        WRITE,
        Fact.ON_HAND,
        "transfer-create",
        body={"sku": "SKU-1", "from_bin": "A-14", "to_bin": "B-02", "quantity": 3},
    ),
    ("GET", "discrepancy-list"): Decision(LIST, Fact.ON_HAND, "discrepancy-list"),
}


def _operations() -> list[tuple[str, str]]:
    """(method, url name) of every operation registered on the API's routers."""
    found = set()
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                found.update((method, operation.url_name) for method in operation.methods)
    return sorted(found)


def test_every_api_operation_has_a_scope_decision():
    missing = set(_operations()) - set(DECISIONS)
    assert not missing, f"decide who may call {sorted(missing)} and add it to DECISIONS"
    assert set(DECISIONS) <= set(_operations()), "DECISIONS names an operation that is gone"


# The matrix --------------------------------------------------------------------------------


@pytest.fixture
def world(stocked_bin, sku, shelf, storefront):
    """SKU-1: 10 in A-14, an empty B-02, an open on-hand discrepancy and a price one."""
    BinFactory(code="B-02", zone="B")
    pricing = System.objects.get(name="pricing")
    on_hand_gap = Discrepancy.objects.create(
        kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND, sku=sku, bin=stocked_bin,
        owner=shelf, consumer=storefront, owner_value=10, consumer_value=12, winner=shelf,
        detail="storefront says 12, shelf says 10",
    )  # fmt: skip
    price_gap = Discrepancy.objects.create(
        kind=Discrepancy.Kind.NON_OWNER_WRITE, fact=Fact.PRICE, sku=sku, owner=pricing,
        consumer=storefront, winner=pricing, detail="storefront wrote a price",
    )  # fmt: skip
    return {"on_hand": on_hand_gap, "price": price_gap}


def _token(role: str, shelf: System) -> str | None:
    """A bearer token for ``role`` against the on-hand fact (owner shelf, consumers
    storefront and replenishment in the seeded ownership table)."""
    if role == "owner":
        return shelf.issue_token()
    if role == "consumer":
        return System.objects.get(name="replenishment").issue_token()
    if role == "unrelated":
        return SystemFactory(name="scanner-9").issue_token()
    if role == "revoked":
        token = shelf.issue_token()
        shelf.revoke_token()
        return token
    return None


def _call(client, decision: Decision, method: str, token: str | None, key: str):
    url = reverse(f"api:{decision.url_name}", kwargs=decision.kwargs)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(url, headers=headers)
    headers["Idempotency-Key"] = key
    return client.post(
        url, json.dumps(decision.body), content_type="application/json", headers=headers
    )


def _written():
    return (
        list(StockMovement.objects.order_by("id").values_list("id", flat=True)),
        sorted(OnHand.objects.values_list("bin_id", "sku_id", "quantity")),
        OutboxEntry.objects.count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", _operations(), ids="-".join)
def test_api_operation_answers_each_kind_of_token(client, world, shelf, operation, role):
    decision = DECISIONS.get(operation)
    assert decision is not None, f"{operation} has no scope decision"
    method = operation[0]
    token = _token(role, shelf)
    before, conflicts = _written(), AuthorityConflict.objects.count()

    response = _call(client, decision, method, token, key=f"scope-{role}")
    body = response.json()

    if role in ("revoked", "no token"):
        assert response.status_code == 401, body
        assert body["code"] == "unauthorized"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert (_written(), AuthorityConflict.objects.count()) == (before, conflicts)
        return
    allowed = role == "owner" or (role == "consumer" and decision.mode != WRITE)
    if decision.mode == LIST:
        assert response.status_code == 200, body
        ids = {item["id"] for item in body["items"]}
        assert (world["on_hand"].pk in ids) is allowed
        assert world["price"].pk not in ids  # price: owned by pricing, consumed by storefront
        assert all(item["fact"] == decision.fact for item in body["items"])
        return
    if allowed:
        assert response.status_code == (200 if method == "GET" else 201), body
        if method == "POST":
            assert _written() != before
        return
    assert response.status_code == 403, body
    assert body["fact"] == decision.fact
    assert decision.fact in body["detail"]
    assert _written() == before  # nothing applied
    if decision.mode == WRITE:
        assert body["code"] == "not_owner"
        assert AuthorityConflict.objects.count() == conflicts + 1  # refused and recorded
    else:
        assert body["code"] == "not_reader"
        assert "shelf" in body["detail"] and "replenishment" in body["detail"]


# Reads follow the ownership table as it is now ------------------------------------------------


def test_a_system_reads_the_facts_it_owns_or_consumes(db, shelf, storefront):
    assert set(facts_readable_by(system=shelf)) == {
        Fact.ON_HAND, Fact.CATALOG, Fact.ORDER, Fact.RESTOCK, Fact.IN_TRANSIT,
    }  # fmt: skip
    assert set(facts_readable_by(system=storefront)) == {
        Fact.ON_HAND, Fact.CATALOG, Fact.ORDER, Fact.REFUND, Fact.RESTOCK, Fact.PRICE,
    }  # fmt: skip
    assert not system_may_read(system=SystemFactory(name="scanner-9"), fact=Fact.ON_HAND)


def test_the_discrepancy_list_shows_the_pricing_engine_only_price(client, world):
    token = System.objects.get(name="pricing").issue_token()
    response = client.get("/api/discrepancies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [world["price"].pk]


def test_a_system_added_as_consumer_may_read_and_one_removed_may_not(client, world, admin_user):
    scanner = SystemFactory(name="scanner-9")
    headers = {"Authorization": f"Bearer {scanner.issue_token()}"}
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    consumers = list(on_hand.consumers.all())
    assert client.get("/api/skus/SKU-1/stock", headers=headers).status_code == 403

    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=[*consumers, scanner],
                     truth_moment=on_hand.truth_moment, reason="scanner shows stock",
                     actor=admin_user)  # fmt: skip
    assert client.get("/api/skus/SKU-1/stock", headers=headers).status_code == 200

    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=consumers,
                     truth_moment=on_hand.truth_moment, reason="scanner retired",
                     actor=admin_user)  # fmt: skip
    assert client.get("/api/skus/SKU-1/stock", headers=headers).status_code == 403


def test_a_refused_read_answers_before_looking_the_code_up(client, db):
    """An unrelated system learns nothing, not even whether a SKU or bin exists."""
    headers = {"Authorization": f"Bearer {SystemFactory(name='scanner-9').issue_token()}"}
    for url in ("/api/skus/NOPE/stock", "/api/bins/NOPE/stock"):
        response = client.get(url, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "not_reader")


def test_a_revoked_token_stays_refused_and_a_new_one_works(client, stocked_bin, shelf):
    old = shelf.issue_token()
    shelf.revoke_token()
    shelf.refresh_from_db()
    assert (shelf.token_hash, shelf.token_prefix) == ("", "")
    refused = client.get("/api/skus/SKU-1/stock", headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401
    new = shelf.issue_token()
    accepted = client.get("/api/skus/SKU-1/stock", headers={"Authorization": f"Bearer {new}"})
    assert accepted.status_code == 200


def test_the_openapi_schema_declares_the_403_with_its_fact(client, db):
    schema = client.get("/api/openapi.json").json()
    for path in ("/api/skus/{code}/stock", "/api/bins/{code}/stock"):
        responses = schema["paths"][path]["get"]["responses"]
        assert {"401", "403", "404"} <= set(responses)
    forbidden = schema["components"]["schemas"]["ForbiddenOut"]
    assert "fact" in forbidden["required"]
