"""Replenishment in a phone's browser: the dock receives a delivery; a manager drafts an order."""

import re

import pytest

from inventory.models import OnHand
from inventory.roles import MANAGERS, STAFF
from replenishment.models import PurchaseOrder, PurchaseOrderLine
from tests.browser.conftest import log_in
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    shelf_counted,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_staff_receive_a_po_line_into_a_bin_and_on_hand_rises(live_server, page):
    UserFactory(username="dock", group=STAFF)
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="MUG-1", title="Blue mug")
    po = PurchaseOrderFactory(number="PO-00007", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=12)

    log_in(page, live_server, "dock", "pw-for-tests-only")
    page.get_by_test_id("link-receive").click()
    page.fill("#po-code", "po-00007")  # a scanner types the delivery note's number…
    page.keyboard.press("Enter")  # …and presses Enter
    page.wait_for_url("**/replenishment/receive/PO-00007/")

    # Scan, count, scan: Enter moves on to the next field; the last one submits.
    assert page.evaluate("document.activeElement.id") == "id_sku"
    page.keyboard.type("MUG-1")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_units"
    page.keyboard.type("7")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_bin"
    page.keyboard.type("A-14")
    page.keyboard.press("Enter")

    done = page.get_by_test_id("receipt-done")
    done.wait_for()
    assert "Received 7 × MUG-1 into A-14: 7 of 12 now in." in done.inner_text()
    assert page.locator("tr[data-sku='MUG-1'] [data-testid=received]").inner_text() == "7"
    # Ready for the next scan (htmx focuses the fresh form's autofocus field once settled).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_sku'")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # fits a phone

    page.goto(f"{live_server.url}/skus/MUG-1/")
    assert page.get_by_test_id("on-hand").inner_text() == "7"
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 7
    assert PurchaseOrder.objects.get(pk=po.pk).status == "partially_received"


def test_staff_see_a_wrong_bin_beside_the_field_and_nothing_changes(live_server, page):
    UserFactory(username="dock", group=STAFF)
    BinFactory(code="A-14")
    BinFactory(code="OLD-1", active=False)
    po = PurchaseOrderFactory(number="PO-00008", status="sent")
    PurchaseOrderLineFactory(po=po, sku=SkuFactory(code="MUG-2"), ordered=5)

    log_in(page, live_server, "dock", "pw-for-tests-only")
    page.goto(f"{live_server.url}/replenishment/receive/PO-00008/")
    page.fill("#id_sku", "MUG-2")
    page.fill("#id_units", "5")
    page.fill("#id_bin", "OLD-1")
    page.get_by_test_id("receive").click()

    error = page.locator("#bin-error")
    error.wait_for()
    assert "Bin OLD-1 is inactive" in error.inner_text()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_bin'")
    assert page.input_value("#id_units") == "5"  # the count is kept for the retry
    assert not OnHand.objects.exists()


def test_manager_drafts_a_purchase_order_from_a_suggestion(live_server, page):
    UserFactory(username="boss", group=MANAGERS)
    sku = SkuFactory(code="CUP-9", title="Green cup")
    shelf_counted(sku)  # none on the shelf, and the shelf knows it
    ReorderPolicyFactory(sku=sku, safety_stock_days=None, safety_stock_units=6, case_pack=4)

    log_in(page, live_server, "boss", "pw-for-tests-only")
    page.goto(f"{live_server.url}/replenishment/suggestions/")
    row = page.locator("tr[data-sku='CUP-9']")
    assert row.get_by_test_id("suggested").inner_text() == "8"  # 6 safety units, cases of 4
    why = page.locator("tr[data-why='CUP-9'] details")
    why.locator("summary").click()
    assert "up to whole cases of 4 → 8" in why.inner_text()
    row.locator("input[type=checkbox]").check()
    page.get_by_test_id("draft").click()

    page.wait_for_url(re.compile(r".*/replenishment/purchase-orders/PO-\d+/$"))
    assert "Drafted PO-" in page.content()
    line = PurchaseOrderLine.objects.get()
    assert (line.sku, line.ordered, line.po.status) == (sku, 8, "draft")
