"""A manager in a real browser, with a real worker behind the page: filter the dashboard to
one bin, open a discrepancy, follow it to its count task; start a reconciliation and watch
its progress until it completes."""

import pytest

from inventory.models import StockMovement, System
from inventory.services import on_hand_adjust, storefront_push, storefront_reconcile
from inventory.storefront.demo.models import DemoLevel
from tests.browser.conftest import log_in
from tests.factories import BinFactory, SkuFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_follows_a_gap_to_its_count_task_and_runs_a_reconciliation(
    celery_live_worker,
    live_server,
    page,
    shelf,
):
    storefront = System.objects.get(name="storefront")
    for code, bin_code in (("MUG-1", "A-14"), ("CAP-1", "B-02")):
        sku, bin = SkuFactory(code=code), BinFactory(code=bin_code)
        on_hand_adjust(bin=bin, sku=sku, delta=2, kind=StockMovement.Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"r-{code}")  # fmt: skip
        DemoLevel.objects.create(sku_code=code, quantity=2)
    storefront_push(storefront=storefront)
    DemoLevel.objects.update(quantity=9)  # both drift past the tolerance
    storefront_reconcile(storefront=storefront)
    UserFactory(username="boss", group="Managers")

    log_in(page, live_server, "boss", "pw-for-tests-only")
    page.goto(f"{live_server.url}/dashboard/")
    page.fill("input[name=bin]", "A-14")
    page.press("input[name=bin]", "Enter")
    page.wait_for_function("document.querySelectorAll('tr[data-discrepancy]').length === 1")
    row = page.locator("tr[data-discrepancy]")
    assert "MUG-1" in row.inner_text() and "CAP-1" not in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_url("**/discrepancies/*/")
    assert "storefront says 9, shelf says 2" in page.get_by_test_id("sentence").inner_text()
    page.get_by_test_id("follow-up").click()
    page.wait_for_url("**/walks/tasks/*/")
    assert "MUG-1 in A-14" in page.locator("h1").inner_text()

    DemoLevel.objects.filter(sku_code="CAP-1").update(quantity=5)  # a new gap
    page.goto(f"{live_server.url}/discrepancies/")
    page.click("[data-testid=reconcile]")
    page.wait_for_url("**/jobs/*/")
    status = page.get_by_test_id("job-status")
    assert status.inner_text() in ("Queued", "Running", "Succeeded")
    page.wait_for_selector("[data-testid=job-status]:text('Succeeded')", timeout=60_000)
    assert "Gaps" in page.get_by_test_id("job-result").inner_text()
