"""Cycle counts by sell-through class, and the accuracy figures, computed in SQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from driftwalks.models import Count, CountTask, TaskTrigger
from driftwalks.selectors import (
    accuracy_by_week,
    accuracy_by_zone,
    accuracy_total,
    corrections_by_day,
    cycle_count_candidates,
    next_bin_for_user,
    sheet_tasks_for_bin,
)
from driftwalks.services import count_tasks_assign, cycle_counts_open
from inventory.models import StockMovement
from tests.driftwalks.factories import count, move, open_task
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    """Ten SKUs, one bin each, stocked 200 days ago; SKU n shipped n units 10 days ago."""
    now = timezone.now()
    pairs = []
    for n in range(10):
        bin, sku = BinFactory(code=f"C-{n:02}", zone="C"), SkuFactory(code=f"CY-{n:02}")
        move(bin, sku, 100, at=now - timedelta(days=200))
        if n:
            move(bin, sku, -n, Kind.SHIP, at=now - timedelta(days=10))
        pairs.append((bin, sku))
    return pairs


def _classes(candidates):
    from inventory.models import Sku

    codes = dict(Sku.objects.values_list("pk", "code"))
    return {codes[sku_id]: cls for _, sku_id, cls in candidates}


def test_cycle_count_candidates_class_skus_by_units_shipped(catalog):
    classes = _classes(cycle_count_candidates(now=timezone.now(), limit=100))
    # Top 20 % of 10 SKUs by shipped units: A; next 30 %: B; the rest (and no sales): C.
    assert classes == {
        "CY-09": "A",
        "CY-08": "A",
        "CY-07": "B",
        "CY-06": "B",
        "CY-05": "B",
        "CY-04": "C",
        "CY-03": "C",
        "CY-02": "C",
        "CY-01": "C",
        "CY-00": "C",
    }


def test_cycle_counts_open_each_class_on_its_own_period(catalog, staff_user):
    now = timezone.now()
    # 40 days after stocking: only class A (monthly) is due.
    assert cycle_counts_open(now=now - timedelta(days=160)) == 2
    reasons = set(CountTask.objects.values_list("sku__code", "reason"))
    assert reasons == {
        ("CY-09", "Cycle count: class A, counted every 30 days."),
        ("CY-08", "Cycle count: class A, counted every 30 days."),
    }
    assert TaskTrigger.objects.filter(cause="cycle").count() == 2
    # Today (200 days on): every pair is due, but the open ones are not opened twice.
    assert cycle_counts_open(now=now) == 8
    assert cycle_counts_open(now=now) == 0
    task = CountTask.objects.get(sku__code="CY-00")
    assert task.due_on == timezone.localdate() + timedelta(days=settings.ONEFACT_CYCLE_DUE_DAYS)
    assert task.priority == CountTask.Priority.LOW


def test_cycle_counts_skip_pairs_counted_within_their_period(catalog, staff_user):
    bin, sku = catalog[0]  # class C: every 182 days
    count(open_task(bin, sku), 100, staff_user)  # counted today: closed
    assert cycle_counts_open() == 9
    assert not CountTask.objects.filter(sku=sku, cause="cycle").exists()


def test_cycle_counts_open_at_most_the_batch_size(catalog, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_CYCLE_MAX_PER_RUN", 3)
    assert cycle_counts_open() == 3
    # Class A first.
    assert set(CountTask.objects.values_list("sku__code", flat=True)) >= {"CY-09", "CY-08"}


def test_cycle_count_candidates_run_a_fixed_number_of_queries(
    catalog, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        cycle_count_candidates(now=timezone.now(), limit=100)


def test_accuracy_figures_per_zone_week_and_cause(staff_user, other_staff):
    a, b = BinFactory(code="A-01", zone="A"), BinFactory(code="B-01", zone="B")
    mug, cap = SkuFactory(code="MUG", unit_cost=Decimal("4.00")), SkuFactory(code="CAP")
    for bin in (a, b):
        move(bin, mug, 10)
        move(bin, cap, 10)
    count(open_task(a, mug), 9, staff_user)  # within: -1 applied
    count(open_task(a, cap), 10, staff_user)  # within: confirmed
    recount = open_task(b, mug, cause="reconciliation")
    count(recount, 5, staff_user)  # past tolerance
    count(recount, 5, other_staff)  # agreed: -5 applied
    since = timezone.now() - timedelta(days=30)
    total = accuracy_total(since=since)
    assert (total.lines, total.within, total.percent) == (3, 2, 66.7)
    assert [(r.label, r.lines, r.within, r.percent) for r in accuracy_by_zone(since=since)] == [
        ("A", 2, 2, 100.0),
        ("B", 1, 0, 0.0),
    ]
    (week,) = accuracy_by_week(since=since)
    assert (week.lines, week.within) == (3, 2)
    rows = {r["cause"]: r for r in corrections_by_day(since=since)}
    assert (rows["manual"]["units"], rows["manual"]["net"], rows["manual"]["value"]) == (
        1,
        -1,
        Decimal("4.00"),
    )
    assert (rows["reconciliation"]["units"], rows["reconciliation"]["value"]) == (
        5,
        Decimal("20.00"),
    )
    assert rows["reconciliation"]["cause_label"] == "Storefront gap"
    assert Count.objects.count() == 4


def test_sheet_and_next_bin_follow_the_walk(sku, staff_user, other_staff):
    bins = [BinFactory(code=f"W-{n}", walk_order=n) for n in (3, 1, 2)]
    tasks = [open_task(b, sku) for b in bins]
    count_tasks_assign(task_ids=[t.pk for t in tasks], assignee=staff_user, actor=staff_user)
    first = next_bin_for_user(user=staff_user)
    assert first.code == "W-1"
    assert next_bin_for_user(user=staff_user, after=bins[2]).code == "W-3"
    assert next_bin_for_user(user=staff_user, after=bins[0]).code == "W-1"  # wraps round
    assert list(sheet_tasks_for_bin(bin=bins[1], user=staff_user)) == [tasks[1]]
    assert list(sheet_tasks_for_bin(bin=bins[1], user=other_staff)) == []  # on someone's walk
