"""A manager uploads a stock-take in a real browser; a real worker runs the import while the
job's page polls its progress, until it shows what happened to every row."""

import pytest

from driftwalks.models import CountTask
from inventory.models import OnHand, StockMovement
from inventory.services import on_hand_adjust
from tests.browser.conftest import log_in
from tests.factories import BinFactory, SkuFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_imports_counts_and_watches_the_job_reach_its_result(
    celery_live_worker, live_server, page, shelf
):
    bin, mug = BinFactory(code="A-14"), SkuFactory(code="MUG-1")
    on_hand_adjust(bin=bin, sku=mug, delta=10, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="r-1")  # fmt: skip
    SkuFactory(code="CAP-1")
    UserFactory(username="boss", group="Managers")
    stocktake = b"bin,sku,counted,note\nA-14,MUG-1,9,one broken\nA-14,CAP-1,0,\nA-14,NOPE,1,\n"

    log_in(page, live_server, "boss", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/tasks/")
    page.get_by_test_id("link-count-import").click()
    page.wait_for_url("**/walks/import/")
    page.set_input_files("#id_file", files=[
        {"name": "stocktake.csv", "mimeType": "text/csv", "buffer": stocktake}])  # fmt: skip
    page.check("input[name=mode][value=skip]")
    page.get_by_test_id("import-counts").click()

    page.wait_for_url("**/jobs/*/")
    assert page.locator("h1").inner_text() == "Import counts from stocktake.csv"
    assert page.get_by_test_id("job-status").inner_text() in ("Queued", "Running", "Succeeded")
    page.wait_for_selector("[data-testid=job-status]:text('Succeeded')", timeout=60_000)
    result = page.get_by_test_id("job-result").inner_text()
    assert (
        "row 2: MUG-1 in A-14: counted 9, the record held 10; the shelf corrected by -1" in result
    )
    assert "row 3: CAP-1 in A-14: counted 0, as the record held" in result
    assert "row 4: SKU NOPE is not in the catalog" in result
    assert OnHand.objects.get(bin=bin, sku=mug).quantity == 9
    assert CountTask.objects.filter(cause="counts_import", status="closed").count() == 2
