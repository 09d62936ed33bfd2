"""A transfer between warehouses in a phone's browser: a manager drafts and dispatches it,
the staff at the other warehouse scan it in (bin, SKU, count; Enter moves on, the last
Enter submits), on a 390 px screen with no sideways scroll."""

import pytest

from inventory.models import StockMovement
from inventory.roles import MANAGERS, STAFF
from inventory.selectors import on_hand_total
from inventory.services import on_hand_adjust
from replenishment.models import Transfer
from tests.browser.conftest import log_in
from tests.factories import BinFactory, SkuFactory, UserFactory, WarehouseFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1


def test_a_transfer_is_drafted_dispatched_and_scanned_in_at_the_other_warehouse(
    live_server, page, shelf
):
    UserFactory(username="boss", group=MANAGERS)
    UserFactory(username="dock", group=STAFF)
    shop = WarehouseFactory(code="SHOP", name="Shop floor")
    mug = SkuFactory(code="MUG-1", title="Blue mug")
    a14 = BinFactory(code="A-14")
    BinFactory(code="S-01", warehouse=shop)
    on_hand_adjust(bin=a14, sku=mug, delta=10, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="seed")  # fmt: skip

    # The manager drafts it…
    log_in(page, live_server, "boss", "pw-for-tests-only")
    page.get_by_test_id("link-transfers").click()
    page.get_by_test_id("transfer-new").click()
    page.select_option("#id_to_warehouse", label="SHOP")
    page.fill("#id_lines-0-sku", "MUG-1")
    page.fill("#id_lines-0-from_bin", "A-14")
    page.fill("#id_lines-0-quantity", "4")
    _fits(page)
    page.get_by_test_id("transfer-create").click()
    page.wait_for_url("**/replenishment/transfers/TR-*/")
    number = Transfer.objects.get().number
    assert page.get_by_test_id("transfer-status").inner_text() == "Draft"

    # …and dispatches it, confirming first: the units leave A-14.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("dispatch").click()
    page.wait_for_load_state()
    page.get_by_text(f"{number} is now in transit.").wait_for()
    assert page.get_by_test_id("transfer-status").inner_text() == "In transit"
    assert on_hand_total(sku=mug) == 6
    _fits(page)

    # The staff at the shop scan the transfer note, then bin, SKU, count.
    page.context.clear_cookies()
    log_in(page, live_server, "dock", "pw-for-tests-only")
    page.get_by_test_id("link-receive-transfer").click()
    page.fill("#transfer-code", number.lower())
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/replenishment/receive-transfer/{number}/")
    _fits(page)

    assert page.evaluate("document.activeElement.id") == "id_bin"
    page.keyboard.type("S-01")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_sku"
    page.keyboard.type("MUG-1")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_units"
    page.keyboard.type("3")
    page.keyboard.press("Enter")

    done = page.get_by_test_id("receipt-done")
    done.wait_for()
    assert "Received 3 × MUG-1 into S-01: 3 of 4 now in." in done.inner_text()
    assert page.locator("tr[data-sku='MUG-1'] [data-testid=received]").inner_text() == "3"
    # The bin stays for the next SKU: the SKU field is ready for the next scan.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_sku'")
    assert page.input_value("#id_bin") == "S-01"
    _fits(page)

    page.keyboard.type("MUG-1")
    page.keyboard.press("Enter")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    page.get_by_text("Received 1 × MUG-1 into S-01: 4 of 4 now in.").wait_for()

    assert on_hand_total(sku=mug, warehouse=shop) == 4
    assert on_hand_total(sku=mug) == 10
    assert Transfer.objects.get().status == "received"
