"""Connect a storefront from the back-office: the form, the stored secrets, Test connection and
Register webhooks against the Shopify and Saleor fakes and the demo storefront."""

import socket

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.urls import reverse

from inventory.models import Fact, Ownership, OwnershipChange, System
from inventory.services.connect import (
    StorefrontConfigInvalid,
    storefront_connect,
    storefront_connection_test,
    storefront_secrets_set,
    storefront_webhooks_register,
)
from inventory.storefront import adapter_for
from inventory.storefront.secrets import secret_decrypt
from inventory.storefront.shopify_webhooks import webhook_topics

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _secrets_key(settings):
    settings.ONEFACT_SECRETS_KEY = KEY


@pytest.fixture(autouse=True)
def _ledger_clean(db):
    yield
    call_command("verify_ledger", "--no-record")


def _shopify(fake, admin_user, *, name="shop-eu", token=None, webhook_secret=None):
    fake.add_product("Mug", [("MUG-1", 5), ("MUG-2", 0)])
    return storefront_connect(
        name=name,
        adapter="shopify",
        url=fake.shop_url,
        location=fake.location_id,
        token=fake.access_token if token is None else token,
        webhook_secret=fake.webhook_secret if webhook_secret is None else webhook_secret,
        actor=admin_user,
    )


def _saleor(fake, admin_user):
    fake.add_product("Mug", [("MUG-1", 5)])
    return storefront_connect(
        name="saleor-eu",
        adapter="saleor",
        url=fake.api_url,
        location=fake.warehouse_id,
        token=fake.token,
        actor=admin_user,
    )


def _test_page(client, system, **kwargs):
    url = reverse("inventory:storefront-connection-test", args=[system.name])
    return client.post(url, headers={"HX-Request": "true"}, **kwargs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


# -- the service ------------------------------------------------------------------------


def test_storefront_connect_adds_an_observing_consumer_of_on_hand(fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user)

    assert system.kind == System.Kind.STOREFRONT
    assert system.sync_mode == System.SyncMode.OBSERVE
    assert system.config == {"shop_url": fake_shopify.shop_url,
                             "location_id": fake_shopify.location_id}  # fmt: skip
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    assert system in on_hand.consumers.all()
    assert on_hand.owner.name == "shelf"
    change = OwnershipChange.objects.filter(ownership=on_hand).latest("pk")
    assert change.changed_by == admin_user and "shop-eu connected" in change.reason


def test_storefront_connect_stores_secrets_encrypted_never_in_plaintext(fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user)

    stored = System.objects.get(pk=system.pk)
    assert stored.token_encrypted and fake_shopify.access_token not in stored.token_encrypted
    assert fake_shopify.webhook_secret not in stored.webhook_secret_encrypted
    assert secret_decrypt(stored.token_encrypted) == fake_shopify.access_token
    assert secret_decrypt(stored.webhook_secret_encrypted) == fake_shopify.webhook_secret
    adapter = adapter_for(stored)
    assert adapter.read_levels(None).items  # the stored token opens the fake


def test_storefront_secrets_set_takes_effect_without_a_restart(fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user, token="shpat_old_revoked")
    assert not storefront_connection_test(storefront=system).ok

    storefront_secrets_set(storefront=system, token=fake_shopify.access_token)

    assert storefront_connection_test(storefront=System.objects.get(pk=system.pk)).ok


def test_environment_secret_wins_over_the_stored_one(fake_shopify, admin_user, monkeypatch):
    system = _shopify(fake_shopify, admin_user, token="shpat_stored_but_wrong")
    monkeypatch.setenv("STOREFRONT_SHOP_EU_TOKEN", fake_shopify.access_token)

    report = storefront_connection_test(storefront=system)

    assert report.ok, report.checks


def test_storefront_connect_without_a_key_refuses_to_store_secrets(
    fake_shopify, admin_user, settings
):
    settings.ONEFACT_SECRETS_KEY = ""
    systems, changes = System.objects.count(), OwnershipChange.objects.count()

    with pytest.raises(StorefrontConfigInvalid) as refused:
        _shopify(fake_shopify, admin_user)

    assert refused.value.field == "token"
    assert "ONEFACT_SECRETS_KEY" in str(refused.value)
    assert "STOREFRONT_SHOP_EU_TOKEN" in str(refused.value)
    assert (System.objects.count(), OwnershipChange.objects.count()) == (systems, changes)


def test_storefront_connect_without_a_key_takes_secrets_from_the_environment(
    fake_shopify, admin_user, settings, monkeypatch
):
    settings.ONEFACT_SECRETS_KEY = ""
    monkeypatch.setenv("STOREFRONT_SHOP_EU_TOKEN", fake_shopify.access_token)
    monkeypatch.setenv("STOREFRONT_SHOP_EU_WEBHOOK_SECRET", fake_shopify.webhook_secret)

    system = _shopify(fake_shopify, admin_user, token="", webhook_secret="")

    assert system.token_encrypted == "" and system.webhook_secret_encrypted == ""
    assert storefront_connection_test(storefront=system).ok


def test_stored_secret_unreadable_after_the_key_changed_says_so(fake_shopify, admin_user, settings):
    system = _shopify(fake_shopify, admin_user)
    settings.ONEFACT_SECRETS_KEY = Fernet.generate_key().decode()

    report = storefront_connection_test(storefront=system)

    assert not report.ok
    assert "The stored token cannot be read" in report.checks[0].detail


# -- the form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "storefront", "adapter": "saleor"}, "name", "exists already"),
        ({"name": "Storefront", "adapter": "saleor"}, "name", "environment variables"),
        ({"name": "shop eu", "adapter": "shopify"}, "name", "letters"),
        ({"name": "shop-eu", "adapter": "magento"}, "adapter", "valid choice"),
        (
            {
                "name": "shop-eu",
                "adapter": "shopify",
                "url": "not a url",
                "location": "1",
                "token": "t",
                "webhook_secret": "s",
            },
            "url",
            "web address",
        ),  # fmt: skip
        (
            {
                "name": "shop-eu",
                "adapter": "shopify",
                "url": "https://x.myshopify.com",
                "location": "Main",
                "token": "t",
                "webhook_secret": "s",
            },
            "location",
            "location id",
        ),
        (
            {
                "name": "shop-eu",
                "adapter": "shopify",
                "url": "https://x.myshopify.com",
                "location": "1",
                "webhook_secret": "s",
            },
            "token",
            "STOREFRONT_SHOP_EU_TOKEN",
        ),
        (
            {
                "name": "saleor-eu",
                "adapter": "saleor",
                "location": "V2FyZWhvdXNlOjE=",
                "token": "t",
            },
            "url",
            "API URL",
        ),
        (
            {
                "name": "saleor-eu",
                "adapter": "saleor",
                "url": "https://s.example.com/graphql/",
                "token": "t",
            },
            "location",
            "warehouse",
        ),
        ({"name": "demo-2", "adapter": "demo"}, "adapter", "only one"),
    ],  # fmt: skip
)
def test_storefront_connect_page_shows_the_error_next_to_the_field(
    client, admin_user, data, field, words
):
    client.force_login(admin_user)
    systems, changes = System.objects.count(), OwnershipChange.objects.count()

    response = client.post(reverse("inventory:storefront-connect"), data)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert (System.objects.count(), OwnershipChange.objects.count()) == (systems, changes)


def test_storefront_connect_page_adds_one_and_never_shows_the_secret(
    client, admin_user, fake_shopify
):
    client.force_login(admin_user)
    data = {"name": "shop-eu", "adapter": "shopify", "url": fake_shopify.shop_url,
            "location": "1", "token": fake_shopify.access_token,
            "webhook_secret": fake_shopify.webhook_secret}  # fmt: skip

    response = client.post(reverse("inventory:storefront-connect"), data, follow=True)

    system = System.objects.get(name="shop-eu")
    assert response.redirect_chain[-1][0] == reverse(
        "inventory:storefront-connection", args=["shop-eu"]
    )
    page = response.content.decode()
    assert "stored — replace below" in page
    assert fake_shopify.access_token not in page and fake_shopify.webhook_secret not in page
    assert "http://testserver/webhooks/shop-eu/" in page
    assert system.sync_mode == System.SyncMode.OBSERVE


def test_storefront_connect_page_without_a_key_asks_for_the_environment(
    client, admin_user, settings
):
    settings.ONEFACT_SECRETS_KEY = ""
    client.force_login(admin_user)

    response = client.get(reverse("inventory:storefront-connect"))

    assert 'data-testid="no-secrets-key"' in response.content.decode()


def test_storefront_connect_page_managers_look_but_do_not_add(client, manager_user):
    client.force_login(manager_user)

    page = client.get(reverse("inventory:storefront-connect"))
    post = client.post(reverse("inventory:storefront-connect"), {"name": "x", "adapter": "demo"})

    assert page.status_code == 200 and 'data-testid="connect-form"' not in page.content.decode()
    assert post.status_code == 403
    assert not System.objects.filter(name="x").exists()


def test_storefront_connect_pages_refuse_staff(client, staff_user, storefront):
    client.force_login(staff_user)

    for url in (
        reverse("inventory:storefront-connect"),
        reverse("inventory:storefront-connection", args=[storefront.name]),
    ):
        assert client.get(url).status_code == 403


def test_storefront_secrets_replace_needs_change_system(client, manager_user, storefront):
    client.force_login(manager_user)

    url = reverse("inventory:storefront-secrets", args=[storefront.name])

    assert client.post(url, {"token": "new"}).status_code == 403
    assert System.objects.get(pk=storefront.pk).token_encrypted == ""


def test_storefront_secrets_replace_blank_shows_an_error(client, admin_user, storefront):
    client.force_login(admin_user)

    response = client.post(reverse("inventory:storefront-secrets", args=[storefront.name]), {})

    assert response.status_code == 200
    assert "Enter a new token" in " ".join(response.context["secrets_form"].errors["token"])


# -- Test connection --------------------------------------------------------------------


def test_connection_test_shopify_reads_levels_catalog_and_scopes(
    client, manager_user, fake_shopify, admin_user
):
    system = _shopify(fake_shopify, admin_user)
    client.force_login(manager_user)

    response = _test_page(client, system)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page  # the htmx partial
    assert "Read 2 stock levels." in page and "Read 2 catalog items." in page
    assert "Everything OneFact needs is granted" in page
    assert fake_shopify.operations("OneFactAccessScopes")
    assert not fake_shopify.operations("OneFactSetOnHand")  # a test writes nothing


def test_connection_test_shopify_names_a_missing_scope_and_what_it_stops(fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user)
    fake_shopify.scopes = ["read_inventory", "read_products", "read_orders", "write_returns"]

    report = storefront_connection_test(storefront=system)

    assert not report.ok
    failed = [check.detail for check in report.checks if not check.ok]
    assert failed == ["The token lacks write_inventory: OneFact could not correct stock."]


def test_connection_test_shopify_without_read_inventory_fails_the_levels_read(
    fake_shopify, admin_user
):
    system = _shopify(fake_shopify, admin_user)
    fake_shopify.scopes = ["read_products", "read_orders", "read_returns", "write_returns"]

    report = storefront_connection_test(storefront=system)

    failed = [(check.label, check.detail) for check in report.checks if not check.ok]
    assert "Required access: `read_inventory` access scope" in failed[0][1]
    assert [label for label, _ in failed] == ["Stock levels", "Permissions", "Permissions"]
    assert failed[1][1].startswith("The token lacks read_inventory: OneFact could not read")
    assert failed[2][1].startswith("The token lacks write_inventory")


def test_connection_test_shopify_with_a_wrong_token_says_it_is_refused(fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user, token="shpat_wrong")

    report = storefront_connection_test(storefront=system)

    assert not report.ok
    assert report.checks[0].detail.startswith("The storefront refused the token")


def test_connection_test_an_unreachable_url_gives_a_sentence_not_a_500(client, admin_user):
    system = storefront_connect(
        name="shop-gone", adapter="shopify", url=f"http://127.0.0.1:{_closed_port()}",
        location="1", token="shpat_x", webhook_secret="s", actor=admin_user,
    )  # fmt: skip
    client.force_login(admin_user)

    response = _test_page(client, system)

    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "<strong>Stock levels:</strong> Could not reach the storefront: Shopify unreachable" in page
    )
    assert "Catalog:" not in page  # not tried once the storefront did not answer


def test_connection_test_saleor_reads_and_checks_the_app_permissions(fake_saleor, admin_user):
    system = _saleor(fake_saleor, admin_user)

    report = storefront_connection_test(storefront=system)

    assert report.ok, report.checks
    assert "MANAGE_ORDERS, MANAGE_PRODUCTS" in report.checks[-1].detail


def test_connection_test_saleor_names_a_missing_permission(fake_saleor, admin_user):
    system = _saleor(fake_saleor, admin_user)
    fake_saleor.permissions = ["MANAGE_PRODUCTS"]

    report = storefront_connection_test(storefront=system)

    failed = [check.detail for check in report.checks if not check.ok]
    assert len(failed) == 1 and failed[0].startswith("The token lacks MANAGE_ORDERS: orders")


def test_connection_test_saleor_without_manage_products_cannot_read(fake_saleor, admin_user):
    system = _saleor(fake_saleor, admin_user)
    fake_saleor.permissions = ["MANAGE_ORDERS"]

    report = storefront_connection_test(storefront=system)

    details = {check.label: check.detail for check in report.checks if not check.ok}
    assert "MANAGE_PRODUCTS" in details["Stock levels"]
    assert details["Permissions"].startswith("The token lacks MANAGE_PRODUCTS")


def test_connection_test_demo_needs_no_token(storefront):
    report = storefront_connection_test(storefront=storefront)

    assert report.ok
    assert report.checks[-1].detail == "This storefront needs no token."


def test_connection_test_without_any_token_says_where_to_put_one(admin_user, settings):
    system = storefront_connect(
        name="saleor-x", adapter="saleor", url="https://s.example.com/graphql/",
        location="V2FyZWhvdXNlOjE=", token="t", actor=admin_user,
    )  # fmt: skip
    System.objects.filter(pk=system.pk).update(token_encrypted="")
    system.refresh_from_db()

    report = storefront_connection_test(storefront=system)

    assert report.checks[0].detail.startswith("No token: enter one on this page or set "
                                              "STOREFRONT_SALEOR_X_TOKEN")  # fmt: skip


# -- Register webhooks ------------------------------------------------------------------


def _register(client, system, *, secure=True):
    url = reverse("inventory:storefront-webhooks-register", args=[system.name])
    return client.post(url, headers={"HX-Request": "true"}, secure=secure)


def test_register_webhooks_shopify_subscribes_every_topic_once(client, admin_user, fake_shopify):
    system = _shopify(fake_shopify, admin_user)
    client.force_login(admin_user)

    first = _register(client, system)
    second = _register(client, system)

    uri = "https://testserver/webhooks/shop-eu/"
    assert sorted((s["topic"], s["uri"]) for s in fake_shopify.webhook_subscriptions) == sorted(
        (topic, uri) for topic in webhook_topics()
    )
    assert f"Registered now: {', '.join(webhook_topics())}." in first.content.decode()
    assert "Registered now: none." in second.content.decode()
    assert f"Already registered: {', '.join(webhook_topics())}." in second.content.decode()


def test_register_webhooks_shopify_refuses_a_plain_http_address(client, admin_user, fake_shopify):
    system = _shopify(fake_shopify, admin_user)
    client.force_login(admin_user)

    response = _register(client, system, secure=False)

    assert response.status_code == 200
    assert "Address protocol http:// is not supported" in response.content.decode()
    assert fake_shopify.webhook_subscriptions == []


def test_register_webhooks_shopify_without_the_orders_scope_stops_at_that_topic(
    fake_shopify, admin_user
):
    system = _shopify(fake_shopify, admin_user)
    fake_shopify.scopes = ["read_inventory", "write_inventory", "read_products"]

    with pytest.raises(Exception, match="Shopify refused the ORDERS_CREATE subscription"):
        storefront_webhooks_register(storefront=system, url="https://onefact.example.com/w/")

    assert fake_shopify.webhook_subscriptions == []


def test_register_webhooks_saleor_creates_one_webhook_once(fake_saleor, admin_user):
    system = _saleor(fake_saleor, admin_user)
    url = "https://onefact.example.com/webhooks/saleor-eu/"

    first = storefront_webhooks_register(storefront=system, url=url)
    second = storefront_webhooks_register(storefront=system, url=url)

    assert len(fake_saleor.webhooks) == 1
    webhook = fake_saleor.webhooks[0]
    assert webhook["targetUrl"] == url and webhook["subscriptionQuery"].strip().startswith(
        "subscription OneFactEvents"
    )
    assert set(webhook["asyncEvents"]) == set(first.created)
    assert "ORDER_CREATED" in first.created and "PRODUCT_VARIANT_STOCK_UPDATED" in first.created
    assert second.created == [] and second.existing == first.created


def test_register_webhooks_demo_has_nothing_to_register(client, admin_user, storefront):
    client.force_login(admin_user)

    response = _register(client, storefront)

    assert "nothing to register" in response.content.decode()


def test_register_webhooks_needs_change_system(client, manager_user, fake_shopify, admin_user):
    system = _shopify(fake_shopify, admin_user)
    client.force_login(manager_user)

    assert _register(client, system).status_code == 403
    assert fake_shopify.webhook_subscriptions == []


# -- a fixed number of queries ----------------------------------------------------------


@pytest.mark.parametrize("n", [1, 30])
def test_storefront_connect_pages_run_a_fixed_number_of_queries(
    client, admin_user, n, django_assert_max_num_queries
):
    for index in range(n):
        config = {"api_url": "https://s.example.com/graphql/"}
        System.objects.create(
            name=f"shop-{index}", kind=System.Kind.STOREFRONT, adapter="saleor", config=config
        )
    client.force_login(admin_user)

    with django_assert_max_num_queries(6):  # 5, and the breaker banner's one
        assert client.get(reverse("inventory:storefront-connect")).status_code == 200
    with django_assert_max_num_queries(6):
        url = reverse("inventory:storefront-connection", args=["shop-0"])
        assert client.get(url).status_code == 200
