"""What drift walks add to the managers' dashboard."""

from inventory.models import Discrepancy, StockMovement, System
from inventory.services import on_hand_adjust, storefront_push, storefront_reconcile
from inventory.storefront.demo.models import DemoLevel
from tests.factories import BinFactory, SkuFactory


def _gap_with_a_task(shelf):
    """A storefront gap past tolerance: reconciliation asks for a count, a task opens."""
    storefront = System.objects.get(name="storefront")
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    on_hand_adjust(bin=bin, sku=sku, delta=2, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="r")  # fmt: skip
    DemoLevel.objects.create(sku_code="MUG-1", quantity=0)
    storefront_push(storefront=storefront)
    DemoLevel.objects.filter(sku_code="MUG-1").update(quantity=7)
    storefront_reconcile(storefront=storefront)
    return Discrepancy.objects.get(kind="storefront_gap")


def test_dashboard_sentence_names_the_count_task_and_links_it(client, manager_user, shelf):
    gap = _gap_with_a_task(shelf)
    client.force_login(manager_user)
    body = client.get("/dashboard/?bin=").content.decode()
    from driftwalks.models import CountTask

    task = CountTask.objects.get(sku__code="MUG-1")
    expected = "storefront says 7, shelf says 2; shelf owns on-hand and wins; corrected to 2 at "
    assert expected in body
    assert f"count task {task.pk} for bin A-14 is open, due today" in body
    detail = client.get(f"/discrepancies/{gap.pk}/").content.decode()
    assert f'href="/walks/tasks/{task.pk}/"' in detail


def test_dashboard_figures_from_the_apps(client, manager_user, shelf):
    _gap_with_a_task(shelf)
    client.force_login(manager_user)
    body = client.get("/dashboard/").content.decode()
    for key in ("accuracy", "oldest_task", "returns_awaiting", "open_gaps", "sync_lag",
                "conflicts_7d"):  # fmt: skip
        assert f'data-figure="{key}"' in body, key
    assert "count task" in body and 'data-chart="accuracy"' in body
