import io

import pytest
from django.core.management import call_command

from inventory.seed import DEMO_USERS
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

HOME_TITLES = {
    "staff": "Warehouse",
    "manager": "Manager overview",
    "manager2": "Manager overview",
    "admin": "Administration",
}


@pytest.fixture
def demo(live_server):
    call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.parametrize(("username", "password"), [(u, p) for u, p, _, _ in DEMO_USERS])
def test_demo_user_logs_in_and_lands_on_their_home(demo, live_server, page, username, password):
    log_in(page, live_server, username, password)
    assert page.get_by_test_id("home-title").inner_text() == HOME_TITLES[username]
    assert username in page.get_by_test_id("whoami").inner_text()
    # The admin link shows only to those who may use the Django admin.
    assert (page.locator("header a[href='/admin/']").count() == 1) == (username == "admin")


def test_staff_opening_a_managers_page_gets_403(demo, live_server, page):
    log_in(page, live_server, "staff", "onefact-staff")
    response = page.goto(f"{live_server.url}/authority/")
    assert response.status == 403
    assert "not allowed" in page.content()


def test_staff_scans_a_bin_code_and_sees_its_stock(demo, live_server, page):
    log_in(page, live_server, "staff", "onefact-staff")
    page.fill("#find-q", "a-14")
    page.keyboard.press("Enter")
    page.wait_for_url("**/bins/A-14/")
    assert page.locator("h1").inner_text().startswith("Bin A-14")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # fits a phone
