"""The circuit breaker and the readiness page in a real browser (Debian's Chromium, on
PostgreSQL): a bug-like run that would cut 30 % of a live storefront's units sends nothing,
every manager page shows the red banner, and the manager's release sends exactly the held
batch, once. The readiness page's screenshots for the README are taken here too."""

import os
import shutil
from pathlib import Path

import pytest

from inventory.models import CorrectionBatch, System
from inventory.services import storefront_reconcile
from tests.browser.conftest import log_in
from tests.factories import UserFactory
from tests.inventory.test_adoption_views import (
    SET_ON_HAND,
    _catalog,
    _count,
    _observe,
    hold_a_bad_day,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}


def test_breaker_holds_a_bad_run_shows_the_banner_and_releases_the_batch_once(
    postgres, live_server, page, shopify, shelf
):
    batch = hold_a_bad_day(shopify, shelf, skus=20, zeroed=6)
    codes = [f"TEE-{i:02}" for i in range(20)]
    assert [shopify.fake.on_hand(code) for code in codes] == [5] * 20  # nothing was sent
    assert "lower its units from 100 to 70" in batch.reason
    calls = len(shopify.fake.operations(SET_ON_HAND))
    UserFactory(username="boss", group="Managers")

    log_in(page, live_server, "boss", "pw-for-tests-only")
    for path in ("/", "/dashboard/", "/storefronts/"):
        page.goto(f"{live_server.url}{path}")
        banner = page.get_by_test_id("breaker-banner")
        assert banner.is_visible(), path
        text = banner.inner_text()
        assert "Corrections to shopify-1 paused" in text and "release or cancel" in text, path
    color = banner.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(179, 38, 30)"  # the stylesheet's --bad red

    banner.get_by_role("link").click()
    page.wait_for_url(f"**/storefronts/shopify-1/batches/{batch.pk}/")
    assert page.locator("[data-testid=batch-lines] tr[data-sku]").count() == 6
    page.fill("#id_release-reason", "The six were sold out at the last stock-take.")
    page.get_by_test_id("release").click()
    page.wait_for_selector(".messages li")
    assert "Released: 6 SKU(s) sent to shopify-1" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("breaker-banner").count() == 0

    assert [shopify.fake.on_hand(code) for code in codes] == [0] * 6 + [5] * 14
    assert len(shopify.fake.operations(SET_ON_HAND)) == calls + 1
    page.reload()  # a second look, or a second click, sends nothing more
    assert page.get_by_test_id("release").count() == 0
    assert len(shopify.fake.operations(SET_ON_HAND)) == calls + 1
    batch.refresh_from_db()
    assert batch.status == CorrectionBatch.Status.SENT


def test_readiness_page_fits_a_desktop_and_a_phone(postgres, live_server, browser, tmp_path):
    """Observed, partly counted, with a preview. ONEFACT_SCREENSHOTS=1 keeps the pictures
    in docs/screenshots for the README."""
    storefront = _observe(System.objects.get(name="storefront"))
    shelf = System.objects.get(name="shelf")
    levels = {f"MUG-{i:03}": (3 * i) % 11 + 1 for i in range(1, 31)}
    _catalog(storefront, levels)
    for i, code in enumerate(list(levels)[:18]):
        _count(shelf, code, max(0, levels[code] + (i % 5) - 2), bin_code=f"A-{1 + i % 6:02}")
    storefront_reconcile(storefront=storefront, preview=True)
    UserFactory(username="boss", group="Managers")

    from tests.browser.conftest import PHONE

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        page = context.new_page()
        log_in(page, live_server, "boss", "pw-for-tests-only")
        page.goto(f"{live_server.url}/storefronts/storefront/")
        assert page.get_by_test_id("readiness").inner_text().startswith("18 / 30")
        assert page.get_by_test_id("go-live").is_visible()
        assert page.get_by_test_id("stock-take").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)
        shot = tmp_path / f"readiness-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert 0 < shot.stat().st_size < 300_000, (name, shot.stat().st_size)
        if os.environ.get("ONEFACT_SCREENSHOTS") == "1":
            shutil.copy(shot, SCREENSHOTS / shot.name)
        context.close()
