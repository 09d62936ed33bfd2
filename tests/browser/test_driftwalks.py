"""A drift walk on a phone: open the walk, count two bins, submit, see the next bin; find a
SKU no bin is known to hold, count it where it is, and the shelf knows it."""

import pytest

from driftwalks.models import Count, CountTask
from driftwalks.services import count_task_open, count_tasks_assign
from driftwalks.stocktake import opening_stock_take_open
from inventory.models import Discrepancy, Fact, OnHand, ShelfEvidence, StockMovement, System
from inventory.roles import STAFF
from inventory.services import discrepancy_record, on_hand_adjust
from tests.browser.conftest import PHONE, log_in
from tests.factories import BinFactory, SkuFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def walk(live_server):
    shelf = System.objects.get(name="shelf")
    walker = UserFactory(username="walker", group=STAFF)
    bins = [BinFactory(code=f"K-0{n}", zone="K", walk_order=n) for n in (1, 2, 3)]
    mug, cap, tee = (
        SkuFactory(code=c, title=t)
        for c, t in [("MUG-1", "Blue mug"), ("CAP-1", "Red cap"), ("TEE-1", "Grey tee")]
    )
    SkuFactory(code="STRAY-1", title="Stray sock")
    stock = [(bins[0], mug, 10), (bins[0], cap, 20), (bins[1], tee, 30), (bins[2], mug, 5)]
    tasks = []
    for n, (bin, sku, qty) in enumerate(stock):
        on_hand_adjust(
            bin=bin,
            sku=sku,
            delta=qty,
            kind=StockMovement.Kind.RECEIVE,
            source_system=shelf,
            source_event_id=f"walk-{n}",
        )
        tasks.append(count_task_open(bin=bin, sku=sku, cause="manual", reason="walk test")[0])
    count_tasks_assign(task_ids=[t.pk for t in tasks], assignee=walker, actor=walker)
    return tasks


def test_walk_on_a_phone_counts_two_bins_and_shows_the_next(live_server, page, walk):
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/")
    assert page.get_by_test_id("next-bin").inner_text() == "K-01"
    page.get_by_test_id("count-next").click()
    page.wait_for_url("**/walks/bins/K-01/count/")
    assert page.get_by_test_id("count-bin").inner_text().startswith("Bin K-01")
    first_line = page.get_by_test_id("count-line").first.locator("input[type=number]")
    assert first_line.evaluate("e => e === document.activeElement")  # autofocus: type at once
    # Enter after a number moves on to the next SKU (a scanner terminal's keyboard)…
    first_line.fill("19")
    page.keyboard.press("Enter")
    second_line = page.get_by_test_id("count-line").nth(1).locator("input[type=number]")
    assert second_line.evaluate("e => e === document.activeElement")
    page.wait_for_timeout(200)
    assert not Count.objects.exists()  # …and did not submit the sheet half filled
    page.fill(f"input[name=t{walk[0].pk}]", "10")
    # A sock found in the bin that the record does not expect: scan it, count it.
    page.fill("#found-code", "STRAY-1")
    page.keyboard.press("Enter")
    page.get_by_test_id("found-line").locator("input[name=found_qty]").fill("0")
    page.get_by_test_id("submit-count").click()

    page.wait_for_url("**/walks/bins/K-02/count/")
    assert page.get_by_test_id("count-bin").inner_text().startswith("Bin K-02")
    assert "Bin K-01: 3 SKUs counted." in page.get_by_test_id("count-done").inner_text()
    page.fill(f"input[name=t{walk[2].pk}]", "30")
    page.keyboard.press("Enter")  # a scanner terminal submits with Enter

    page.wait_for_url("**/walks/bins/K-03/count/")
    assert page.get_by_test_id("count-bin").inner_text().startswith("Bin K-03")
    assert "MUG-1" in page.locator("#count-form").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

    assert Count.objects.count() == 4
    assert OnHand.objects.get(bin__code="K-01", sku__code="CAP-1").quantity == 19
    assert CountTask.objects.filter(status="closed").count() == 4
    assert CountTask.objects.get(bin__code="K-03").status == "open"


@pytest.fixture
def lost_lamp(live_server):
    """The storefront says it holds 3 of LAMP-1; no bin ever held it: the opening stock-take
    gives the walker a find-it task."""
    walker = UserFactory(username="walker", group=STAFF)
    UserFactory(username="checker", group=STAFF)
    BinFactory(code="Q-01", zone="Q", walk_order=1)
    lamp = SkuFactory(code="LAMP-1", title="Desk lamp")
    storefront = System.objects.get(name="storefront")
    discrepancy_record(
        kind=Discrepancy.Kind.NOT_YET_COUNTED,
        fact=Fact.ON_HAND,
        sku=lamp,
        consumer=storefront,
        owner_value=0,
        consumer_value=3,
        detail="storefront says 3, the shelf has not counted LAMP-1 yet",
    )
    opening_stock_take_open(storefront=storefront, actor=None)
    task = CountTask.objects.get(sku=lamp, bin__isnull=True)
    count_tasks_assign(task_ids=[task.pk], assignee=walker, actor=walker)
    return lamp


def test_find_it_on_a_phone_scans_the_bin_counts_and_the_sku_becomes_known(
    live_server, page, lost_lamp
):
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/")
    page.get_by_test_id("find-next").click()
    page.wait_for_url("**/walks/find/*/")
    assert "Find LAMP-1" in page.get_by_test_id("find-title").inner_text()
    assert "3" not in page.locator("#find-sheet").inner_text()  # blind: no number to match
    # Found it in Q-01: scan the bin, count it there.
    page.get_by_label("Bin where you found it").fill("q-01")
    page.keyboard.press("Enter")
    page.get_by_label("Units in that bin").fill("3")
    page.get_by_test_id("find-count").click()
    page.get_by_test_id("find-done").wait_for()
    done = page.get_by_test_id("find-done").inner_text()
    assert "Bin Q-01: 1 SKU counted." in done and "recount" not in done  # an opening count
    assert "Q-01" in page.get_by_test_id("found-bins").inner_text()
    assert ShelfEvidence.objects.get(sku=lost_lamp).kind == ShelfEvidence.Kind.COUNT
    page.get_by_test_id("find-finish").click()
    page.wait_for_url("**/walks/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert OnHand.objects.get(bin__code="Q-01", sku=lost_lamp).quantity == 3
    assert set(CountTask.objects.filter(sku=lost_lamp).values_list("status", flat=True)) == {
        "closed"
    }
