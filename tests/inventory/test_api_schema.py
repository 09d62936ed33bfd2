"""The OpenAPI schema tells the truth: every status an operation answers is documented with
its JSON shape, a request the schema allows is refused only for what the data says, and a
body the API cannot take (too big, unreadable) is a JSON 4xx like every other refusal."""

import json

import pytest

from inventory.api import api
from inventory.models import OnHand, StockMovement
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory

SHIP_2 = {"sku": "SKU-1", "bin": "A-14", "kind": "ship", "quantity": -2}


@pytest.fixture
def token(shelf, stocked_bin) -> str:
    return shelf.issue_token()


@pytest.fixture
def stocked_bin(shelf):
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    on_hand_adjust(bin=bin, sku=sku, delta=10, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="seed")  # fmt: skip
    return bin


def _post(client, url: str, data, *, token: str, key: str = "evt-1"):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return client.post(url, data, content_type="application/json", headers=headers)


def _ledger() -> tuple:
    return StockMovement.objects.count(), list(OnHand.objects.values_list("quantity", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_api_body_over_the_upload_limit_is_a_json_413(client, settings, token, debug):
    settings.DEBUG = debug
    before = _ledger()
    body = json.dumps({**SHIP_2, "note": "x" * (10 * 1024 * 1024)})

    response = _post(client, "/api/movements", body, token=token)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["code"] == "body_too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response.json()["detail"]
    assert _ledger() == before


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/movements", "/api/transfers"])
@pytest.mark.parametrize("raw", [b"\xff\xfe\xfd", b'{"sku": "\xc3\x28"}'])
def test_api_unreadable_body_is_a_json_400(client, token, url, raw):
    before = _ledger()

    response = _post(client, url, raw, token=token)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and response.json()["detail"]
    assert _ledger() == before


@pytest.mark.django_db
def test_api_refuses_a_repeated_query_parameter(client, token):
    response = client.get(
        "/api/discrepancies?sku=A&sku=B", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "sku"


@pytest.mark.django_db
def test_movement_create_takes_a_whole_number_written_with_a_decimal_point(client, token):
    response = _post(
        client, "/api/movements", json.dumps({**SHIP_2, "quantity": -2.0}), token=token
    )

    assert response.status_code == 201
    assert response.json()["quantity"] == -2
    assert OnHand.objects.get().quantity == 8


def _documented(path: str, method: str) -> set[int]:
    operation = api.get_openapi_schema()["paths"][f"/api{path}"][method]
    return {int(code) for code in operation["responses"]}


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/movements", "post", {200, 201, 400, 401, 403, 404, 409, 413, 422, 503}),
        ("/transfers", "post", {200, 201, 400, 401, 403, 404, 409, 413, 422, 503}),
        ("/skus/{code}/stock", "get", {200, 401, 403, 404, 422, 503}),
        ("/bins/{code}/stock", "get", {200, 401, 403, 404, 422, 503}),
        ("/discrepancies", "get", {200, 401, 422, 503}),
    ],
)
def test_openapi_documents_every_status_an_operation_answers(path, method, statuses):
    assert _documented(path, method) == statuses


def test_openapi_movement_quantity_is_never_zero_and_signed_by_kind():
    movement = api.get_openapi_schema()["components"]["schemas"]["MovementIn"]

    assert movement["properties"]["quantity"]["not"] == {"const": 0}
    bounds = {
        tuple(rule["if"]["properties"]["kind"]["enum"]): rule["then"]["properties"]["quantity"]
        for rule in movement["allOf"]
    }
    assert bounds == {
        ("receive", "return_restock"): {"minimum": 1, "maximum": 1_000_000},
        ("damage", "ship"): {"minimum": -1_000_000, "maximum": -1},
    }
