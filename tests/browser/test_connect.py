"""Connect a Shopify storefront in a browser: the form, then Test connection and Register
webhooks answering in place (htmx), against the local Shopify fake."""

import pytest
from cryptography.fernet import Fernet

from inventory.models import System
from inventory.roles import ADMINS
from tests.browser.conftest import log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_connects_shopify_tests_it_and_registers_webhooks(
    live_server, page, fake_shopify, settings
):
    settings.ONEFACT_SECRETS_KEY = Fernet.generate_key().decode()
    fake_shopify.add_product("Mug", [("MUG-1", 5)])
    fake_shopify.scopes = ["read_inventory", "read_products", "read_orders", "write_returns"]
    UserFactory(username="boss", group=ADMINS, is_staff=True)
    log_in(page, live_server, "boss", "pw-for-tests-only")

    page.goto(f"{live_server.url}/storefronts/connect/")
    page.fill("#id_name", "shop-eu")
    page.select_option("#id_adapter", "shopify")
    page.fill("#id_url", fake_shopify.shop_url)
    page.fill("#id_location", "1")
    page.fill("#id_token", fake_shopify.access_token)
    page.fill("#id_webhook_secret", fake_shopify.webhook_secret)
    page.click("form[data-testid=connect-form] button[type=submit]")
    page.wait_for_url("**/storefronts/shop-eu/connection/")
    assert System.objects.get(name="shop-eu").sync_mode == System.SyncMode.OBSERVE
    assert fake_shopify.access_token not in page.content()

    page.get_by_role("button", name="Test connection").click()
    checks = page.get_by_test_id("connection-checks")
    checks.wait_for()
    assert "Read 1 stock level." in checks.inner_text()
    assert "The token lacks write_inventory: OneFact could not correct stock." in (
        checks.inner_text()
    )
    assert page.url.endswith("/storefronts/shop-eu/connection/")  # answered in place

    page.get_by_role("button", name="Register webhooks").click()
    page.get_by_text("Address protocol http:// is not supported").wait_for()
    assert fake_shopify.webhook_subscriptions == []  # Shopify wants HTTPS; nothing was made
