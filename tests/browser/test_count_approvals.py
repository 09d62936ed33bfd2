"""Count approvals in the browser: the manager who recounted sees why they cannot decide
before typing anything; a one-manager site (ONEFACT_COUNT_SOLE_MANAGER) decides its own
recount after ticking a second confirmation."""

import pytest

from driftwalks.models import CountTask
from driftwalks.services import COUNTED_IT, SOLE_CONFIRMATION
from inventory.models import OnHand
from inventory.roles import MANAGERS, STAFF
from tests.browser.conftest import PHONE, log_in
from tests.driftwalks.factories import count, move, open_task
from tests.factories import BinFactory, SkuFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1366, "height": 900}
PASSWORD = "pw-for-tests-only"


@pytest.fixture
def recounted(live_server):
    """50 on record; staff counted 38, the manager ("boss") recounted 38: -12 to decide."""
    counter = UserFactory(username="counter", group=STAFF)
    boss = UserFactory(username="boss", group=MANAGERS)
    bin, sku = BinFactory(code="K-14"), SkuFactory(code="MUG-9", title="Blue mug")
    move(bin, sku, 50)
    task = open_task(bin, sku)
    count(task, 38, counter)
    count(task, 38, boss)
    task.refresh_from_db()
    assert task.status == CountTask.Status.APPROVAL_REQUIRED
    return task


def _balance() -> int:
    return OnHand.objects.get(bin__code="K-14", sku__code="MUG-9").quantity


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_manager_who_recounted_sees_the_buttons_disabled_and_why_before_typing(
    live_server, page, recounted, viewport
):
    page.set_viewport_size(viewport)
    log_in(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/walks/approvals/")
    row = page.get_by_test_id("approval")
    why = row.get_by_test_id("decision-refused")
    assert why.is_visible() and why.inner_text() == COUNTED_IT
    approve = row.get_by_role("button", name="Approve")
    reject = row.get_by_role("button", name="Reject")
    assert approve.is_disabled() and reject.is_disabled()
    assert row.locator("textarea[name=reason]").is_disabled()
    # The reason sits beside the buttons: both on screen together, the reason just above.
    assert approve.is_visible() and why.bounding_box()["y"] < approve.bounding_box()["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1

    page.goto(f"{live_server.url}/walks/tasks/{recounted.pk}/")
    assert page.get_by_test_id("decide").is_disabled()
    assert page.get_by_test_id("decision-refused").inner_text() == COUNTED_IT
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    assert _balance() == 50


def test_another_manager_decides_with_the_buttons_enabled(live_server, page, recounted):
    page.set_viewport_size(DESKTOP)
    UserFactory(username="boss-2", group=MANAGERS)
    log_in(page, live_server, "boss-2", PASSWORD)
    page.goto(f"{live_server.url}/walks/approvals/")
    row = page.get_by_test_id("approval")
    assert row.get_by_test_id("decision-refused").count() == 0
    row.locator("textarea[name=reason]").fill("Two blind counts agree")
    row.get_by_role("button", name="Approve").click()
    decided = page.get_by_test_id("decided")
    decided.wait_for()
    assert "Two blind counts agree" in decided.inner_text() and _balance() == 38


def test_sole_manager_approves_their_own_recount_after_the_second_confirmation(
    live_server, page, recounted, settings
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/walks/tasks/{recounted.pk}/")
    assert page.get_by_test_id("decision-alone").is_visible()
    page.get_by_test_id("decide").click()
    page.wait_for_url("**/walks/approvals/**")
    row = page.get_by_test_id("approval")
    assert row.get_by_test_id("decision-refused").count() == 0
    assert SOLE_CONFIRMATION in row.inner_text()
    row.locator("textarea[name=reason]").fill("Recounted it myself; we are one manager")

    # Without the tick the server refuses too, not only the browser's required box.
    row.get_by_test_id("alone").evaluate("el => el.removeAttribute('required')")
    row.get_by_role("button", name="Approve").click()
    alert = page.get_by_test_id("approval").get_by_role("alert")
    alert.wait_for()
    assert "tick" in alert.inner_text() and _balance() == 50

    row = page.get_by_test_id("approval")
    row.get_by_test_id("alone").check()
    row.get_by_role("button", name="Approve").click()
    page.get_by_test_id("decided").wait_for()
    assert _balance() == 38

    page.goto(f"{live_server.url}/walks/tasks/{recounted.pk}/")
    assert "as the only manager" in page.get_by_test_id("decided-by-counter").inner_text()
