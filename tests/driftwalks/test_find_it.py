"""Find-it tasks: a SKU no bin is known to hold is found, counted where it is, or confirmed
absent everywhere; the database keeps one unfinished find-it task per SKU."""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from driftwalks.exceptions import CountRefused
from driftwalks.models import Count, CountTask, TaskTrigger, UnplacedRequest
from driftwalks.services import (
    count_task_cancel,
    count_task_open,
    count_tasks_assign,
    find_task_count_bin,
    find_task_finish,
    walk_start,
)
from inventory import hooks
from inventory.models import Discrepancy, OnHand, ShelfEvidence
from tests.driftwalks.factories import CountTaskFactory, move, open_task, storefront_says
from tests.factories import BinFactory, SkuFactory, UserFactory

Status = CountTask.Status
Evidence = ShelfEvidence.Kind
pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def lost(storefront):
    """The storefront sells 7 of LOST-1; no bin has ever held it on record."""
    sku = SkuFactory(code="LOST-1", title="Lost lamp")
    return sku, storefront_says(sku, storefront, 7)


def _find(sku, **kwargs) -> CountTask:
    return count_task_open(bin=None, sku=sku, cause="opening_count", reason="find it", **kwargs)[0]


def _ledger_clean() -> None:
    call_command("verify_ledger", "--no-record")


# --- the model's rules ---------------------------------------------------------------------


def test_count_task_open_without_a_bin_keeps_one_find_task_per_sku(lost):
    sku, uncounted = lost
    first, created = count_task_open(bin=None, sku=sku, cause="opening_count", reason="a",
                                     discrepancy=uncounted)  # fmt: skip
    again, created_again = count_task_open(bin=None, sku=sku, cause="manual", reason="b")
    assert (created, created_again, again) == (True, False, first)
    assert first.bin is None and first.is_find and first.place == "wherever it is (find it)"
    assert [t.cause for t in first.triggers.all()] == ["opening_count", "manual"]
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTaskFactory(bin=None, sku=sku)


def test_find_task_is_never_recounted_or_sent_to_a_manager(lost):
    sku, _ = lost
    task = _find(sku)
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTask.objects.filter(pk=task.pk).update(status=Status.RECOUNT_REQUIRED)


def test_found_for_is_only_for_a_task_in_a_bin(lost):
    sku, _ = lost
    task = _find(sku)
    with pytest.raises(IntegrityError), transaction.atomic():
        CountTaskFactory(bin=None, sku=SkuFactory(), found_for=task, status=Status.OPEN)


def test_count_request_for_a_sku_no_bin_ever_held_opens_a_find_task(lost):
    sku, uncounted = lost
    hooks.request_count(hooks.CountRequest(sku=sku, bins=[], reason="gap", discrepancy=uncounted))
    hooks.request_count(hooks.CountRequest(sku=sku, bins=[], reason="again", trigger="manual"))
    task = CountTask.objects.get()
    assert task.is_find and task.reason == "gap"
    assert [(t.discrepancy, t.reason) for t in task.triggers.all()] == [
        (uncounted, "gap"),
        (None, "again"),
    ]
    assert not UnplacedRequest.objects.exists()


def test_find_task_takes_the_requests_left_unplaced_before(lost):
    sku, uncounted = lost
    waiting = UnplacedRequest.objects.create(
        sku=sku, cause="found", reason="on the floor", discrepancy=uncounted, why_unplaced="older"
    )
    task = _find(sku)
    waiting.refresh_from_db()
    assert waiting.placed_task == task
    assert TaskTrigger.objects.filter(task=task, discrepancy=uncounted).exists()


# --- counting ------------------------------------------------------------------------------


def test_find_task_count_bin_counts_the_sku_where_it_was_found(lost, staff_user, other_staff):
    sku, uncounted = lost
    task = _find(sku, discrepancy=uncounted)
    bin = BinFactory(code="Q-07")
    count = find_task_count_bin(task=task, bin=bin, counted=2, counter=staff_user,
                                idempotency_key="k1")  # fmt: skip
    bin_task = count.task
    assert (bin_task.bin, bin_task.sku, bin_task.found_for) == (bin, sku, task)
    # An opening count (the shelf has not counted the SKU): applied at once, and evidence.
    assert (count.expected, count.variance, count.outcome) == (0, 2, Count.Outcome.APPLIED)
    again = find_task_count_bin(task=task, bin=bin, counted=2, counter=staff_user,
                                idempotency_key="k1")  # fmt: skip
    assert again == count and Count.objects.count() == 1
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 2
    assert ShelfEvidence.objects.get(sku=sku).kind == Evidence.COUNT
    task.refresh_from_db()
    assert task.status == Status.OPEN  # the counter may find more in another bin
    _ledger_clean()


def test_find_task_count_bin_within_tolerance_is_applied_at_once(lost, staff_user):
    sku, _ = lost
    task = _find(sku)
    bin = BinFactory(code="Q-08")
    move(bin, sku, 20)  # received meanwhile into the bin where it is then found
    count = find_task_count_bin(task=task, bin=bin, counted=21, counter=staff_user,
                                idempotency_key="k2")  # fmt: skip
    assert (count.variance, count.outcome) == (1, Count.Outcome.APPLIED)
    assert ShelfEvidence.objects.get(sku=sku).reference == f"count task {count.task_id}"
    _ledger_clean()


def test_find_task_finish_after_bins_closes_with_the_units_found(lost, staff_user, other_staff):
    sku, uncounted = lost
    task = _find(sku, discrepancy=uncounted)
    find_task_count_bin(task=task, bin=BinFactory(code="Q-01"), counted=2, counter=staff_user,
                        idempotency_key="a")  # fmt: skip
    find_task_count_bin(
        task=task, bin=BinFactory(code="Q-02"), counted=9, counter=staff_user, idempotency_key="b"
    )  # fmt: skip (past tolerance: waits for a recount)
    find_task_finish(task=task, counter=staff_user)
    task.refresh_from_db()
    assert (task.status, task.closing_count.counted, task.closed_by) == (
        Status.CLOSED,
        11,
        staff_user,
    )
    assert task.found_tasks.get(bin__code="Q-02").status == Status.RECOUNT_REQUIRED
    with pytest.raises(CountRefused, match="finished"):
        find_task_finish(task=task, counter=staff_user)
    _ledger_clean()


def test_find_task_finish_with_none_anywhere_is_a_zero_confirmation(lost, staff_user):
    sku, uncounted = lost
    task = _find(sku, discrepancy=uncounted)
    find_task_finish(task=task, counter=staff_user)
    task.refresh_from_db()
    evidence = ShelfEvidence.objects.get(sku=sku)
    assert (evidence.kind, evidence.reference) == (Evidence.ZERO, f"count task {task.pk}")
    assert (task.status, task.closing_count.counted) == (Status.CLOSED, 0)
    uncounted.refresh_from_db()
    assert uncounted.status == Discrepancy.Status.RESOLVED
    assert not OnHand.objects.filter(sku=sku).exists()  # nothing written to the shelf


def test_find_task_finish_none_anywhere_is_refused_while_bins_hold_it_on_record(lost, staff_user):
    sku, _ = lost
    task = _find(sku)
    move(BinFactory(code="R-03"), sku, 4)  # received meanwhile, into a bin nobody counted
    with pytest.raises(CountRefused, match="records LOST-1 in R-03"):
        find_task_finish(task=task, counter=staff_user)
    task.refresh_from_db()
    assert task.status == Status.OPEN


def test_find_task_refuses_another_counters_task_and_an_inactive_bin(lost, staff_user, other_staff):
    sku, _ = lost
    task = _find(sku)
    count_tasks_assign(task_ids=[task.pk], assignee=other_staff, actor=other_staff)
    with pytest.raises(CountRefused, match="staff-2's walk"):
        find_task_finish(task=task, counter=staff_user)
    with pytest.raises(CountRefused, match="inactive"):
        find_task_count_bin(task=task, bin=BinFactory(code="OLD", active=False), counted=1,
                            counter=other_staff, idempotency_key="x")  # fmt: skip
    assert not Count.objects.exists()


def test_find_task_cancel_needs_a_reason_and_says_where(lost, manager_user):
    sku, _ = lost
    task = _find(sku)
    count_task_cancel(task=task, reason="discontinued", actor=manager_user)
    with pytest.raises(CountRefused, match="LOST-1 wherever it is"):
        count_task_cancel(task=task, reason="again", actor=manager_user)


# --- walks and pages -----------------------------------------------------------------------


def test_walk_lists_find_tasks_after_the_bins(lost, staff_user, client):
    sku, _ = lost
    bin_sku = SkuFactory(code="BIN-1")
    bin = BinFactory(code="A-01")
    move(bin, bin_sku, 3)
    open_task(bin, bin_sku)
    find = _find(sku)
    walk_start(user=staff_user)
    client.force_login(staff_user)
    body = client.get("/walks/").content.decode()
    assert body.index('data-testid="walk-bins"') < body.index('data-testid="walk-finds"')
    assert f"/walks/find/{find.pk}/" in body


def test_find_page_counts_in_a_scanned_bin_blind_and_finishes(lost, staff_user, client):
    sku, _ = lost
    task = _find(sku)
    bin = BinFactory(code="Q-05")
    move(bin, sku, 1)  # received there meanwhile: the counter finds it and counts it
    client.force_login(staff_user)
    page = client.get(f"/walks/find/{task.pk}/").content.decode()
    assert "Find LOST-1" in page and "None anywhere: finish" in page
    bad = client.post(f"/walks/find/{task.pk}/count/", {"key": "k", "bin": "NOPE", "counted": "1"},
                      headers=HTMX).content.decode()  # fmt: skip
    assert "No bin NOPE." in bad and not Count.objects.exists()
    done = client.post(f"/walks/find/{task.pk}/count/", {"key": "k", "bin": "q-05", "counted": "1"},
                       headers=HTMX).content.decode()  # fmt: skip
    assert "Bin Q-05: 1 SKU counted." in done and "I have looked everywhere: finish" in done
    assert Count.objects.get().outcome == Count.Outcome.CONFIRMED
    assert ShelfEvidence.objects.get(sku=sku).kind == Evidence.COUNT
    response = client.post(f"/walks/find/{task.pk}/finish/", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/walks/"
    task.refresh_from_db()
    assert task.status == Status.CLOSED and task.closed_at <= timezone.now()


def test_find_page_needs_the_count_permission_and_a_find_task(
    lost, client, manager_user, staff_user
):
    sku, _ = lost
    task = _find(sku)
    client.force_login(UserFactory(username="nobody"))
    assert client.get(f"/walks/find/{task.pk}/").status_code == 403
    client.force_login(staff_user)
    bin_task = CountTaskFactory()
    assert client.get(f"/walks/find/{bin_task.pk}/").status_code == 404


def test_find_page_runs_a_fixed_number_of_queries(
    lost, staff_user, client, django_assert_max_num_queries
):
    sku, _ = lost
    task = _find(sku)
    for n in range(6):
        find_task_count_bin(task=task, bin=BinFactory(code=f"F-{n}"), counted=1,
                            counter=staff_user, idempotency_key=f"k{n}")  # fmt: skip
    client.force_login(staff_user)
    with django_assert_max_num_queries(9):
        body = client.get(f"/walks/find/{task.pk}/").content.decode()
    assert body.count("<td>F-") == 6
