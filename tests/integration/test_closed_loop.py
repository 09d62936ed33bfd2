"""The drift-walk loop closing itself with real parts: PostgreSQL, Redis, a Celery worker.

The demo storefront drifts → reconciliation (on the worker) records the gap → a count task
opens → a staff user submits a blind count → the count-adjust movement is written → the
push (on the worker) brings the storefront to the counted number → the discrepancy that
opened the task is resolved by the count. Nothing here is eager.
"""

import re

import pytest

from driftwalks.models import CountTask
from inventory.models import Discrepancy, StockMovement
from inventory.roles import STAFF
from inventory.services import on_hand_adjust, storefront_push
from inventory.storefront.demo.models import DemoLevel
from inventory.storefront.demo.services import demo_storefront_drift, demo_storefront_seed
from inventory.tasks import reconcile_storefronts_task
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stocked(transactional_db, shelf):
    """A-14 holds 10 of LOOP-1. Set up before the worker starts, which purges the kick."""
    bin, sku = BinFactory(code="A-14", zone="A"), SkuFactory(code="LOOP-1", title="Loop mug")
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=10,
        kind=StockMovement.Kind.RECEIVE,
        source_system=shelf,
        source_event_id="loop-stock",
    )
    return bin, sku


def _demo(code: str) -> int:
    return DemoLevel.objects.get(sku_code=code).quantity


def test_closed_loop_drift_gap_task_blind_count_correction_resolution(
    stocked, celery_live_worker, storefront, client
):
    bin, sku = stocked
    demo_storefront_seed()
    storefront_push(storefront=storefront)  # the demo storefront is in step with the shelf
    assert _demo("LOOP-1") == 10

    demo_storefront_drift(sku_code="LOOP-1", quantity=4)  # someone edits it by hand
    reconcile_storefronts_task.delay()  # what beat sends; the ranges run on the worker
    gap = wait_for(
        lambda: Discrepancy.objects.filter(kind="storefront_gap", sku=sku).first(), what="the gap"
    )
    assert (gap.owner_value, gap.consumer_value, gap.winner.name) == (10, 4, "shelf")
    assert gap.count_requested_at is not None  # 6 units: past the reconcile tolerance
    task = wait_for(lambda: CountTask.objects.filter(bin=bin, sku=sku).first(), what="the task")
    assert (task.status, task.cause) == ("open", "reconciliation")
    assert list(task.triggers.values_list("discrepancy", flat=True)) == [gap.pk]
    wait_for(lambda: _demo("LOOP-1") == 10, what="reconciliation's correction")

    counter = UserFactory(username="walker", group=STAFF)
    client.force_login(counter)
    sheet = client.get("/walks/bins/A-14/count/").content.decode()
    assert "LOOP-1" in sheet
    key = re.search(r'name="key" value="([^"]+)"', sheet).group(1)
    response = client.post(
        "/walks/bins/A-14/count/submit/", {"key": key, "task": task.pk, f"t{task.pk}": "9"}
    )
    assert response.status_code == 302

    adjust = StockMovement.objects.get(kind="count_adjust")
    assert (adjust.bin, adjust.sku, adjust.quantity, adjust.balance_after) == (bin, sku, -1, 9)
    assert (adjust.reference, adjust.actor) == (f"count task {task.pk}", counter)
    wait_for(lambda: _demo("LOOP-1") == 9, what="the storefront showing the counted number")

    gap.refresh_from_db()
    assert (gap.status, gap.resolution, gap.resolution_reference) == (
        "resolved",
        "count",
        f"count task {task.pk}",
    )
    task.refresh_from_db()
    assert task.status == "closed" and task.closing_count.movement == adjust
    assert not Discrepancy.objects.open().filter(sku=sku).exists()
