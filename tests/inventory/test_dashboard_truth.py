"""Issue 18, "Trust the screens": the dashboard's figures and charts tell the truth.

The sync lag is measured over live pushes only (a SKU's first push and a released batch are
said apart), durations read in seconds, a day without data is a gap, and the bin breakdown
names the bins the sentences ask to count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from driftwalks import dashboard as driftwalks_dashboard
from inventory.charts import duration_display, label_indexes, nice_top, render
from inventory.models import DemoLevel, Discrepancy, StockMovement, SyncLog
from inventory.selectors import (
    Chart,
    dashboard_breakdowns,
    dashboard_rows,
    inventory_figures,
    sync_lag_chart,
)
from inventory.services import on_hand_adjust, storefront_push
from tests.factories import BinFactory, SkuFactory


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(None, "—"), (0, "0 ms"), (87, "87 ms"), (999, "999 ms"), (1000, "1 s"), (1540, "1.5 s"),
     (23981, "24 s"), (119_000, "119 s"), (150_000, "2.5 min"), (7_200_000, "2 h")],
)  # fmt: skip
def test_durations_read_in_seconds_and_ms_only_under_one(ms, shown):
    assert duration_display(ms) == shown


def _log(storefront, sku, lag, kind=SyncLog.Kind.LIVE, **kw):
    return SyncLog.objects.create(storefront=storefront, sku=sku, value=1, version=1,
                                  result="applied", lag_ms=lag, kind=kind, **kw)  # fmt: skip


def test_the_sync_lag_figure_leaves_out_a_bulk_first_push(storefront, db):
    skus = [SkuFactory() for _ in range(5)]
    for sku in skus:  # the seed's first bulk push: changes made before the storefront joined
        _log(storefront, sku, 23981, SyncLog.Kind.FIRST)
    for sku, lag in zip(skus, [87, 120, 130, 150, 160], strict=True):
        _log(storefront, sku, lag)
    _log(storefront, skus[0], 600_000, SyncLog.Kind.BATCH)  # a held batch, released later
    figure = {f.key: f for f in inventory_figures()}["sync_lag"]
    assert figure.value == "130 ms"
    assert figure.note == (
        "95th percentile 160 ms; not counted as lag: 5 first pushes of a SKU and 1 push of a "
        "released batch"
    )


def test_no_live_push_is_said_with_a_number_not_a_dash(storefront, db):
    _log(storefront, SkuFactory(), 23981, SyncLog.Kind.FIRST)
    figure = {f.key: f for f in inventory_figures()}["sync_lag"]
    assert figure.value == "0 pushes"
    assert figure.note.startswith("no live push in 24 h; not counted as lag: 1 first push")


def test_the_sync_lag_chart_draws_live_pushes_and_leaves_days_without_one_as_gaps(storefront, db):
    sku = SkuFactory()
    _log(storefront, sku, 23981, SyncLog.Kind.FIRST)
    _log(storefront, sku, 100)
    _log(storefront, sku, 140)
    _log(storefront, sku, 90, pushed_at=timezone.now() - timedelta(days=3))
    chart = sync_lag_chart()
    assert chart.series["mean"][-1] == 120 and chart.series["worst"][-1] == 140
    assert chart.series["worst"][-4] == 90
    assert chart.series["mean"][-2] is None and chart.series["mean"][0] is None  # no zeros
    assert chart.note == "Not counted as lag: 1 first push of a SKU"


def test_a_skus_first_push_is_kept_apart_from_later_live_pushes(storefront, shelf, bin):
    mug = SkuFactory(code="MUG-1")
    DemoLevel.objects.create(sku_code="MUG-1", quantity=0)  # the demo storefront, in-process
    move = dict(bin=bin, sku=mug, kind=StockMovement.Kind.RECEIVE, source_system=shelf)
    on_hand_adjust(delta=4, source_event_id="r-1", **move)
    storefront_push(storefront=storefront)
    on_hand_adjust(delta=2, source_event_id="r-2", **move)
    storefront_push(storefront=storefront)
    kinds = list(SyncLog.objects.filter(sku=mug).order_by("id").values_list("kind", flat=True))
    assert kinds == [SyncLog.Kind.FIRST, SyncLog.Kind.LIVE]


def test_the_bin_breakdown_counts_a_skus_gap_at_the_bins_that_hold_it(shelf, storefront):
    a14, b02, c01 = BinFactory(code="A-14"), BinFactory(code="B-02"), BinFactory(code="C-01")
    mug, cap = SkuFactory(code="MUG"), SkuFactory(code="CAP")
    for n, (bin, sku) in enumerate([(a14, mug), (b02, mug), (c01, cap)]):
        on_hand_adjust(bin=bin, sku=sku, delta=5, kind=StockMovement.Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"seed-{n}")  # fmt: skip
    gap = dict(fact="on_hand", owner=shelf, consumer=storefront, winner=shelf, detail="x")
    Discrepancy.objects.create(kind="storefront_gap", sku=mug, owner_value=5, consumer_value=8,
                               **gap)  # a whole SKU's gap: no bin of its own  # fmt: skip
    Discrepancy.objects.create(kind="storefront_gap", sku=cap, bin=c01, owner_value=5,
                               consumer_value=6, **gap)  # fmt: skip
    rows = dashboard_rows(status="open")
    by_bin = [(r["code"], r["n"], r["total_units"]) for r in dashboard_breakdowns(rows=rows)["bin"]]
    assert by_bin == [("A-14", 1, 3), ("B-02", 1, 3), ("C-01", 1, 1)]
    for code, n, _ in by_bin:  # and each agrees with the table the bin's link opens
        assert dashboard_rows(status="open", bin_code=code).count() == n


def test_a_day_without_a_count_is_a_gap_in_the_accuracy_chart(db):
    (chart,) = driftwalks_dashboard.charts()
    assert chart.series["accuracy"] == [None] * 14 and chart.top == 100


def _chart(values, kind="line"):
    today = timezone.localdate()
    days = [today - timedelta(days=len(values) - 1 - i) for i in range(len(values))]
    return Chart("t", "Test", "ms", days, {"lag": values}, kind=kind)


def test_a_line_breaks_at_missing_days_instead_of_dropping_to_zero():
    html = str(render(_chart([100, 120, None, None, 90, None, 110])))
    line = html.split('class="chart-line" d="')[1].split('"')[0]
    assert line.count("M") == 3  # three runs: days 1-2, day 5, day 7
    assert " 100.00" not in line  # nothing drawn on the zero line
    dots = html.split('class="chart-dots" d="')[1].split('"')[0]
    assert dots.count("h0") == 4  # a dot for each day with data, the lone ones too
    assert html.count('data-missing="true"') == 3


def test_axis_labels_are_thinned_and_say_durations_plainly():
    assert label_indexes(14) == [1, 5, 9, 13] and label_indexes(3) == [0, 1, 2]
    assert len(label_indexes(53)) <= 4 and label_indexes(53)[-1] == 52
    assert nice_top(160) == 200 and nice_top(23981) == 25000 and nice_top(0) == 1
    html = str(render(_chart([87, 160])))
    assert ">200 ms</span>" in html and ">100 ms</span>" in html
    assert "Nothing recorded" not in html
    assert "Nothing recorded" in str(render(_chart([None, None])))


def test_the_migration_marks_each_skus_oldest_push_as_its_first(storefront, db):
    import importlib
    import pkgutil

    from django.apps import apps

    import inventory.migrations

    (name,) = [m.name for m in pkgutil.iter_modules(inventory.migrations.__path__)
               if m.name.endswith("_synclog_kind")]  # whatever number it is given  # fmt: skip
    migration = importlib.import_module(f"inventory.migrations.{name}")
    mug, cap = SkuFactory(), SkuFactory()
    rows = [_log(storefront, sku, 10) for sku in (mug, mug, cap)]
    migration.first_pushes_marked(apps, None)
    kinds = [SyncLog.objects.get(pk=r.pk).kind for r in rows]
    assert kinds == [SyncLog.Kind.FIRST, SyncLog.Kind.LIVE, SyncLog.Kind.FIRST]
