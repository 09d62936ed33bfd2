"""A drift walk on a phone: open the walk, count two bins, submit, see the next bin."""

import pytest

from driftwalks.models import Count, CountTask
from driftwalks.services import count_task_open, count_tasks_assign
from inventory.models import OnHand, StockMovement, System
from inventory.roles import STAFF
from inventory.services import on_hand_adjust
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
