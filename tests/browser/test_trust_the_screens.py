"""Issue 18, "Trust the screens": warnings look like warnings, nothing moves before a person
confirms what is unusual, and every page speaks in words. Staff pages on a phone (390 px),
managers' pages on a desktop (1366 px)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inventory.models import Bin, DemoLevel, Discrepancy, Job, OnHand, StockMovement
from inventory.roles import MANAGERS, STAFF
from inventory.services import on_hand_adjust, storefront_push, storefront_reconcile
from replenishment.services import purchase_order_line_receive
from returns.models import ReceiptUnit
from tests.browser.conftest import PHONE, log_in
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.replenishment.factories import PurchaseOrderFactory, PurchaseOrderLineFactory
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "pw-for-tests-only"
SUCCESS_BG, WARNING_BG = "rgb(227, 244, 232)", "rgb(255, 241, 220)"


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def background(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).backgroundColor")


def settled(page) -> None:
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def fits_a_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


# --- staff, on a phone ---------------------------------------------------------------------


def test_extra_return_units_are_a_warning_not_a_success(live_server, page, stocked_bin, sku):
    rma = ReturnAuthorisationFactory(number="R-D-2001", order_ref="D-2001")
    ReturnLineFactory(rma=rma, line_ref="1", sku=sku, expected=2)
    UserFactory(username="picker", group=STAFF)
    log_in(page, live_server, "picker", PASSWORD)
    page.goto(f"{live_server.url}/returns/{rma.pk}/")

    page.fill("#scan-code", "SKU-1")
    page.keyboard.press("Enter")
    notice = page.get_by_test_id("notice")
    expect(notice).to_have_text("SKU-1: now grade it — sellable into a bin, or damaged.")
    settled(page)
    assert notice.get_attribute("data-level") == "success"
    assert background(notice) == SUCCESS_BG

    page.fill("#scan-code", "SKU-1")
    page.fill("input[name=quantity]", "3")
    page.keyboard.press("Enter")
    expect(notice).to_contain_text("2 extra unit(s) kept aside as wrong items")
    settled(page)
    assert notice.get_attribute("data-level") == "warning"
    assert notice.get_attribute("role") == "alert"
    assert background(notice) == WARNING_BG
    fits_a_phone(page)


def test_receiving_more_than_is_due_asks_first(live_server, page, bin):
    UserFactory(username="dock", group=STAFF)
    sku = SkuFactory(code="MUG-1")
    po = PurchaseOrderFactory(number="PO-12", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=24)
    log_in(page, live_server, "dock", PASSWORD)
    page.goto(f"{live_server.url}/replenishment/receive/PO-12/")

    page.fill("#id_sku", "MUG-1")
    page.fill("#id_units", "30")
    page.fill("#id_bin", "A-14")
    page.get_by_test_id("receive").click()

    ask = page.get_by_test_id("ask-confirm_units")
    expect(ask).to_contain_text("30 is more than the 24 of MUG-1 still due on PO-12")
    expect(page.get_by_test_id("receipt-done")).to_have_count(0)
    assert not OnHand.objects.exists()  # nothing moved
    assert page.input_value("#id_units") == "30"
    fits_a_phone(page)

    ask.locator("input[type=checkbox]").check()
    page.get_by_test_id("receive").click()
    done = page.get_by_test_id("receipt-done")
    expect(done).to_contain_text("Received 30 × MUG-1 into A-14: 30 of 24 now in.")
    assert done.get_attribute("data-level") == "warning"  # booked, and worth a look
    assert background(done) == WARNING_BG
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 30
    assert Discrepancy.objects.filter(kind="receipt_mismatch").count() == 1


def test_receive_form_shows_the_skus_bins_and_asks_before_a_new_bin(
    live_server, page, stocked_bin, sku
):
    UserFactory(username="dock", group=STAFF)
    po = PurchaseOrderFactory(number="PO-13", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=12)
    log_in(page, live_server, "dock", PASSWORD)
    page.goto(f"{live_server.url}/replenishment/receive/PO-13/")

    page.keyboard.type("SKU-1")
    page.keyboard.press("Enter")  # on to the count: the SKU's bins show beside the bin field
    expect(page.get_by_test_id("sku-bins")).to_have_text("SKU-1 is in: A-14 (10)")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    page.keyboard.type("Z-99")
    page.keyboard.press("Enter")

    ask = page.get_by_test_id("ask-create_bin")
    expect(ask).to_contain_text("There is no bin Z-99 yet. Create bin Z-99")
    expect(page.get_by_test_id("sku-bins")).to_have_text("SKU-1 is in: A-14 (10)")
    assert not Bin.objects.filter(code="Z-99").exists()
    fits_a_phone(page)

    ask.locator("input[type=checkbox]").check()
    page.get_by_test_id("receive").click()
    expect(page.get_by_test_id("receipt-done")).to_contain_text("Received 5 × SKU-1 into Z-99")
    assert OnHand.objects.get(bin__code="Z-99", sku=sku).quantity == 5


def test_grade_form_shows_the_skus_bins_and_asks_before_a_new_bin(
    live_server, page, stocked_bin, sku
):
    rma = ReturnAuthorisationFactory(number="R-D-2002", order_ref="D-2002")
    ReturnLineFactory(rma=rma, line_ref="1", sku=sku, expected=1)
    UserFactory(username="picker", group=STAFF)
    log_in(page, live_server, "picker", PASSWORD)
    page.goto(f"{live_server.url}/returns/{rma.pk}/")
    page.fill("#scan-code", "SKU-1")
    page.keyboard.press("Enter")

    unit = page.locator("li[data-unit]")
    expect(unit.get_by_test_id("unit-bins")).to_have_text("SKU-1 is in: A-14 (10)")
    settled(page)
    unit.get_by_test_id("unit-bin").fill("Z-99")
    unit.get_by_test_id("grade-sellable").click()

    ask = page.get_by_test_id("ask-create-bin")
    expect(ask).to_contain_text("There is no bin Z-99 yet.")
    settled(page)
    assert ReceiptUnit.objects.get().grade == "" and not Bin.objects.filter(code="Z-99").exists()
    fits_a_phone(page)

    ask.locator("input[type=checkbox]").check()
    unit.get_by_test_id("grade-sellable").click()
    page.locator('li[data-unit][data-grade="sellable"]').wait_for()
    assert "sellable → Z-99" in page.locator('li[data-grade="sellable"]').inner_text()
    assert ReceiptUnit.objects.get().bin.code == "Z-99"


def test_an_old_message_leaves_when_the_browser_blocks_the_next_submit(live_server, page, bin):
    UserFactory(username="dock", group=STAFF)
    po = PurchaseOrderFactory(number="PO-14", status="sent")
    PurchaseOrderLineFactory(po=po, sku=SkuFactory(code="MUG-1"), ordered=12)
    log_in(page, live_server, "dock", PASSWORD)
    page.goto(f"{live_server.url}/replenishment/receive/PO-14/")
    page.fill("#id_sku", "MUG-1")
    page.fill("#id_units", "7")
    page.fill("#id_bin", "A-14")
    page.get_by_test_id("receive").click()
    expect(page.get_by_test_id("receipt-done")).to_contain_text("Received 7 × MUG-1")
    settled(page)

    page.fill("#id_sku", "MUG-1")  # no count: the browser refuses the submit itself
    page.get_by_test_id("receive").click()
    expect(page.get_by_test_id("receipt-done")).to_have_count(0)
    assert page.evaluate("document.querySelector('#id_units').validity.valueMissing")
    assert StockMovement.objects.count() == 1


def test_an_old_page_message_leaves_on_the_next_submit_attempt(live_server, page, sku, storefront):
    """The messages block of every page (a redirect's message) goes the same way."""
    UserFactory(username="boss", group=MANAGERS)
    log_in(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/returns/new/")
    page.fill("#id_order_ref", "D-3001")
    page.fill("#id_lines-0-sku", "SKU-1")
    page.fill("#id_lines-0-quantity", "1")
    page.locator("form button[type=submit]").last.click()
    message = page.locator("ul.messages li")
    expect(message).to_contain_text("recorded: staff can receive it now.")
    assert message.get_attribute("data-level") == "success"

    page.get_by_test_id("scan-submit").click()  # an empty scan: the browser blocks it
    expect(page.locator("ul.messages")).to_have_count(0)


def test_a_finished_return_says_return_complete(live_server, page, stocked_bin, sku):
    rma = ReturnAuthorisationFactory(number="R-D-2003", order_ref="D-2003")
    ReturnLineFactory(rma=rma, line_ref="1", sku=sku, expected=1)
    UserFactory(username="picker", group=STAFF)
    log_in(page, live_server, "picker", PASSWORD)
    page.goto(f"{live_server.url}/returns/{rma.pk}/")
    page.fill("#scan-code", "SKU-1")
    page.keyboard.press("Enter")
    page.locator("li[data-unit]").wait_for()
    settled(page)
    page.get_by_test_id("unit-bin").fill("A-14")
    page.get_by_test_id("grade-sellable").click()
    page.locator('li[data-unit][data-grade="sellable"]').wait_for()
    settled(page)
    page.get_by_test_id("confirm").click()

    expect(page.get_by_test_id("return-complete")).to_contain_text("Return complete")
    assert "opens with the first scan" not in page.locator("#receipt-panel").inner_text()
    page.reload()
    expect(page.get_by_test_id("return-complete")).to_contain_text("Return complete")
    fits_a_phone(page)


# --- managers, on a desktop ----------------------------------------------------------------


def test_a_reconcile_job_shows_labelled_figures(live_server, desktop):
    boss = UserFactory(username="boss", group=MANAGERS)
    job = Job.objects.create(
        kind="reconcile", title="Reconcile the storefronts with the shelf", status="succeeded",
        created_by=boss, finished_at=timezone.now(),
        result={"storefront": "all", "skus_compared": 120, "skipped_in_flight": 3, "gaps": 2,
                "not_yet_counted": 0},
    )  # fmt: skip
    log_in(desktop, live_server, "boss", PASSWORD)
    desktop.goto(f"{live_server.url}/jobs/{job.pk}/")

    result = desktop.get_by_test_id("job-result")
    compared = result.locator(".figure[data-key=skus_compared]")
    expect(compared.locator(".label")).to_have_text("SKUs compared")
    expect(compared.locator(".value")).to_have_text("120")
    in_flight = result.locator(".figure[data-key=skipped_in_flight]")
    expect(in_flight.locator(".label")).to_have_text("Skipped: a push was in flight")
    text = result.inner_text()
    assert "_" not in text and "Skus" not in text
    assert "Storefront: all" in text


def test_discrepancy_rows_link_to_their_page_with_the_whole_sentence(
    live_server, desktop, shelf, storefront
):
    UserFactory(username="boss", group=MANAGERS)
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    on_hand_adjust(bin=bin, sku=sku, delta=2, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="r")  # fmt: skip
    DemoLevel.objects.create(sku_code="MUG-1", quantity=0)
    storefront_push(storefront=storefront)
    DemoLevel.objects.filter(sku_code="MUG-1").update(quantity=7)
    storefront_reconcile(storefront=storefront)  # a gap past tolerance: a count task opens
    gap = Discrepancy.objects.get(kind="storefront_gap")
    from driftwalks.models import CountTask

    task = CountTask.objects.get(sku=sku)

    log_in(desktop, live_server, "boss", PASSWORD)
    desktop.goto(f"{live_server.url}/discrepancies/")
    row = desktop.locator(f"tr[data-discrepancy='{gap.pk}']")
    sentence = row.get_by_test_id("sentence").inner_text()
    assert sentence.startswith("storefront says 7, shelf says 2")
    assert f"count task {task.pk} for bin A-14 is open, due today." in sentence
    assert "on-hand" in row.inner_text() and "on_hand" not in row.inner_text()
    row.get_by_test_id("discrepancy-link").click()
    desktop.wait_for_url(f"**/discrepancies/{gap.pk}/")
    assert desktop.get_by_test_id("sentence").inner_text() == sentence


def test_a_discrepancy_without_a_second_system_says_who_it_is_between(
    live_server, desktop, bin, shelf
):
    UserFactory(username="boss", group=MANAGERS)
    sku = SkuFactory(code="MUG-1")
    line = PurchaseOrderLineFactory(
        po=PurchaseOrderFactory(number="PO-12", status="sent"), sku=sku, ordered=24
    )
    purchase_order_line_receive(line=line, bin=bin, units=30, key="k" * 32)
    found = Discrepancy.objects.get(kind="receipt_mismatch")

    log_in(desktop, live_server, "boss", PASSWORD)
    desktop.goto(f"{live_server.url}/discrepancies/?status=open&kind=receipt_mismatch")
    between = "Purchase order PO-12 expected 24, the shelf received 30"
    row = desktop.locator(f"tr[data-discrepancy='{found.pk}']")
    expect(row.get_by_test_id("between")).to_have_text(between)
    assert "in-transit" in row.inner_text()
    row.get_by_test_id("discrepancy-link").click()
    desktop.wait_for_url(f"**/discrepancies/{found.pk}/")
    expect(desktop.get_by_test_id("between")).to_have_text(between)
    assert "Other system" not in desktop.locator("main").inner_text()
