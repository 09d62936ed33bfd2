"""Shared fixtures. Tests that need PostgreSQL, Redis or Chromium skip with a reason when
the service is absent, and fail instead when ONEFACT_REQUIRE_SERVICES=1 (as in CI)."""

import os
import shutil

import pytest
from django.db import connection

from inventory.models import StockMovement, System
from inventory.roles import ADMINS, MANAGERS, STAFF
from inventory.seed import seed_groups, seed_ownership, seed_warehouse
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory, UserFactory

pytest_plugins = ["tests.storefront.fakes"]

REQUIRE_SERVICES = os.environ.get("ONEFACT_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"
# Marked ``slow`` (``make test-fast`` leaves them out): these folders and modules (long
# Hypothesis and Schemathesis runs, the benchmark), and any test that drives a browser or a
# live server.
SLOW_FOLDERS = ("browser", "integration")
SLOW_MODULES = ("test_stateful.py", "test_api_fuzz.py", "test_benchmark.py")
SLOW_FIXTURES = {"live_server", "browser", "page", "celery_live_worker"}


def _redis_database_per_worker() -> None:
    """Under pytest-xdist each worker uses a Redis database of its own (REDIS_URL's number
    plus the worker's), as it has a test database of its own: one worker's queue, purge and
    push kick never reach another worker's tests. Subprocesses inherit the URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("REDIS_URL", "")
    if not (worker.startswith("gw") and url):
        return
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings

    from config.celery import app

    parts = urlsplit(url)
    number = parts.path.strip("/") or "0"
    if parts.scheme not in ("redis", "rediss") or not number.isdigit():
        return  # a socket path or a URL of another shape: shared, as without xdist
    base = int(number)
    url = urlunsplit(parts._replace(path=f"/{(base + int(worker[2:])) % 16}"))
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    app.conf.broker_url = app.conf.result_backend = url


_redis_database_per_worker()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Passwords in tests are hashed with MD5: production's PBKDF2 (a million rounds) costs
    a third of a second per user or login on this kind of machine, which across the suite's
    thousands of users was its largest single cost. Subprocesses (gunicorn, the worker,
    `make run`) keep production's hasher; a test of hashing itself overrides it back."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def pytest_collection_modifyitems(config, items):
    tests = config.rootpath / "tests"
    for item in items:
        folder = item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""
        if (
            folder in SLOW_FOLDERS
            or item.path.name in SLOW_MODULES
            or SLOW_FIXTURES & set(item.fixturenames)
        ):
            item.add_marker(pytest.mark.slow)


def needs(available: bool, reason: str) -> None:
    """Skip when a service is absent; fail when CI requires every service."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} — required because ONEFACT_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """One test database per pytest process, so runs side by side never drop each other's."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"p{os.getpid()}")


@pytest.fixture
def postgres():
    needs(
        connection.vendor == "postgresql",
        "needs PostgreSQL: set DATABASE_URL=postgres://… (row locks, triggers, concurrency)",
    )


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            needs(False, f"needs Redis at REDIS_URL ({error})")
    needs(bool(url), "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    return url


@pytest.fixture(scope="session")
def chromium_path():
    needs(
        os.path.exists(CHROMIUM) or shutil.which("chromium") is not None,
        f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    )
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@pytest.fixture
def ledger_clean(db):
    """After the test, every balance equals the sum of its ledger (``verify_ledger``)."""
    yield
    from inventory.selectors import ledger_mismatches

    assert ledger_mismatches() == []


@pytest.fixture(autouse=True)
def _ledger_clean_after_every_test(request):
    """``verify_ledger`` is clean after every test that touches the database, except the few
    that break a balance on purpose to see it caught (marked ``ledger_broken``)."""
    if request.node.get_closest_marker("ledger_broken") or not _uses_database(request):
        yield
        return
    request.getfixturevalue("ledger_clean")
    yield


def _uses_database(request) -> bool:
    names = ("db", "transactional_db", "live_server")
    return bool(request.node.get_closest_marker("django_db")) or any(
        name in request.fixturenames for name in names
    )


@pytest.fixture
def shelf(db) -> System:
    return System.objects.get(name="shelf")


@pytest.fixture
def storefront(db) -> System:
    return System.objects.get(name="storefront")


@pytest.fixture
def bin(db):
    return BinFactory(code="A-14", zone="A", walk_order=14)


@pytest.fixture
def sku(db):
    return SkuFactory(code="SKU-1", title="Blue mug")


@pytest.fixture
def stocked_bin(bin, sku, shelf):
    """Bin A-14 holding 10 of SKU-1."""
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=10,
        kind=StockMovement.Kind.RECEIVE,
        source_system=shelf,
        source_event_id="seed-1",
    )
    return bin


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff-t", group=STAFF)


@pytest.fixture
def manager_user(db):
    return UserFactory(username="manager-t", group=MANAGERS)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-t", group=ADMINS, is_staff=True)


@pytest.fixture(autouse=True)
def _baseline_rows(request):
    """Transactional tests flush the database; put the migration-seeded rows back first.

    The seeded demo storefront is live in tests, as on any database that already has shelf
    history (a fresh database starts it in observe mode): the tests of sync rules run
    against a storefront that is written to. The adoption tests set observe themselves.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        from django.apps import apps

        seed_warehouse(apps)
        seed_ownership(apps)
        seed_groups(apps)
    elif not (marker or "db" in request.fixturenames):
        return
    else:
        request.getfixturevalue("db")
    System.objects.filter(kind=System.Kind.STOREFRONT).update(sync_mode=System.SyncMode.LIVE)


@pytest.fixture
def shopify(db, fake_shopify, monkeypatch, admin_user):
    """A Shopify storefront system backed by the local fake, the only one the shelf pushes to."""
    from inventory.models import Fact, Ownership
    from inventory.services import ownership_change

    system = System.objects.create(
        name="shopify-1",
        kind=System.Kind.STOREFRONT,
        sync_mode=System.SyncMode.LIVE,
        adapter="shopify",
        config={"shop_url": fake_shopify.shop_url, "location_id": fake_shopify.location_id,
                "timeout": 5},  # seconds: generous on a loaded machine
    )  # fmt: skip
    monkeypatch.setenv("STOREFRONT_SHOPIFY_1_TOKEN", fake_shopify.access_token)
    monkeypatch.setenv("STOREFRONT_SHOPIFY_1_WEBHOOK_SECRET", fake_shopify.webhook_secret)
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=[system],
                     truth_moment=on_hand.truth_moment, reason="tests push to the fake",
                     actor=admin_user)  # fmt: skip
    for fact in (Fact.ORDER, Fact.CATALOG, Fact.REFUND):
        row = Ownership.objects.get(fact=fact)
        ownership_change(ownership=row, owner=system, consumers=list(row.consumers.all()),
                         reason="tests: orders come from the fake", actor=admin_user)  # fmt: skip
    system.fake = fake_shopify
    return system


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium for the whole session (Playwright's sync API allows one)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh phone-sized browser context per test."""
    from tests.browser.conftest import PHONE

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
