"""A newcomer on the login page of `make run`: the demo users are there to copy."""

import io

import pytest
from django.core.management import call_command

from inventory.seed import DEMO_USERS
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def local_run(live_server, settings):
    """`make run`: DEBUG on, the demo seed loaded."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())


def _demo_rows(page) -> list[list[str]]:
    rows = page.get_by_test_id("demo-users").locator("tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def test_login_page_shows_the_demo_users_and_one_of_them_logs_in(local_run, live_server, page,
                                                                  settings):  # fmt: skip
    """On a phone and on a desktop; then, with DEBUG off, the same server shows none."""
    for viewport in ("phone", "desktop"):
        if viewport == "desktop":
            page.context.clear_cookies()
            page.set_viewport_size(DESKTOP)
        page.goto(f"{live_server.url}/accounts/login/")
        rows = _demo_rows(page)
        expected = [[username, password, group] for username, password, group, *_ in DEMO_USERS]
        assert rows == expected, viewport
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        # The manager's credentials, as a newcomer copies them off the page.
        username, password, _ = next(row for row in rows if row[0] == "manager")
        log_in(page, live_server, username, password)
        assert page.get_by_test_id("home-title").inner_text() == "Manager overview", viewport

    # A server with DEBUG off shows no demo users, seed or not.
    page.context.clear_cookies()
    settings.DEBUG = False
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("#id_username").is_visible()
    assert page.get_by_test_id("demo-users").count() == 0
    assert "onefact-manager" not in page.content()
