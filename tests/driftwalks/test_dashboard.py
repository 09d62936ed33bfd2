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


def test_the_apps_figures_read_with_the_shelfs_are_those_each_app_reads_alone(
    manager_user, shelf, storefront
):
    """The dashboard reads every app's figures in its one figures query; each figure is the
    one the app shows when it reads its own (a count task three days old, due yesterday;
    two counted lines of the month, one within tolerance; one return awaiting, late)."""
    from datetime import timedelta

    from django.utils import timezone

    from driftwalks import dashboard as driftwalks_dashboard
    from driftwalks.models import Count, CountTask
    from inventory.selectors import dashboard_figures
    from returns import dashboard as returns_dashboard
    from tests.returns.factories import ReturnAuthorisationFactory

    now, today = timezone.now(), timezone.localdate()
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    task = CountTask.objects.create(bin=bin, sku=sku, cause="manual", reason="test",
                                    due_on=today - timedelta(days=1),
                                    created_at=now - timedelta(days=3, hours=1))  # fmt: skip
    CountTask.objects.create(bin=None, sku=SkuFactory(), cause="manual", reason="newer",
                             due_on=today, created_at=now - timedelta(days=1))  # fmt: skip
    for n, within in enumerate([True, False]):
        counted = CountTask.objects.create(bin=BinFactory(), sku=sku, cause="manual",
                                           reason="newer", due_on=today)  # fmt: skip
        Count.objects.create(task=counted, round=1, counted_by=manager_user, counted=2, expected=2,
                             variance=0, within_tolerance=within, outcome="confirmed",
                             submission_key=f"k{n}")  # fmt: skip
    ReturnAuthorisationFactory(created_at=now - timedelta(days=30))
    ReturnAuthorisationFactory()

    nothing_open = {"n": 0, "total_units": 0, "total_value": 0}
    folded = {f.key: f for f in dashboard_figures(open_totals=nothing_open).figures}
    alone = {f.key: f for f in driftwalks_dashboard.figures() + returns_dashboard.figures()}
    assert {key: folded[key] for key in alone} == alone
    assert (alone["accuracy"].value, alone["accuracy"].note) == (
        "50.0 %", "1 of 2 counted lines within tolerance"
    )  # fmt: skip
    oldest = alone["oldest_task"]
    assert (oldest.value, oldest.note, oldest.url) == (
        "3 days",
        f"count task {task.pk} for bin A-14, due {today - timedelta(days=1)}",
        f"/walks/tasks/{task.pk}/",
    )
    assert (alone["returns_awaiting"].value, alone["returns_awaiting"].note) == ("2", "1 late")


def test_the_oldest_open_task_without_a_bin_and_none_open(shelf, manager_user):
    from datetime import timedelta

    from django.utils import timezone

    from driftwalks import dashboard as driftwalks_dashboard
    from driftwalks.models import CountTask

    figure = {f.key: f for f in driftwalks_dashboard.figures()}["oldest_task"]
    assert (figure.value, figure.note, figure.url) == ("0 open", "no count task is open", "")
    task = CountTask.objects.create(bin=None, sku=SkuFactory(), cause="manual", reason="lost",
                                    due_on=timezone.localdate(),
                                    created_at=timezone.now() - timedelta(hours=2))  # fmt: skip
    figure = {f.key: f for f in driftwalks_dashboard.figures()}["oldest_task"]
    assert (figure.value, figure.note) == (
        "0 days", f"count task {task.pk} for any bin (find it), due {timezone.localdate()}"
    )  # fmt: skip


def test_the_accuracy_chart_counts_the_first_days_lines_from_its_first_instant(manager_user):
    """Fourteen days, today the last: a line counted in the first day's first minute is
    drawn on it; one counted in the minute before is on no day."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from driftwalks import dashboard as driftwalks_dashboard
    from driftwalks.models import Count, CountTask

    first_day = timezone.localdate() - timedelta(days=13)
    start = timezone.make_aware(datetime.combine(first_day, time.min))
    sku = SkuFactory()
    for n, (at, within) in enumerate([(start + timedelta(minutes=1), True),
                                      (start - timedelta(minutes=1), False)]):  # fmt: skip
        task = CountTask.objects.create(bin=BinFactory(), sku=sku, cause="manual", reason="x",
                                        due_on=first_day)  # fmt: skip
        Count.objects.create(task=task, round=1, counted_by=manager_user, counted=1, expected=1,
                             variance=0, within_tolerance=within, outcome="confirmed",
                             submission_key=f"k{n}", created_at=at)  # fmt: skip
    (chart,) = driftwalks_dashboard.charts()
    assert chart.series["accuracy"] == [100.0] + [None] * 13
