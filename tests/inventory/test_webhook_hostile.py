"""Hostile webhook deliveries: without a secret nothing is accepted, a signed body whose values
its columns cannot hold is refused at the door (400 naming the field, nothing stored), and no
signed body, however malformed, answers 5xx or moves the ledger."""

import base64
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.checks import storefront_webhook_secrets
from inventory.models import Commitment, InboxEvent, OnHand, StockMovement, System
from inventory.services import inbox_record
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    EventFieldInvalid,
    EventLine,
    EventType,
    InboundEvent,
    WebhookSecretMissing,
)
from inventory.storefront.demo.adapter import SIGNATURE_HEADER, demo_sign, demo_webhook_body
from inventory.storefront.shopify import ShopifyAdapter
from inventory.storefront.shopify_webhooks import webhook_signature
from tests.storefront.fakes import (
    FakeSaleor,
    saleor_order_payload,
    shopify_order_payload,
    shopify_webhook,
)

DEMO_SECRET = "demo-secret"  # what pyproject gives the seeded demo storefront in tests
DEMO_SECRET_ENV = "STOREFRONT_STOREFRONT_WEBHOOK_SECRET"


def _post(client, system: str, body: bytes, headers: dict[str, str]):
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(
        f"/webhooks/{system}/", body, content_type="application/json", headers=headers
    )


def _demo_event(event_id: str = "D-1:placed", **fields) -> InboundEvent:
    values = {
        "type": EventType.ORDER_PLACED,
        "order_ref": "D-1",
        "lines": [EventLine(sku="SKU-1", quantity=1, line_ref="1")],
    }
    return InboundEvent(event_id=event_id, occurred_at=None, **values | fields)


def _demo_post(client, storefront, body: bytes, secret: str = DEMO_SECRET):
    return _post(client, storefront.name, body, {SIGNATURE_HEADER: demo_sign(body, secret)})


def _nothing_stored() -> None:
    assert not InboxEvent.objects.exists()
    assert not Commitment.objects.exists()


# Secrets are required, or the endpoint is off ------------------------------------------------


def test_demo_webhook_without_a_secret_refuses_the_built_in_one_outside_debug(
    client, storefront, monkeypatch
):
    """The forged order of the report: signed with "demo-secret", DEBUG off, no secret set."""
    monkeypatch.delenv(DEMO_SECRET_ENV)
    body = demo_webhook_body(_demo_event())
    response = _demo_post(client, storefront, body)
    assert response.status_code == 401
    assert response.json()["code"] == "webhook_secret_missing"
    assert response.json()["detail"].startswith("delivery refused: ")
    _nothing_stored()


def test_demo_webhook_accepts_the_built_in_secret_only_with_debug(
    client, storefront, monkeypatch, settings
):
    monkeypatch.delenv(DEMO_SECRET_ENV)
    settings.DEBUG = True
    body = demo_webhook_body(_demo_event())
    assert _demo_post(client, storefront, body).status_code == 200
    assert InboxEvent.objects.count() == 1


@pytest.mark.parametrize("secret", ["", "   ", "\t\n"])
def test_demo_webhook_with_an_empty_or_blank_secret_refuses_every_delivery(
    client, storefront, monkeypatch, secret
):
    monkeypatch.setenv(DEMO_SECRET_ENV, secret)
    body = demo_webhook_body(_demo_event())
    response = _demo_post(client, storefront, body, secret=secret)
    assert (response.status_code, response.json()["code"]) == (401, "webhook_secret_missing")
    _nothing_stored()


@pytest.mark.parametrize("secret", ["", " ", "  \t"])
def test_shopify_webhook_signed_with_an_empty_or_blank_key_is_refused(
    client, shopify, monkeypatch, secret
):
    """A Shopify store with no secret: an HMAC under an empty key is anybody's signature."""
    monkeypatch.setenv("STOREFRONT_SHOPIFY_1_WEBHOOK_SECRET", secret)
    payload = shopify_order_payload(1001, [(11, "MUG-1", 2)])
    body, headers = shopify_webhook("orders/create", payload, secret=secret)
    response = _post(client, shopify.name, body, headers)
    assert (response.status_code, response.json()["code"]) == (401, "webhook_secret_missing")
    _nothing_stored()


def test_shopify_webhook_without_a_secret_refuses_an_unsigned_delivery_the_same_way(
    client, shopify, monkeypatch
):
    monkeypatch.delenv("STOREFRONT_SHOPIFY_1_WEBHOOK_SECRET")
    payload = shopify_order_payload(1001, [(11, "MUG-1", 2)])
    body, headers = shopify_webhook("orders/create", payload, secret="")
    del headers["X-Shopify-Hmac-Sha256"]
    response = _post(client, shopify.name, body, headers)
    assert (response.status_code, response.json()["code"]) == (401, "webhook_secret_missing")
    _nothing_stored()


def test_shopify_adapter_with_a_blank_secret_never_verifies():
    adapter = ShopifyAdapter(
        shop_url="https://x.myshopify.com", access_token="t", location_id="1", webhook_secret=" "
    )
    body = b"{}"
    with pytest.raises(WebhookSecretMissing):
        adapter.verify_webhook(body, {"X-Shopify-Hmac-Sha256": webhook_signature(b" ", body)})
    adapter.close()


def test_missing_webhook_secret_is_logged_once_per_storefront(
    client, storefront, monkeypatch, caplog
):
    from inventory.services import inbound

    monkeypatch.delenv(DEMO_SECRET_ENV)
    monkeypatch.setattr(inbound, "_secret_missing_logged", set())
    for n in range(3):
        body = demo_webhook_body(_demo_event(f"D-{n}:placed"))
        assert _demo_post(client, storefront, body).status_code == 401
    logged = [r for r in caplog.records if "has no webhook secret" in r.getMessage()]
    assert len(logged) == 1
    assert DEMO_SECRET_ENV in logged[0].getMessage()


def test_check_deploy_names_each_storefront_without_a_webhook_secret(
    db, storefront, shopify, monkeypatch
):
    monkeypatch.delenv(DEMO_SECRET_ENV)
    monkeypatch.delenv("STOREFRONT_SHOPIFY_1_WEBHOOK_SECRET")
    # Set by the browser tests' Playwright fixtures when they run first: not a deployment's.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    System.objects.create(name="saleor-9", kind=System.Kind.STOREFRONT, adapter="saleor")
    messages = storefront_webhook_secrets(None)
    assert [m.obj.name for m in messages] == ["shopify-1", "storefront"]  # Saleor signs with JWKS
    assert {m.id for m in messages} == {"inventory.W001"}
    out = io.StringIO()
    call_command("check", "--deploy", stdout=out, stderr=out)
    assert "Storefront 'storefront' has no webhook secret" in out.getvalue()
    assert "STOREFRONT_SHOPIFY_1_WEBHOOK_SECRET" in out.getvalue()


def test_check_deploy_is_quiet_about_storefronts_that_have_their_secret(db, storefront, shopify):
    assert storefront_webhook_secrets(None) == []


def test_check_deploy_counts_the_demos_built_in_secret_only_with_debug(
    db, storefront, monkeypatch, settings
):
    monkeypatch.delenv(DEMO_SECRET_ENV)
    settings.DEBUG = True
    assert storefront_webhook_secrets(None) == []
    settings.DEBUG = False
    assert [m.obj.name for m in storefront_webhook_secrets(None)] == ["storefront"]


# Validated at the door --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_id": "E" * 201}, "event_id"),
        ({"order_ref": "O" * 10_000}, "order_ref"),
        ({"order_ref": "D-\x001"}, "order_ref"),
        ({"customer_name": "Ada\x1bLovelace"}, "customer_name"),
        ({"return_ref": "R" * 101}, "return_ref"),
        ({"lines": [EventLine(sku="S" * 65, quantity=1)]}, "lines[0].sku"),
        ({"lines": [EventLine(sku="SKU-1", quantity=10**30)]}, "lines[0].quantity"),
        ({"lines": [EventLine(sku="SKU-1", quantity=2**31)]}, "lines[0].quantity"),
        ({"lines": [EventLine(sku="SKU-1", quantity=-1)]}, "lines[0].quantity"),
        ({"lines": [EventLine(sku="SKU-1", quantity=1, line_ref="\x7f")]}, "lines[0].line_ref"),
        ({"quantity": -(2**31) - 1}, "quantity"),
    ],
)
def test_inbox_record_refuses_a_value_its_column_cannot_hold(storefront, fields, field):
    with pytest.raises(EventFieldInvalid) as refused:
        inbox_record(
            system=storefront, events=[_demo_event(), _demo_event(**{"event_id": "D-2"} | fields)]
        )
    assert refused.value.field == field
    _nothing_stored()


def test_inbox_record_accepts_values_at_their_columns_limits(storefront):
    edge = _demo_event(
        "E" * 200,
        order_ref="O" * 100,
        customer_name="Ada\tLovelace\r\n",
        lines=[EventLine(sku="S" * 64, quantity=2**31 - 1, line_ref="L" * 100)],
    )
    assert len(inbox_record(system=storefront, events=[edge])) == 1


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_demo_event("E" * 250), "event_id"),
        (_demo_event(order_ref="O" * 10_000), "order_ref"),
        (_demo_event(order_ref="D-\x00"), "order_ref"),
        (_demo_event(lines=[EventLine(sku="SKU-1", quantity=10**30)]), "lines[0].quantity"),
    ],
)
def test_demo_webhook_refuses_a_signed_event_its_columns_cannot_hold(
    client, storefront, event, field
):
    response = _demo_post(client, storefront, demo_webhook_body(event))
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("field_invalid", field)
    _nothing_stored()


@pytest.mark.parametrize("raw", [b'"quantity":1e400', b'"quantity":"1e400"', b'"quantity":NaN'])
def test_demo_webhook_answers_400_for_a_quantity_that_is_no_whole_number(client, storefront, raw):
    event = _demo_event(type=EventType.INVENTORY_CHANGED, lines=[], quantity=1)
    body = demo_webhook_body(event).replace(b'"quantity":1', raw)
    response = _demo_post(client, storefront, body)
    assert response.status_code == 400, response.content
    _nothing_stored()


def test_demo_webhook_answers_400_for_a_nul_anywhere_in_the_body(client, storefront):
    data = json.loads(demo_webhook_body(_demo_event()))
    data["note"] = "gift\x00wrap"
    response = _demo_post(client, storefront, json.dumps(data).encode())
    assert (response.status_code, response.json()["field"]) == (400, "payload")
    _nothing_stored()


def test_shopify_webhook_refuses_an_order_id_of_ten_thousand_characters(client, shopify):
    payload = shopify_order_payload(1001, [(11, "MUG-1", 2)])
    payload["id"] = "9" * 10_000
    body, headers = shopify_webhook("orders/create", payload, secret=shopify.fake.webhook_secret)
    response = _post(client, shopify.name, body, headers)
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("field_invalid", "order_ref")
    _nothing_stored()


# Hypothesis: signed hostile bodies -----------------------------------------------------------

INFINITE = "__1e400__"  # replaced by the bare number 1e400 in the body (json.dumps cannot)
HOSTILE = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\x01\x02\x1b",
        "\u0085",
        10**30,
        -(10**30),
        -1,
        2**31,
        INFINITE,
        "١٢٣",
        "x" * 10_000,
        None,
        [],
        {},
        True,
        1.5,
    ]
)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield path + (key,)
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield path + (i,)
            yield from _leaves(item, path + (i,))


def _mutated(payload: dict, data) -> bytes:
    """``payload`` with one of its values replaced by a hostile one, or removed."""
    paths = list(_leaves(payload))
    path = data.draw(st.sampled_from(paths))
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(HOSTILE)
    return json.dumps(payload).replace(f'"{INFINITE}"', "1e400").encode()


def _ledger() -> tuple:
    return (
        StockMovement.objects.count(),
        sorted(OnHand.objects.values_list("pk", "quantity")),
        Commitment.objects.count(),
    )


def _assert_survived(response, before) -> None:
    assert response.status_code < 500, response.content[:300]
    if 400 <= response.status_code < 500:
        assert response.json()["detail"]
        assert not InboxEvent.objects.exists()
    assert _ledger() == before


HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(data=st.data())
def test_demo_webhook_survives_signed_hostile_bodies(client, storefront, stocked_bin, data):
    before = _ledger()
    payload = json.loads(demo_webhook_body(_demo_event(lines=[EventLine("SKU-1", 2, "1")])))
    response = _demo_post(client, storefront, _mutated(payload, data))
    _assert_survived(response, before)
    InboxEvent.objects.all().delete()


@HYPOTHESIS
@given(data=st.data())
def test_shopify_webhook_survives_signed_hostile_bodies(client, shopify, stocked_bin, data):
    before = _ledger()
    payload = shopify_order_payload(1001, [(11, "SKU-1", 2)])
    body = _mutated(payload, data)
    _, headers = shopify_webhook("orders/create", {}, secret=shopify.fake.webhook_secret)
    secret = shopify.fake.webhook_secret.encode()
    headers["X-Shopify-Hmac-Sha256"] = base64.b64encode(
        hmac.new(secret, body, hashlib.sha256).digest()
    ).decode()
    _assert_survived(_post(client, shopify.name, body, headers), before)
    InboxEvent.objects.all().delete()


@pytest.fixture
def saleor(db, monkeypatch):
    with FakeSaleor() as fake:
        system = System.objects.create(
            name="saleor-1",
            kind=System.Kind.STOREFRONT,
            adapter="saleor",
            config={"api_url": fake.api_url, "warehouse_id": fake.warehouse_id,
                    "jwks_url": fake.jwks_url, "timeout": 2},
        )  # fmt: skip
        monkeypatch.setenv("STOREFRONT_SALEOR_1_TOKEN", fake.token)
        system.fake = fake
        yield system


@HYPOTHESIS
@given(data=st.data())
def test_saleor_webhook_survives_signed_hostile_bodies(client, saleor, stocked_bin, data):
    before = _ledger()
    issued = datetime.now(UTC).isoformat()
    payload = saleor_order_payload("OrderCreated", 12, [("SKU-1", 2)], issued_at=issued)
    body = _mutated(payload, data)
    _, headers = saleor.fake.webhook("ORDER_CREATED", {})
    headers["Saleor-Signature"] = saleor.fake.sign(body)
    _assert_survived(_post(client, saleor.name, body, headers), before)
    InboxEvent.objects.all().delete()


def test_adapter_for_the_demo_outside_debug_has_no_built_in_secret(storefront, monkeypatch):
    monkeypatch.delenv(DEMO_SECRET_ENV)
    body = demo_webhook_body(_demo_event())
    with pytest.raises(WebhookSecretMissing):
        adapter_for(storefront).verify_webhook(body, {SIGNATURE_HEADER: demo_sign(body, "")})
