"""Connecting: the adapters' access checks and webhook registration, against the fakes and the
vendors' published schemas (cut down in ``schemas/``, see ``schemas/make_subsets.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from graphql import build_client_schema, parse, validate

from inventory.storefront import saleor, shopify_documents
from inventory.storefront.base import AuthenticationFailed, StorefrontValidationError
from inventory.storefront.saleor import SaleorAdapter, webhook_events
from inventory.storefront.shopify import ShopifyAdapter
from inventory.storefront.shopify_webhooks import webhook_topics
from tests.storefront.fakes import SALEOR_ASYNC_EVENTS, SHOPIFY_WEBHOOK_TOPICS

SCHEMAS = Path(__file__).parent / "schemas"
URL = "https://onefact.example.com/webhooks/shop/"


def _schema(name: str):
    return build_client_schema(json.loads((SCHEMAS / name).read_text()))


def _enum(name: str, schema_file: str) -> set[str]:
    return set(_schema(schema_file).get_type(name).values)


def _shopify(fake) -> ShopifyAdapter:
    return ShopifyAdapter(
        shop_url=fake.shop_url,
        access_token=fake.access_token,
        location_id=fake.location_id,
        webhook_secret=fake.webhook_secret,
    )


def _saleor(fake) -> SaleorAdapter:
    return SaleorAdapter(api_url=fake.api_url, token=fake.token, warehouse_id=fake.warehouse_id)


@pytest.mark.parametrize(
    ("schema_file", "operation"),
    [
        ("shopify-connect-2026-10.json", shopify_documents.ACCESS_SCOPES_QUERY),
        ("shopify-connect-2026-10.json", shopify_documents.WEBHOOK_SUBSCRIPTIONS_QUERY),
        ("shopify-connect-2026-10.json", shopify_documents.WEBHOOK_SUBSCRIPTION_CREATE_MUTATION),
        ("saleor-connect-HEAD.json", saleor.APP_QUERY),
        ("saleor-connect-HEAD.json", saleor.WEBHOOK_CREATE_MUTATION),
        ("saleor-connect-HEAD.json", saleor.SUBSCRIPTION_QUERY),
    ],
)
def test_connect_operations_validate_against_the_published_schema(schema_file, operation):
    assert validate(_schema(schema_file), parse(operation)) == []


def test_shopify_webhook_topics_are_values_of_the_published_enum():
    published = _enum("WebhookSubscriptionTopic", "shopify-connect-2026-10.json")

    assert len(webhook_topics()) == 8
    assert set(webhook_topics()) <= published
    assert set(SHOPIFY_WEBHOOK_TOPICS) <= published


def test_saleor_webhook_events_are_values_of_the_published_enum():
    published = _enum("WebhookEventTypeAsyncEnum", "saleor-connect-HEAD.json")

    assert set(webhook_events()) <= published
    assert published >= SALEOR_ASYNC_EVENTS


def test_shopify_check_access_counts_a_write_scope_as_its_read(fake_shopify):
    fake_shopify.scopes = ["write_inventory", "write_products", "write_orders", "write_returns"]

    report = _shopify(fake_shopify).check_access()

    assert report.missing == []
    assert report.granted == sorted(fake_shopify.scopes)


def test_shopify_check_access_names_each_missing_scope(fake_shopify):
    fake_shopify.scopes = ["read_inventory", "read_products"]

    report = _shopify(fake_shopify).check_access()

    assert [gap.name for gap in report.missing] == [
        "write_inventory", "read_orders", "read_returns", "write_returns",
    ]  # fmt: skip


def test_shopify_register_webhooks_keeps_the_subscriptions_already_there(fake_shopify):
    adapter = _shopify(fake_shopify)
    adapter._graphql(
        "OneFactWebhookSubscriptionCreate",
        shopify_documents.WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
        {"topic": "ORDERS_CREATE", "webhookSubscription": {"uri": URL, "format": "JSON"}},
    )

    registration = adapter.register_webhooks(url=URL)

    assert registration.existing == ["ORDERS_CREATE"]
    assert registration.created == [t for t in webhook_topics() if t != "ORDERS_CREATE"]
    assert len(fake_shopify.webhook_subscriptions) == 8


def test_fake_shopify_refuses_a_second_subscription_of_one_topic_to_one_address(fake_shopify):
    adapter = _shopify(fake_shopify)
    variables = {"topic": "ORDERS_CREATE", "webhookSubscription": {"uri": URL}}
    name = "OneFactWebhookSubscriptionCreate"
    mutation = shopify_documents.WEBHOOK_SUBSCRIPTION_CREATE_MUTATION

    adapter._graphql(name, mutation, variables)
    again = adapter._graphql(name, mutation, variables)["webhookSubscriptionCreate"]

    assert again["webhookSubscription"] is None
    taken = "Address for this topic has already been taken"
    assert again["userErrors"] == [{"field": ["webhookSubscription", "uri"], "message": taken}]


def test_fake_shopify_refuses_an_unknown_topic_at_the_top_level(fake_shopify):
    adapter = _shopify(fake_shopify)

    with pytest.raises(StorefrontValidationError, match="WebhookSubscriptionTopic! was provided"):
        adapter._graphql(
            "OneFactWebhookSubscriptionCreate",
            shopify_documents.WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
            {"topic": "ORDERS_EXPLODED", "webhookSubscription": {"uri": URL}},
        )
    assert fake_shopify.webhook_subscriptions == []


def test_saleor_check_access_with_a_wrong_token_is_refused(fake_saleor):
    adapter = SaleorAdapter(api_url=fake_saleor.api_url, token="not-the-app-token",
                            warehouse_id=fake_saleor.warehouse_id)  # fmt: skip

    with pytest.raises(AuthenticationFailed):
        adapter.check_access()


def test_saleor_register_webhooks_refused_address_says_why_and_saves_nothing(fake_saleor):
    with pytest.raises(StorefrontValidationError, match=r"Enter a valid URL\. \(targetUrl\)"):
        _saleor(fake_saleor).register_webhooks(url="onefact.example.com/webhooks/x/")

    assert fake_saleor.webhooks == []


def test_saleor_register_webhooks_adds_only_the_events_missing(fake_saleor):
    fake_saleor.webhooks.append({"id": "V2ViaG9vazox", "name": "old", "targetUrl": URL,
                                 "isActive": True, "asyncEvents": ["ORDER_CREATED"],
                                 "subscriptionQuery": None})  # fmt: skip

    registration = _saleor(fake_saleor).register_webhooks(url=URL)

    assert registration.existing == ["ORDER_CREATED"]
    assert "ORDER_CREATED" not in registration.created
    assert fake_saleor.webhooks[-1]["asyncEvents"] == registration.created


def test_fake_saleor_refuses_an_unknown_event_as_saleor_does(fake_saleor):
    body = {
        "operationName": "OneFactWebhookCreate",
        "query": saleor.WEBHOOK_CREATE_MUTATION,
        "variables": {"input": {"targetUrl": URL, "asyncEvents": ["ORDER_EXPLODED"]}},
    }

    response = httpx.post(fake_saleor.api_url, json=body,
                          headers={"Authorization": f"Bearer {fake_saleor.token}"})  # fmt: skip

    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "does not exist in 'WebhookEventTypeAsyncEnum'" in message
    assert fake_saleor.webhooks == []
