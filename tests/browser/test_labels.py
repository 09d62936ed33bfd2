"""Printed labels, scanned back: what zxing decodes from the PDF is typed into the real scan
fields (the receive page, the find box) and they take it."""

import pytest

from inventory.models import OnHand
from inventory.roles import STAFF
from tests.browser.conftest import log_in
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.labels import decoded
from tests.replenishment.factories import PurchaseOrderFactory, PurchaseOrderLineFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def floor(db):
    """A walk whose codes have spaces, slashes, dashes and lower case; a delivery on its way."""
    BinFactory(code="cold room 3", zone="C", walk_order=5)
    BinFactory(code="b/07", zone="B", walk_order=10)
    BinFactory(code="A-14", zone="A", walk_order=20)
    sku = SkuFactory(code="tee/blue m", title="Tee, blue, M")
    po = PurchaseOrderFactory(number="PO-00007", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=12)
    UserFactory(username="dock", group=STAFF)


def _pdf(page, live_server, path: str) -> bytes:
    response = page.request.get(f"{live_server.url}{path}")
    assert response.status == 200, response.text()
    assert response.headers["content-type"] == "application/pdf"
    return response.body()


def test_decoded_labels_are_what_the_scan_fields_accept(live_server, page, floor):
    log_in(page, live_server, "dock", "pw-for-tests-only")
    bins = decoded(_pdf(page, live_server, "/labels/bins/?scope=all&format=62x29mm"), "62x29mm")
    skus = decoded(_pdf(page, live_server, "/labels/skus/?sku=TEE/BLUE+M&copies=2&format=a4-3x8"))
    assert bins == ["cold room 3", "b/07", "A-14"]  # walk order
    assert skus == ["tee/blue m", "tee/blue m"]

    # The dock: scan the SKU label, count, scan the bin label.
    page.goto(f"{live_server.url}/replenishment/receive/PO-00007/")
    page.keyboard.type(skus[0])
    page.keyboard.press("Enter")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    page.keyboard.type(bins[1])
    page.keyboard.press("Enter")
    done = page.get_by_test_id("receipt-done")
    done.wait_for()
    assert "Received 3 × tee/blue m into b/07" in done.inner_text()
    assert OnHand.objects.get(bin__code="b/07", sku__code="tee/blue m").quantity == 3

    # The find box: scan a bin label, land on that bin.
    page.goto(f"{live_server.url}/")
    page.fill("#find-q", bins[0])
    page.keyboard.press("Enter")
    page.wait_for_url("**/bins/cold%20room%203/")
    assert page.locator("h1").inner_text().startswith("Bin cold room 3")


@pytest.mark.parametrize("viewport", [None, DESKTOP], ids=["phone", "desktop"])
def test_print_form_shows_a_reversed_range_at_its_field(live_server, page, floor, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    log_in(page, live_server, "dock", "pw-for-tests-only")
    page.get_by_test_id("link-labels").click()
    page.check("input[name=scope][value=range]")
    page.fill("#id_start", "A-14")
    page.fill("#id_end", "cold room 3")
    page.get_by_test_id("print-bins").click()
    page.wait_for_load_state()

    error = page.locator("#id_end ~ ul.errorlist, #id_end + ul.errorlist").first
    assert "cold room 3 comes before A-14 on the walk" in error.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"] + 1

    # Swapped, the same form prints the stretch of the walk.
    page.fill("#id_start", "cold room 3")
    page.fill("#id_end", "A-14")
    with page.expect_response("**/labels/bins/**") as response:
        page.get_by_test_id("print-bins").click()
    printed = response.value
    assert printed.status == 200
    assert printed.headers["content-type"] == "application/pdf"
    # Chromium shows the PDF in its viewer; fetch the same address to read its bytes.
    pdf = _pdf(page, live_server, printed.url.removeprefix(live_server.url))
    assert decoded(pdf) == ["cold room 3", "b/07", "A-14"]
