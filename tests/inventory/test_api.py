"""The token API under /api/: auth, stock reads, movements, transfers, discrepancies, docs."""

import json
from contextlib import contextmanager

import pytest
from django.utils import timezone

from inventory.models import (
    AuthorityConflict,
    Discrepancy,
    Fact,
    OnHand,
    OutboxEntry,
    Ownership,
    StockMovement,
)
from inventory.services import on_hand_adjust, ownership_change
from tests.factories import (
    BinFactory,
    CommitmentFactory,
    SkuFactory,
    SystemFactory,
    WarehouseFactory,
)

Kind = StockMovement.Kind
SHIP_2 = {"sku": "SKU-1", "bin": "A-14", "kind": "ship", "quantity": -2}


@pytest.fixture
def token(shelf) -> str:
    """A token of the seeded "shelf" system, which owns on_hand."""
    return shelf.issue_token()


def _headers(token: str | None, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _get(client, url: str, *, token: str | None):
    return client.get(url, headers=_headers(token))


def _post(client, url: str, body, *, token: str | None, key: str | None = "evt-1"):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=_headers(token, key))


def _balance(*, bin_code: str = "A-14", sku_code: str = "SKU-1") -> int:
    return (
        OnHand.objects.filter(bin__code=bin_code, sku__code=sku_code)
        .values_list("quantity", flat=True)
        .first()
        or 0
    )


@contextmanager
def _nothing_written():
    """The ledger, the balances and the outbox are the same after the block as before it."""

    def state():
        return (
            list(StockMovement.objects.order_by("id").values_list("id", flat=True)),
            sorted(OnHand.objects.values_list("bin_id", "sku_id", "quantity")),
            OutboxEntry.objects.count(),
        )

    before = state()
    yield
    assert state() == before


# Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Bearer ", "Basic c2hlbGY6cHc=", "not-even-a-scheme"],
)
def test_api_refuses_missing_or_bad_token_with_401_json(client, stocked_bin, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/skus/SKU-1/stock", headers=headers)
    # A 401 in JSON, not LoginRequiredMiddleware's redirect to the login page.
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "unauthorized"
    assert "Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_api_refuses_an_inactive_systems_token(client, stocked_bin):
    system = SystemFactory(name="old-scanner", active=False)
    response = _get(client, "/api/skus/SKU-1/stock", token=system.issue_token())
    assert response.status_code == 401


def test_api_refuses_a_replaced_token(client, stocked_bin, shelf):
    old = shelf.issue_token()
    shelf.issue_token()
    assert _get(client, "/api/skus/SKU-1/stock", token=old).status_code == 401


def test_api_write_without_token_writes_nothing(client, stocked_bin):
    with _nothing_written():
        response = _post(client, "/api/movements", SHIP_2, token=None)
    assert response.status_code == 401


def test_api_needs_no_session_login_nor_csrf_token(stocked_bin, token):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = _post(client, "/api/movements", SHIP_2, token=token)
    assert response.status_code == 201


def test_api_unsupported_method_is_405_json(client, token):
    response = _get(client, "/api/movements", token=token)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


# Stock reads -------------------------------------------------------------------------------


def test_sku_stock_reports_availability_warehouses_and_bins(client, stocked_bin, sku, shelf, token):
    on_hand_adjust(
        bin=BinFactory(code="B-02", zone="B", warehouse=WarehouseFactory(code="WH-2")),
        sku=sku,
        delta=3,
        kind=Kind.RECEIVE,
        source_system=shelf,
        source_event_id="seed-2",
    )
    CommitmentFactory(sku=sku, quantity=4)
    response = _get(client, "/api/skus/SKU-1/stock", token=token)
    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == "SKU-1" and body["title"] == "Blue mug" and body["active"] is True
    assert (body["on_hand"], body["committed"], body["available"]) == (13, 4, 9)
    assert body["warehouses"] == [
        {"warehouse": "MAIN", "on_hand": 10},
        {"warehouse": "WH-2", "on_hand": 3},
    ]
    assert sorted(body["bins"], key=lambda b: b["bin"]) == [
        {"bin": "A-14", "warehouse": "MAIN", "zone": "A", "quantity": 10},
        {"bin": "B-02", "warehouse": "WH-2", "zone": "B", "quantity": 3},
    ]


def test_sku_stock_unknown_sku_is_404_json(client, token):
    response = _get(client, "/api/skus/NOPE/stock", token=token)
    assert response.status_code == 404
    assert response.json() == {"detail": "No SKU 'NOPE'.", "code": "not_found"}


def test_bin_stock_lists_only_positive_balances(client, stocked_bin, shelf, token):
    gone = SkuFactory(code="SKU-GONE")
    for delta, event in ((2, "in"), (-2, "out")):
        on_hand_adjust(
            bin=stocked_bin,
            sku=gone,
            delta=delta,
            kind=Kind.RECEIVE if delta > 0 else Kind.SHIP,
            source_system=shelf,
            source_event_id=event,
        )
    response = _get(client, "/api/bins/A-14/stock", token=token)
    assert response.status_code == 200
    assert response.json() == {
        "bin": "A-14",
        "warehouse": "MAIN",
        "zone": "A",
        "active": True,
        "skus": [{"sku": "SKU-1", "quantity": 10}],
    }


@pytest.mark.parametrize("url", ["/api/skus/A%00B/stock", "/api/bins/A%00B/stock"])
def test_stock_reads_nul_in_code_is_404_not_500(client, token, url):
    # PostgreSQL refuses NUL in text; the lookup must not reach it.
    assert _get(client, url, token=token).status_code == 404


def test_bin_stock_unknown_bin_is_404_json(client, token):
    response = _get(client, "/api/bins/Z-99/stock", token=token)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# Movements ---------------------------------------------------------------------------------


def test_movement_create_applies_it_as_the_tokens_system(client, stocked_bin, shelf, token):
    body = {**SHIP_2, "reference": "#1001", "note": "picked"}
    response = _post(client, "/api/movements", body, token=token, key="order-1001-ship")
    assert response.status_code == 201
    data = response.json()
    assert data["replayed"] is False
    assert {k: data[k] for k in ("kind", "sku", "bin", "quantity", "balance_after")} == {
        "kind": "ship",
        "sku": "SKU-1",
        "bin": "A-14",
        "quantity": -2,
        "balance_after": 8,
    }
    assert data["source_system"] == "shelf" and data["event_id"] == "order-1001-ship"
    assert _balance() == 8
    move = StockMovement.objects.get(pk=data["id"])
    assert move.source_system == shelf
    assert (move.source_event_id, move.reference, move.note) == (
        "order-1001-ship",
        "#1001",
        "picked",
    )


def test_movement_create_replay_returns_the_first_movement_and_changes_nothing(
    client, stocked_bin, token
):
    first = _post(client, "/api/movements", SHIP_2, token=token, key="k-1")
    with _nothing_written():
        again = _post(client, "/api/movements", SHIP_2, token=token, key="k-1")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    assert again.json()["created_at"] == first.json()["created_at"]
    assert _balance() == 8


def test_movement_create_same_key_from_another_system_is_another_event(
    client, stocked_bin, storefront, token
):
    assert _post(client, "/api/movements", SHIP_2, token=token, key="k-1").status_code == 201
    ownership_change(
        ownership=Ownership.objects.get(fact=Fact.ON_HAND),
        owner=storefront,
        consumers=[],
        truth_moment="ship",
        reason="test",
        actor=None,
    )
    other = _post(client, "/api/movements", SHIP_2, token=storefront.issue_token(), key="k-1")
    assert other.status_code == 201
    assert _balance() == 6


def test_movement_create_reused_key_for_another_movement_is_409(client, stocked_bin, token):
    _post(client, "/api/movements", SHIP_2, token=token, key="k-1")
    with _nothing_written():
        response = _post(
            client, "/api/movements", {**SHIP_2, "quantity": -3}, token=token, key="k-1"
        )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert "k-1" in response.json()["detail"]


@pytest.mark.parametrize("key", [None, "", "x" * 201])
def test_movement_create_needs_an_idempotency_key(client, stocked_bin, token, key):
    with _nothing_written():
        response = _post(client, "/api/movements", SHIP_2, token=token, key=key)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


def test_movement_create_key_of_200_characters_is_accepted(client, stocked_bin, token):
    response = _post(client, "/api/movements", SHIP_2, token=token, key="x" * 200)
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_movement_create_refuses_a_non_owner_and_records_the_conflict(
    client, stocked_bin, storefront
):
    with _nothing_written():
        response = _post(client, "/api/movements", SHIP_2, token=storefront.issue_token())
    assert response.status_code == 403
    assert response.json()["code"] == "not_owner"
    assert "storefront may not write on_hand" in response.json()["detail"]
    # Committed although the write was refused (no transaction wraps the request).
    conflict = AuthorityConflict.objects.get()
    assert (conflict.system, conflict.fact, conflict.owner.name) == (storefront, "on_hand", "shelf")
    assert conflict.payload["sku"] == "SKU-1" and conflict.payload["quantity"] == -2
    assert _balance() == 10


def test_movement_create_accepted_once_the_system_owns_on_hand(client, stocked_bin, storefront):
    storefront_token = storefront.issue_token()
    assert _post(client, "/api/movements", SHIP_2, token=storefront_token).status_code == 403
    ownership_change(
        ownership=Ownership.objects.get(fact=Fact.ON_HAND),
        owner=storefront,
        consumers=[],
        truth_moment="ship",
        reason="test",
        actor=None,
    )
    response = _post(client, "/api/movements", SHIP_2, token=storefront_token)
    assert response.status_code == 201
    assert response.json()["source_system"] == "storefront"
    assert _balance() == 8


def test_movement_create_former_owner_is_refused(client, stocked_bin, storefront, token):
    ownership_change(
        ownership=Ownership.objects.get(fact=Fact.ON_HAND),
        owner=storefront,
        consumers=[],
        truth_moment="ship",
        reason="test",
        actor=None,
    )
    with _nothing_written():
        assert _post(client, "/api/movements", SHIP_2, token=token).status_code == 403


def test_movement_create_insufficient_stock_is_409(client, stocked_bin, token):
    with _nothing_written():
        response = _post(client, "/api/movements", {**SHIP_2, "quantity": -11}, token=token)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Bin A-14 holds 10 of SKU-1; cannot take 11 (short by 1).",
        "code": "insufficient_stock",
        "short_by": 1,
    }


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("sku", "NOPE", "unknown_sku"), ("bin", "Z-99", "unknown_bin")],
)
def test_movement_create_unknown_sku_or_bin_is_404(client, stocked_bin, token, field, value, code):
    with _nothing_written():
        response = _post(client, "/api/movements", {**SHIP_2, field: value}, token=token)
    assert response.status_code == 404
    body = response.json()
    assert (body["code"], body["field"]) == (code, field)
    assert value in body["detail"]
    assert body["errors"] == [
        {"field": field, "message": f"No {'SKU' if field == 'sku' else 'bin'} {value!r}."}
    ]


@pytest.mark.parametrize(
    "quantity", [0, 1.5, -1.5, 0.0, "abc", "-2", True, None, [], 10**9, -(10**9), -1_000_001]
)
def test_movement_create_rejects_a_quantity_that_is_not_a_whole_number_of_units(
    client, stocked_bin, token, quantity
):
    body = {**SHIP_2, "kind": "count_adjust", "quantity": quantity}
    with _nothing_written():
        response = _post(client, "/api/movements", body, token=token)
    assert response.status_code == 422
    assert response.json()["field"] == "quantity"
    assert response.json()["detail"].startswith("quantity: ")


def test_movement_create_accepts_a_million_units(client, bin, sku, token):
    body = {"sku": "SKU-1", "bin": "A-14", "kind": "receive", "quantity": 1_000_000}
    assert _post(client, "/api/movements", body, token=token).status_code == 201


@pytest.mark.parametrize(("kind", "quantity"), [("receive", -1), ("ship", 1), ("damage", 1)])
def test_movement_create_rejects_a_sign_against_its_kind(
    client, stocked_bin, token, kind, quantity
):
    with _nothing_written():
        response = _post(
            client, "/api/movements", {**SHIP_2, "kind": kind, "quantity": quantity}, token=token
        )
    assert response.status_code == 422
    assert response.json()["field"] == "quantity"


@pytest.mark.parametrize("kind", ["transfer", "steal", ""])
def test_movement_create_rejects_other_kinds(client, stocked_bin, token, kind):
    with _nothing_written():
        response = _post(client, "/api/movements", {**SHIP_2, "kind": kind}, token=token)
    assert response.status_code == 422
    assert response.json()["field"] == "kind"


def test_movement_create_refuses_stock_into_an_inactive_bin(client, sku, token):
    BinFactory(code="OLD-1", active=False)
    body = {"sku": "SKU-1", "bin": "OLD-1", "kind": "receive", "quantity": 1}
    with _nothing_written():
        response = _post(client, "/api/movements", body, token=token)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_movement"
    assert response.json()["field"] == "bin"
    assert "inactive" in response.json()["detail"]


def test_movement_create_inactive_sku_ships_and_counts_but_is_not_received(
    client, stocked_bin, sku, token
):
    sku.active = False
    sku.save(update_fields=["active"])
    receive = {**SHIP_2, "kind": "receive", "quantity": 5}
    with _nothing_written():
        refused = _post(client, "/api/movements", receive, token=token, key="r")
    assert refused.status_code == 422
    assert refused.json()["code"] == "inactive_sku" and refused.json()["field"] == "sku"
    assert "no longer in the catalog" in refused.json()["detail"]
    assert _post(client, "/api/movements", SHIP_2, token=token, key="s").status_code == 201
    count = {**SHIP_2, "kind": "count_adjust", "quantity": 1}
    assert _post(client, "/api/movements", count, token=token, key="c").status_code == 201
    assert _balance() == 9


@pytest.mark.parametrize("raw", ["{not json", '{"sku": "SKU-1",', "\x00", "[1, 2]", '"x"', "null"])
def test_movement_create_malformed_body_is_a_json_4xx(client, stocked_bin, token, raw):
    with _nothing_written():
        response = _post(client, "/api/movements", raw, token=token)
    assert response.status_code in (400, 422)
    assert isinstance(response.json()["detail"], str) and response.json()["code"]


def test_movement_create_rejects_nul_in_text(client, stocked_bin, token):
    with _nothing_written():
        response = _post(client, "/api/movements", {**SHIP_2, "note": "a\x00b"}, token=token)
    assert response.status_code == 422
    assert response.json()["field"] == "note"


def test_movement_create_rejects_an_overlong_reference(client, stocked_bin, token):
    with _nothing_written():
        response = _post(client, "/api/movements", {**SHIP_2, "reference": "r" * 101}, token=token)
    assert response.status_code == 422
    assert response.json()["field"] == "reference"


# Transfers ---------------------------------------------------------------------------------

MOVE_4 = {"sku": "SKU-1", "from_bin": "A-14", "to_bin": "B-02", "quantity": 4}


@pytest.fixture
def other_bin(db):
    return BinFactory(code="B-02", zone="B")


def test_transfer_create_writes_both_legs(client, stocked_bin, other_bin, shelf, token):
    response = _post(client, "/api/transfers", MOVE_4, token=token, key="t-1")
    assert response.status_code == 201
    body = response.json()
    assert (body["from_bin"], body["to_bin"], body["quantity"], body["replayed"]) == (
        "A-14",
        "B-02",
        4,
        False,
    )
    assert [(m["bin"], m["quantity"], m["balance_after"]) for m in body["movements"]] == [
        ("A-14", -4, 6),
        ("B-02", 4, 4),
    ]
    assert (_balance(), _balance(bin_code="B-02")) == (6, 4)
    legs = StockMovement.objects.filter(source_event_id="t-1").order_by("leg")
    assert [(m.leg, m.kind, m.source_system) for m in legs] == [
        (0, Kind.TRANSFER, shelf),
        (1, Kind.TRANSFER, shelf),
    ]


def test_transfer_create_replay_returns_the_first_legs(client, stocked_bin, other_bin, token):
    first = _post(client, "/api/transfers", MOVE_4, token=token, key="t-1")
    with _nothing_written():
        again = _post(client, "/api/transfers", MOVE_4, token=token, key="t-1")
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert [m["id"] for m in again.json()["movements"]] == [
        m["id"] for m in first.json()["movements"]
    ]


def test_transfer_create_short_source_writes_nothing(client, stocked_bin, other_bin, token):
    with _nothing_written():
        response = _post(client, "/api/transfers", {**MOVE_4, "quantity": 11}, token=token)
    assert response.status_code == 409
    assert response.json()["short_by"] == 1
    assert response.json()["code"] == "insufficient_stock"


def test_transfer_create_key_of_a_movement_is_409_not_a_half_transfer(
    client, stocked_bin, other_bin, token
):
    _post(client, "/api/movements", SHIP_2, token=token, key="k-1")
    with _nothing_written():
        response = _post(client, "/api/transfers", MOVE_4, token=token, key="k-1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert _balance(bin_code="B-02") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -4}, "quantity"),
        ({"quantity": 2.5}, "quantity"),
        ({"quantity": 10**9}, "quantity"),
        ({"to_bin": "A-14"}, None),
    ],
)
def test_transfer_create_invalid_request_is_422(
    client, stocked_bin, other_bin, token, change, field
):
    with _nothing_written():
        response = _post(client, "/api/transfers", {**MOVE_4, **change}, token=token)
    assert response.status_code == 422
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [({"to_bin": "Z-99"}, "to_bin"), ({"from_bin": "Z-99"}, "from_bin"), ({"sku": "NOPE"}, "sku")],
)
def test_transfer_create_unknown_sku_or_bin_is_404(
    client, stocked_bin, other_bin, token, change, field
):
    with _nothing_written():
        response = _post(client, "/api/transfers", {**MOVE_4, **change}, token=token)
    assert response.status_code == 404
    assert response.json()["field"] == field


def test_transfer_create_refuses_a_non_owner(client, stocked_bin, other_bin, storefront):
    with _nothing_written():
        response = _post(client, "/api/transfers", MOVE_4, token=storefront.issue_token())
    assert response.status_code == 403
    assert AuthorityConflict.objects.filter(system=storefront, fact="on_hand").count() == 1


def test_transfer_create_needs_an_idempotency_key(client, stocked_bin, other_bin, token):
    with _nothing_written():
        response = _post(client, "/api/transfers", MOVE_4, token=token, key=None)
    assert response.status_code == 422


# Discrepancies -----------------------------------------------------------------------------


def _discrepancy(*, sku, bin, shelf, storefront, **fields) -> Discrepancy:
    values = {
        "kind": Discrepancy.Kind.STOREFRONT_GAP,
        "fact": Fact.ON_HAND,
        "sku": sku,
        "bin": bin,
        "owner": shelf,
        "consumer": storefront,
        "owner_value": 2,
        "consumer_value": 4,
        "winner": shelf,
        "correction": 2,
        "detail": "storefront says 4, shelf says 2",
    }
    return Discrepancy(**(values | fields))


def _resolved(**fields) -> dict:
    return {
        "status": Discrepancy.Status.RESOLVED,
        "resolution": Discrepancy.Resolution.CORRECTION,
        "resolved_at": timezone.now(),
    } | fields


def test_discrepancy_list_shows_both_values_owner_and_winner(
    client, bin, sku, shelf, storefront, token
):
    made = _discrepancy(sku=sku, bin=bin, shelf=shelf, storefront=storefront)
    made.save()
    response = _get(client, "/api/discrepancies", token=token)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item == {
        "id": made.pk,
        "kind": "storefront_gap",
        "fact": "on_hand",
        "sku": "SKU-1",
        "bin": "A-14",
        "owner": "shelf",
        "consumer": "storefront",
        "owner_value": 2,
        "consumer_value": 4,
        "gap": 2,
        "winner": "shelf",
        "correction": 2,
        "status": "open",
        "resolution": "",
        "created_at": item["created_at"],
        "detail": "storefront says 4, shelf says 2",
    }


def test_discrepancy_list_filters_by_status_sku_and_kind(
    client, bin, sku, shelf, storefront, token
):
    other = SkuFactory(code="SKU-2")
    common = {"bin": bin, "shelf": shelf, "storefront": storefront}
    rows = Discrepancy.objects.bulk_create(
        [
            _discrepancy(sku=sku, **common),
            _discrepancy(sku=sku, **common, **_resolved()),
            _discrepancy(sku=other, **common, kind=Discrepancy.Kind.PUSH_FAILED),
            _discrepancy(sku=None, bin=None, shelf=shelf, storefront=storefront, owner_value=None),
        ]
    )

    def ids(query: str) -> set[int]:
        response = _get(client, f"/api/discrepancies{query}", token=token)
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert ids("") == {r.pk for r in rows}
    assert ids("?status=open") == {rows[0].pk, rows[2].pk, rows[3].pk}
    assert ids("?status=resolved") == {rows[1].pk}
    assert ids("?sku=SKU-1") == {rows[0].pk, rows[1].pk}
    assert ids("?sku=SKU-1&status=open") == {rows[0].pk}
    assert ids("?kind=push_failed") == {rows[2].pk}
    assert ids("?sku=NOPE") == set()


@pytest.mark.parametrize(
    "query",
    ["?status=closed", "?kind=nope", "?page=0", "?page=x", "?page=10000000000", "?sku=%00"],
)
def test_discrepancy_list_rejects_bad_filters(client, token, query):
    response = _get(client, f"/api/discrepancies{query}", token=token)
    assert response.status_code == 422
    assert response.json()["field"] in ("status", "kind", "page", "sku")


def test_discrepancy_list_pages_by_50(client, bin, sku, shelf, storefront, token):
    Discrepancy.objects.bulk_create(
        [_discrepancy(sku=sku, bin=bin, shelf=shelf, storefront=storefront) for _ in range(60)]
    )
    first = _get(client, "/api/discrepancies", token=token).json()
    second = _get(client, "/api/discrepancies?page=2", token=token).json()
    beyond = _get(client, "/api/discrepancies?page=3", token=token).json()
    assert (first["count"], len(first["items"]), len(second["items"])) == (60, 50, 10)
    assert beyond["items"] == []
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert len(set(ids)) == 60
    # page_size is not a client parameter: the page stays 50.
    assert len(_get(client, "/api/discrepancies?page_size=100", token=token).json()["items"]) == 50


@pytest.mark.parametrize("rows", [5, 60])
def test_discrepancy_list_runs_a_fixed_number_of_queries(
    client, shelf, storefront, token, django_assert_max_num_queries, rows
):
    Discrepancy.objects.bulk_create(
        [
            _discrepancy(sku=SkuFactory(), bin=BinFactory(), shelf=shelf, storefront=storefront)
            for _ in range(rows)
        ]
    )
    # The token's system, the count and the page (sku, bin and systems joined in).
    with django_assert_max_num_queries(3):
        response = _get(client, "/api/discrepancies", token=token)
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(rows, 50)


# Schema and docs ---------------------------------------------------------------------------


def test_openapi_json_lists_every_path(client, db):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "OneFact API"
    assert set(schema["paths"]) == {
        "/api/skus/{code}/stock",
        "/api/bins/{code}/stock",
        "/api/movements",
        "/api/transfers",
        "/api/discrepancies",
    }
    assert schema["components"]["securitySchemes"]["SystemToken"]["scheme"] == "bearer"


def test_api_docs_without_the_ninja_app_refuse_to_go_to_a_cdn(client, db, settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "ninja"]
    response = client.get("/api/docs")
    assert response.status_code == 503
    assert response.json()["code"] == "docs_unavailable"
    assert b"cdn" not in response.content


def test_api_docs_serve_the_bundled_swagger_ui(client, db, settings):
    if "ninja" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "ninja"]
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn" not in page and "https://" not in page
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "/api/openapi.json" in page
    asset = client.get("/static/ninja/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_transfer_create_into_an_inactive_bin_names_to_bin(client, stocked_bin, token):
    BinFactory(code="B-02", active=False)
    with _nothing_written():
        response = _post(client, "/api/transfers", MOVE_4, token=token, key="t-1")
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("invalid_movement", "to_bin")
    assert "Bin B-02 is inactive" in response.json()["detail"]


def test_movement_create_replay_of_a_receipt_of_a_sku_since_retired_answers_200(
    client, stocked_bin, sku, token
):
    receive = {**SHIP_2, "kind": "receive", "quantity": 5}
    first = _post(client, "/api/movements", receive, token=token, key="r")
    sku.active = False
    sku.save(update_fields=["active"])
    with _nothing_written():
        again = _post(client, "/api/movements", receive, token=token, key="r")
        other = _post(client, "/api/movements", {**receive, "quantity": 6}, token=token, key="r")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
