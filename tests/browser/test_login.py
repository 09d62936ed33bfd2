"""The seeded demo in a browser: each demo user logs in and lands on their home, staff are
kept off managers' pages, and staff find a bin by scanning its code.

One test walks all of it on one seeded demo: the seed is the costly part (seconds), and
these checks only read what it left."""

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


def _log_out(page, live_server) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")


def test_the_seeded_demo_in_a_browser(demo, live_server, page):
    assert {username for username, *_ in DEMO_USERS} == set(HOME_TITLES)
    for username, password, *_ in DEMO_USERS:
        # Each demo user logs in and lands on their home.
        log_in(page, live_server, username, password)
        assert page.get_by_test_id("home-title").inner_text() == HOME_TITLES[username], username
        assert username in page.get_by_test_id("whoami").inner_text()
        # The admin link shows only to those who may use the Django admin.
        assert (page.locator("header a[href='/admin/']").count() == 1) == (username == "admin")
        _log_out(page, live_server)

    log_in(page, live_server, "staff", "onefact-staff")
    # Staff opening a manager's page get 403.
    response = page.goto(f"{live_server.url}/authority/")
    assert response.status == 403
    assert "not allowed" in page.content()
    # Staff scan a bin code (lower case, as a scanner may send it) and see its stock.
    page.goto(f"{live_server.url}/")
    page.fill("#find-q", "a-14")
    page.keyboard.press("Enter")
    page.wait_for_url("**/bins/A-14/")
    assert page.locator("h1").inner_text().startswith("Bin A-14")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # fits a phone
