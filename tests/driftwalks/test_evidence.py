"""Counts are the shelf's evidence: a count that becomes the shelf's number for a bin and SKU
makes the SKU known (``ShelfEvidence``); a count still disputed, or rejected, does not."""

import pytest
from django.conf import settings

from driftwalks.imports import counts_import
from driftwalks.models import CountTask
from driftwalks.services import count_task_decide
from inventory.models import Discrepancy, ShelfEvidence
from inventory.roles import MANAGERS
from inventory.services.imports import SKIP
from tests.driftwalks.factories import count, move, open_task, storefront_says
from tests.factories import BinFactory, SkuFactory, UserFactory

Evidence = ShelfEvidence.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def uncounted(storefront):
    """A-01 holds 10 of MUG-1 on record, which the storefront sells (12): not known yet."""
    bin, sku = BinFactory(code="A-01"), SkuFactory(code="MUG-1")
    storefront_says(sku, storefront, 12)
    move(bin, sku, 10)  # not a first receipt: the storefront holds some
    assert not ShelfEvidence.objects.filter(sku=sku).exists()
    return bin, sku


def _evidence(sku) -> ShelfEvidence | None:
    return ShelfEvidence.objects.filter(sku=sku).first()


def test_count_submit_within_tolerance_makes_the_sku_known(uncounted, staff_user):
    bin, sku = uncounted
    task = open_task(bin, sku)
    count(task, 11, staff_user)
    evidence = _evidence(sku)
    assert (evidence.kind, evidence.reference) == (Evidence.COUNT, f"count task {task.pk}")
    assert evidence.recorded_by == staff_user
    uncounted_row = Discrepancy.objects.get(kind=Discrepancy.Kind.NOT_YET_COUNTED)
    assert uncounted_row.status == Discrepancy.Status.RESOLVED


def test_count_submit_with_no_variance_is_evidence_without_a_movement(uncounted, staff_user):
    bin, sku = uncounted
    result = count(open_task(bin, sku), 10, staff_user)
    assert result.movement is None and _evidence(sku).kind == Evidence.COUNT


def test_count_submit_of_none_here_is_a_zero_confirmation(staff_user, storefront):
    bin, sku = BinFactory(code="A-02"), SkuFactory(code="CAP-1")
    storefront_says(sku, storefront, 3)
    count(open_task(bin, sku), 0, staff_user)
    assert _evidence(sku).kind == Evidence.ZERO


def test_an_opening_count_past_tolerance_is_applied_at_once_and_is_evidence(uncounted, staff_user):
    bin, sku = uncounted
    result = count(open_task(bin, sku), 14, staff_user)  # +4 on a record nobody counted
    assert result.outcome == "applied" and _evidence(sku).recorded_by == staff_user
    assert sku.balances.get(bin=bin).quantity == 14


def test_a_known_skus_count_past_tolerance_still_waits_for_a_blind_recount(
    uncounted, staff_user, other_staff
):
    bin, sku = uncounted
    count(open_task(bin, sku), 10, staff_user)  # the opening count: known from here
    task = open_task(bin, sku)
    assert count(task, 14, staff_user).outcome == "recount"
    assert count(task, 14, other_staff).outcome == "applied"  # agrees and is small


def test_count_task_decide_approval_of_a_known_sku_keeps_it_known_and_rejection_changes_nothing(
    uncounted, staff_user, other_staff
):
    bin, sku = uncounted
    manager = UserFactory(username="manager-e", group=MANAGERS)
    first = open_task(bin, sku)
    count(first, 10, staff_user)
    task = open_task(bin, sku)
    count(task, 40, staff_user)
    count(task, 45, other_staff)  # disputes the first count: a manager decides
    assert task.__class__.objects.get(pk=task.pk).status == CountTask.Status.APPROVAL_REQUIRED
    count_task_decide(task=task, approve=False, reason="miscounted", actor=manager)
    evidence = _evidence(sku)
    assert (evidence.reference, sku.balances.get(bin=bin).quantity) == (
        f"count task {first.pk}",
        10,
    )


def test_count_evidence_keeps_the_first_evidence(uncounted, staff_user):
    bin, sku = uncounted
    first = open_task(bin, sku)
    count(first, 10, staff_user)
    count(open_task(bin, sku), 0, staff_user)
    evidence = _evidence(sku)
    assert (evidence.kind, evidence.reference) == (Evidence.COUNT, f"count task {first.pk}")


def test_counts_import_records_evidence_once_per_chunk(storefront, monkeypatch, other_staff):
    bins = [BinFactory(code=f"B-{n:02}") for n in range(3)]
    skus = [SkuFactory(code=f"IMP-{n}") for n in range(3)]
    for sku in skus:
        storefront_says(sku, storefront, 5)
    move(bins[0], skus[0], 5)
    move(bins[1], skus[1], 50)
    calls = []
    from driftwalks import imports

    real = imports.shelf_evidence_record
    monkeypatch.setattr(
        imports, "shelf_evidence_record", lambda **kw: calls.append(kw) or real(**kw)
    )
    text = "bin,sku,counted\nB-00,IMP-0,5\nB-01,IMP-1,20\nB-02,IMP-2,0\n"
    report = counts_import(text=text, mode=SKIP, counter=other_staff, batch="job7")
    assert [r["row"] for r in report.confirmed] == [2, 4]
    assert [r["row"] for r in report.corrected] == [3]  # 50 → 20: an opening count, applied
    assert _evidence(skus[0]).kind == Evidence.COUNT
    assert _evidence(skus[1]).kind == Evidence.COUNT
    assert _evidence(skus[2]).kind == Evidence.ZERO
    assert [c["kind"] for c in calls] == [Evidence.COUNT, Evidence.ZERO]
    assert {c["reference"] for c in calls} == {"counts import job7"}


def test_counts_import_chunks_of_many_rows_share_one_call(storefront, monkeypatch, other_staff):
    monkeypatch.setattr(settings, "ONEFACT_COUNT_TOLERANCE_UNITS", 1000)
    bin = BinFactory(code="C-01")
    skus = [SkuFactory(code=f"MANY-{n:03}") for n in range(12)]
    calls = []
    from driftwalks import imports

    real = imports.shelf_evidence_record
    monkeypatch.setattr(
        imports, "shelf_evidence_record", lambda **kw: calls.append(kw) or real(**kw)
    )
    monkeypatch.setattr(imports, "_chunks", lambda items, size=5: _chunked(items, size))
    text = "bin,sku,counted\n" + "".join(f"C-01,{s.code},0\n" for s in skus)
    counts_import(text=text, mode=SKIP, counter=other_staff, batch="job8")
    assert len(calls) == 3  # 12 rows in chunks of 5: one call per chunk
    assert ShelfEvidence.objects.filter(sku__in=skus, kind=Evidence.ZERO).count() == 12
    assert bin.count_tasks.filter(status=CountTask.Status.CLOSED).count() == 12


def _chunked(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]
