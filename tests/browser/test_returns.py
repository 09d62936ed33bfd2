"""A warehouse phone receives a return: scan the return, scan two units, grade one sellable
into A-14 and one damaged, confirm; only the sellable unit reaches the shelf."""

import pytest
from playwright.sync_api import expect

from inventory.models import OnHand
from inventory.roles import STAFF
from returns.models import QuarantineItem
from tests.browser.conftest import PHONE, log_in
from tests.factories import UserFactory
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory

pytestmark = pytest.mark.django_db(transaction=True)


def settled(page) -> None:
    """htmx swapped and settled the panel, and gave the focus back to the scan box (a user
    typing elsewhere before that would see the focus move)."""
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
        " && document.activeElement && document.activeElement.id === 'scan-code'"
    )


def test_staff_receives_a_return_on_a_phone(live_server, page, stocked_bin, sku, storefront):
    rma = ReturnAuthorisationFactory(number="R-D-1001", order_ref="D-1001")
    ReturnLineFactory(rma=rma, line_ref="1", sku=sku, expected=2)
    UserFactory(username="picker", group=STAFF)
    log_in(page, live_server, "picker", "pw-for-tests-only")

    page.goto(f"{live_server.url}/returns/")
    page.fill("#return-q", "R-D-1001")
    page.keyboard.press("Enter")  # a scanner types the code and presses Enter
    page.wait_for_url(f"**/returns/{rma.pk}/")

    units = page.locator("li[data-unit]")
    page.fill("#scan-code", "SKU-1")
    page.keyboard.press("Enter")
    units.first.wait_for()
    settled(page)  # the scan box keeps the focus: the next scan goes straight into it
    page.keyboard.type("SKU-1")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('li[data-unit]').length === 2")
    settled(page)

    waiting = page.locator('li[data-unit][data-grade=""]')
    waiting.first.get_by_test_id("unit-bin").fill("A-14")
    waiting.first.get_by_test_id("grade-sellable").click()
    page.locator('li[data-unit][data-grade="sellable"]').wait_for()
    settled(page)
    assert "sellable → A-14" in page.locator('li[data-grade="sellable"]').inner_text()
    waiting.first.get_by_test_id("grade-damaged").click()
    page.locator('li[data-unit][data-grade="damaged"]').wait_for()
    settled(page)
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 10  # not confirmed yet

    page.get_by_test_id("confirm").click()

    expect(page.get_by_test_id("notice")).to_have_text(
        "Box 1 of R-D-1001 confirmed: 1 restocked, 1 to quarantine."
    )
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 11
    assert sum(QuarantineItem.objects.filter(status="held").values_list("quantity", flat=True)) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
