"""Webhook deliveries are refused when old, dated ahead of our clock, or without the timestamp
their storefront always sends; a refused delivery stores nothing, a fresh one is stored once."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from inventory.models import AuthorityConflict, Commitment, InboxEvent, System
from inventory.storefront.base import (
    EventLine,
    EventType,
    InboundEvent,
    WebhookTimestampInvalid,
    webhook_check_age,
)
from inventory.storefront.demo.adapter import (
    SENT_AT_FIELD,
    SIGNATURE_HEADER,
    DemoAdapter,
    demo_sign,
    demo_webhook_body,
)
from inventory.storefront.saleor import SaleorAdapter
from inventory.storefront.shopify import ShopifyAdapter
from tests.storefront.fakes import (
    FakeSaleor,
    saleor_order_payload,
    shopify_order_payload,
    shopify_triggered_at,
    shopify_webhook,
)

DEMO_SECRET = "demo-secret"  # the demo storefront's secret when none is set in the environment


def _ago(**delta) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def _ahead(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def _post(client, system: str, body: bytes, headers: dict[str, str]):
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(
        f"/webhooks/{system}/", body, content_type="application/json", headers=headers
    )


def _refused(response, code: str) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == code
    assert body["detail"].startswith("delivery refused: ")


def _nothing_stored() -> None:
    assert not InboxEvent.objects.exists()
    assert not Commitment.objects.exists()
    assert not AuthorityConflict.objects.exists()


# The demo storefront (its format is ours: "sent_at" inside the signed body) ----------------


def _demo_event(event_id: str = "D-1:placed") -> InboundEvent:
    return InboundEvent(
        event_id=event_id,
        type=EventType.ORDER_PLACED,
        occurred_at=None,
        order_ref="D-1",
        lines=[EventLine(sku="SKU-1", quantity=1, line_ref="1")],
    )


def _demo_delivery(body: bytes, secret: str = DEMO_SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: demo_sign(body, secret)}


def _demo_body_without_sent_at() -> bytes:
    data = json.loads(demo_webhook_body(_demo_event()))
    del data[SENT_AT_FIELD]
    return json.dumps(data).encode()


def test_demo_fresh_delivery_is_stored_once_and_its_replay_changes_nothing(client, storefront, sku):
    body = demo_webhook_body(_demo_event())
    first = _post(client, storefront.name, body, _demo_delivery(body))
    again = _post(client, storefront.name, body, _demo_delivery(body))
    assert first.status_code == again.status_code == 200
    assert (first.json()["new"], again.json()["new"]) == (1, 0)
    assert InboxEvent.objects.count() == 1


def test_demo_delivery_older_than_the_limit_is_refused_and_stores_nothing(client, storefront):
    body = demo_webhook_body(_demo_event(), sent_at=_ago(seconds=DemoAdapter.webhook_max_age + 5))
    response = _post(client, storefront.name, body, _demo_delivery(body))
    _refused(response, "too_old")
    assert "older than 300 s" in response.json()["detail"]
    _nothing_stored()


def test_demo_delivery_just_inside_the_limit_is_accepted(client, storefront):
    body = demo_webhook_body(_demo_event(), sent_at=_ago(seconds=DemoAdapter.webhook_max_age - 30))
    assert _post(client, storefront.name, body, _demo_delivery(body)).status_code == 200


def test_demo_delivery_dated_ahead_of_our_clock_is_refused(client, storefront):
    body = demo_webhook_body(_demo_event(), sent_at=_ahead(minutes=10))
    _refused(_post(client, storefront.name, body, _demo_delivery(body)), "from_the_future")
    _nothing_stored()


def test_demo_delivery_a_few_seconds_ahead_is_clock_skew_and_accepted(client, storefront):
    body = demo_webhook_body(_demo_event(), sent_at=_ahead(seconds=20))
    assert _post(client, storefront.name, body, _demo_delivery(body)).status_code == 200


def test_demo_delivery_without_its_timestamp_is_refused(client, storefront):
    body = _demo_body_without_sent_at()
    _refused(_post(client, storefront.name, body, _demo_delivery(body)), "timestamp_missing")
    _nothing_stored()


def test_demo_delivery_with_an_unreadable_timestamp_is_refused(client, storefront):
    data = json.loads(demo_webhook_body(_demo_event()))
    data[SENT_AT_FIELD] = "yesterday at noon"
    body = json.dumps(data).encode()
    _refused(_post(client, storefront.name, body, _demo_delivery(body)), "timestamp_unreadable")
    _nothing_stored()


def test_demo_timestamp_cannot_be_moved_without_breaking_the_signature(client, storefront):
    """The stamp is inside the signed body: an old delivery re-dated by a third party fails."""
    old = demo_webhook_body(_demo_event(), sent_at=_ago(hours=2))
    signature = demo_sign(old, DEMO_SECRET)
    data = json.loads(old)
    data[SENT_AT_FIELD] = datetime.now(UTC).isoformat()
    redated = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    response = _post(client, storefront.name, redated, {SIGNATURE_HEADER: signature})
    assert response.status_code == 401
    assert response.json()["code"] == "signature_invalid"
    _nothing_stored()


def test_demo_signature_is_checked_before_the_timestamp(client, storefront):
    """An unsigned or badly signed delivery learns nothing about our clock or limits."""
    body = demo_webhook_body(_demo_event(), sent_at=_ago(days=3))
    response = _post(client, storefront.name, body, _demo_delivery(body, secret="guess"))
    assert response.status_code == 401
    assert response.json()["code"] == "signature_invalid"
    unsigned = _post(client, storefront.name, body, {})
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "signature_invalid")
    _nothing_stored()


def test_demo_webhook_body_is_stamped_now_for_the_demos_own_senders():
    """The load test and the demo build deliveries with demo_webhook_body: they carry a stamp."""
    body = demo_webhook_body(_demo_event())
    sent_at = DemoAdapter(webhook_secret=DEMO_SECRET).webhook_sent_at(body, {})
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 5


# Settings ----------------------------------------------------------------------------------


def test_the_max_age_setting_replaces_the_storefronts_window(client, storefront, settings):
    settings.ONEFACT_WEBHOOK_MAX_AGE_SECONDS = 60
    body = demo_webhook_body(_demo_event(), sent_at=_ago(seconds=90))
    _refused(_post(client, storefront.name, body, _demo_delivery(body)), "too_old")
    settings.ONEFACT_WEBHOOK_MAX_AGE_SECONDS = 3600
    assert _post(client, storefront.name, body, _demo_delivery(body)).status_code == 200


def test_the_clock_skew_setting_bounds_how_far_ahead_a_stamp_may_be(client, storefront, settings):
    settings.ONEFACT_WEBHOOK_CLOCK_SKEW_SECONDS = 0
    body = demo_webhook_body(_demo_event(), sent_at=_ahead(seconds=20))
    _refused(_post(client, storefront.name, body, _demo_delivery(body)), "from_the_future")
    _nothing_stored()


@pytest.mark.parametrize(
    ("age", "refused"),
    [(-61, "from_the_future"), (-60, None), (0, None), (300, None), (301, "too_old")],
)
def test_webhook_check_age_bounds(age, refused):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    sent_at = now - timedelta(seconds=age)
    if refused is None:
        webhook_check_age(sent_at, now=now, max_age=300, max_ahead=60)
        return
    with pytest.raises(WebhookTimestampInvalid) as caught:
        webhook_check_age(sent_at, now=now, max_age=300, max_ahead=60)
    assert caught.value.code == refused


def test_an_adapter_that_reads_no_timestamp_refuses_every_delivery():
    from inventory.bench.sections import InProcessStorefront

    with pytest.raises(WebhookTimestampInvalid) as caught:
        InProcessStorefront({}).webhook_sent_at(b"{}", {})
    assert caught.value.code == "timestamp_missing"


# Shopify: X-Shopify-Triggered-At, kept by each of its 8 retries over 4 hours ------------------


def _shopify_post(client, shopify, *, order: int = 1001, **kwargs):
    payload = shopify_order_payload(order, [(11, "MUG-1", 2)])
    body, headers = shopify_webhook(
        "orders/create", payload, secret=shopify.fake.webhook_secret, **kwargs
    )
    return _post(client, shopify.name, body, headers)


def test_shopify_fresh_delivery_is_accepted_and_its_retry_stores_nothing_new(client, shopify):
    stamp = shopify_triggered_at()
    first = _shopify_post(client, shopify, webhook_id="wh-1", triggered_at=stamp)
    retry = _shopify_post(client, shopify, webhook_id="wh-1", triggered_at=stamp)
    assert first.status_code == retry.status_code == 200
    assert (first.json()["new"], retry.json()["new"]) == (1, 0)
    assert InboxEvent.objects.count() == 1


def test_shopify_retry_hours_later_within_its_window_is_accepted(client, shopify):
    """Shopify re-sends a failed delivery with its first X-Shopify-Triggered-At for 4 hours:
    refusing those retries would lose the order."""
    response = _shopify_post(client, shopify, triggered_at=shopify_triggered_at(_ago(hours=3)))
    assert response.status_code == 200
    assert response.json()["new"] == 1


def test_shopify_delivery_older_than_its_retry_window_is_refused(client, shopify):
    age = timedelta(seconds=ShopifyAdapter.webhook_max_age + 60)
    response = _shopify_post(client, shopify, triggered_at=shopify_triggered_at(_ago() - age))
    _refused(response, "too_old")
    _nothing_stored()


def test_shopify_delivery_dated_ahead_is_refused(client, shopify):
    response = _shopify_post(client, shopify, triggered_at=shopify_triggered_at(_ahead(hours=1)))
    _refused(response, "from_the_future")
    _nothing_stored()


def test_shopify_delivery_without_triggered_at_is_refused(client, shopify):
    payload = shopify_order_payload(1001, [(11, "MUG-1", 2)])
    body, headers = shopify_webhook("orders/create", payload, secret=shopify.fake.webhook_secret)
    del headers["X-Shopify-Triggered-At"]
    response = _post(client, shopify.name, body, headers)
    _refused(response, "timestamp_missing")
    assert "X-Shopify-Triggered-At" in response.json()["detail"]
    _nothing_stored()


def test_shopify_triggered_at_in_shopifys_nanosecond_format_is_read():
    adapter = ShopifyAdapter(
        shop_url="https://x.myshopify.com",
        access_token="t",
        location_id="gid://shopify/Location/1",
        webhook_secret="s",
    )
    sent_at = adapter.webhook_sent_at(
        b"{}", {"x-shopify-triggered-at": "2026-11-29T18:00:27.877041743Z"}
    )
    assert sent_at == datetime(2026, 11, 29, 18, 0, 27, 877041, tzinfo=UTC)
    adapter.close()


# Saleor: "issuedAt" inside the signed payload, kept by its five attempts ---------------------


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


def _saleor_post(client, saleor, payload):
    body, headers = saleor.fake.webhook("ORDER_CREATED", payload)
    return _post(client, saleor.name, body, headers)


def test_saleor_fresh_delivery_is_accepted_and_its_retry_stores_nothing_new(client, saleor):
    payload = saleor_order_payload(
        "OrderCreated", 12, [("MUG-1", 2)], issued_at=datetime.now(UTC).isoformat()
    )
    first = _saleor_post(client, saleor, payload)
    retry = _saleor_post(client, saleor, payload)
    assert first.status_code == retry.status_code == 200
    assert (first.json()["new"], retry.json()["new"]) == (1, 0)


def test_saleor_delivery_older_than_its_retry_window_is_refused(client, saleor):
    issued = _ago(seconds=SaleorAdapter.webhook_max_age + 60).isoformat()
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)], issued_at=issued)
    _refused(_saleor_post(client, saleor, payload), "too_old")
    _nothing_stored()


def test_saleor_delivery_dated_ahead_is_refused(client, saleor):
    issued = _ahead(minutes=5).isoformat()
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)], issued_at=issued)
    _refused(_saleor_post(client, saleor, payload), "from_the_future")
    _nothing_stored()


def test_saleor_delivery_without_issued_at_is_refused(client, saleor):
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)])
    del payload["issuedAt"]
    _refused(_saleor_post(client, saleor, payload), "timestamp_missing")
    _nothing_stored()


def test_saleor_delivery_with_a_forged_signature_is_refused_before_its_time(client, saleor):
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)], issued_at="2020-01-01")
    body, headers = saleor.fake.webhook("ORDER_CREATED", payload)
    tampered = body.replace(b"2020-01-01", datetime.now(UTC).date().isoformat().encode())
    response = _post(client, saleor.name, tampered, headers)
    assert (response.status_code, response.json()["code"]) == (401, "signature_invalid")
    _nothing_stored()
