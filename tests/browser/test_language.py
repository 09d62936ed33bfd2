"""The language in a browser: a staff user picks Español on their profile; a browser set to
Mexican Spanish sees the login page in Spanish before anyone signs in."""

import io

import pytest
from django.core.management import call_command
from django.utils.translation import trans_real

from inventory.roles import STAFF
from tests.browser.conftest import PHONE, log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture(autouse=True)
def _compiled_catalogue():
    call_command("compile_catalogues", stdout=io.StringIO())
    trans_real._translations.clear()
    trans_real._default = None


def test_staff_picks_spanish_on_the_profile_and_the_home_page_follows(live_server, page):
    UserFactory(username="ana", group=STAFF)
    log_in(page, live_server, "ana", "pw-for-tests-only")
    assert page.get_by_test_id("home-title").inner_text() == "Warehouse"
    page.get_by_test_id("profile-link").click()
    page.select_option("#id_language", "es")
    page.click("[data-testid=profile-form] button[type=submit]")
    page.wait_for_load_state()
    assert "Tus preferencias se guardaron." in page.locator(".messages").inner_text()
    page.goto(f"{live_server.url}/")
    assert page.get_by_test_id("home-title").inner_text() == "Almacén"
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("button", name="Cerrar sesión").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_mexican_spanish_browser_sees_the_login_in_spanish(live_server, browser, viewport):
    context = browser.new_context(locale="es-MX", viewport=viewport)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        assert page.locator("html").get_attribute("lang") == "es"
        assert page.locator("h1").inner_text() == "Iniciar sesión"
        assert page.locator("label[for=id_password]").inner_text() == "Contraseña"
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    finally:
        context.close()
