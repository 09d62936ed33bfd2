"""The opening stock-take: one task per bin where an uncounted SKU is expected, a find-it
task where no bin is known, nothing twice; its job, its page and its progress figures."""

import pytest
from django.core.management import call_command

from driftwalks.models import CountTask, TaskTrigger
from driftwalks.services import count_task_cancel, count_tasks_assign, find_task_finish
from driftwalks.stocktake import opening_stock_take_open
from inventory.models import Job, ShelfEvidence, System
from inventory.services import shelf_evidence_record
from inventory.tasks import run_job_task
from tests.driftwalks.factories import count, move, open_task, storefront_says
from tests.factories import BinFactory, SkuFactory, UserFactory

Status = CountTask.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def adopting(storefront):
    """The storefront sells MUG (12, expected in A-01 and A-02), CAP (5, no bin known) and
    GONE (0: nothing to count); BOX sits in B-01 on record, sold nowhere; KNOWN is counted."""
    a1, a2, b1 = (BinFactory(code=c, walk_order=n) for n, c in enumerate(["A-01", "A-02", "B-01"]))
    mug, cap, gone, box, known = (
        SkuFactory(code=c) for c in ["MUG", "CAP", "GONE", "BOX", "KNOWN"]
    )
    rows = {s.code: storefront_says(s, storefront, n) for s, n in [(mug, 12), (cap, 5), (gone, 0)]}
    storefront_says(known, storefront, 9)
    move(a1, mug, 4)
    move(a2, mug, 6)
    move(b1, box, 3)  # the first receipt of a SKU new to both sides: known at once …
    ShelfEvidence.objects.filter(sku=box).delete()  # … unless, as here, it predates go-live
    shelf_evidence_record(skus=[known], kind=ShelfEvidence.Kind.COUNT, reference="earlier")
    return {"a1": a1, "a2": a2, "b1": b1, "mug": mug, "cap": cap, "box": box, "rows": rows}


def _tasks() -> set[tuple[str | None, str]]:
    return {
        (t.bin.code if t.bin else None, t.sku.code)
        for t in CountTask.objects.select_related("bin", "sku")
    }


def test_opening_stock_take_opens_one_task_per_expected_bin_or_a_find_task(
    adopting, storefront, manager_user
):
    report = opening_stock_take_open(storefront=storefront, actor=manager_user)
    assert _tasks() == {("A-01", "MUG"), ("A-02", "MUG"), (None, "CAP"), ("B-01", "BOX")}
    assert (report.skus, report.bin_tasks, report.find_tasks, report.already_open) == (3, 3, 1, 0)
    mug_task = CountTask.objects.get(bin=adopting["a1"])
    assert (mug_task.cause, mug_task.cause_label) == ("opening_count", "Opening stock-take")
    assert mug_task.reason == (
        "Opening stock-take of storefront: storefront says 12; the shelf has not counted MUG yet."
    )
    trigger = mug_task.triggers.get()
    assert (trigger.discrepancy, trigger.created_by) == (adopting["rows"]["MUG"], manager_user)


def test_opening_stock_take_again_opens_no_duplicate(adopting, storefront, manager_user):
    open_task(adopting["a1"], adopting["mug"])  # a count already asked for by hand
    opening_stock_take_open(storefront=storefront, actor=manager_user)
    triggers = TaskTrigger.objects.count()
    again = opening_stock_take_open(storefront=storefront, actor=manager_user)
    assert CountTask.objects.count() == 4
    assert (again.bin_tasks, again.find_tasks, again.already_open) == (0, 0, 4)
    assert TaskTrigger.objects.count() == triggers  # each discrepancy attached once


def test_opening_stock_take_leaves_out_skus_counted_since(
    adopting, storefront, manager_user, staff_user
):
    opening_stock_take_open(storefront=storefront, actor=manager_user)
    find = CountTask.objects.get(bin__isnull=True)
    find_task_finish(task=find, counter=staff_user)  # none anywhere: CAP is known
    count(CountTask.objects.get(bin=adopting["b1"]), 3, staff_user)  # BOX is known
    for task in CountTask.objects.filter(status__in=CountTask.ACTIVE):
        count_task_cancel(task=task, reason="asked again below", actor=manager_user)
    report = opening_stock_take_open(storefront=storefront, actor=manager_user)
    assert (report.skus, report.bin_tasks, report.find_tasks) == (1, 2, 0)
    reopened = CountTask.objects.filter(status=Status.OPEN).select_related("bin")
    assert sorted(t.bin.code for t in reopened) == ["A-01", "A-02"]


def test_opening_stock_take_works_in_chunks(adopting, storefront, manager_user, monkeypatch):
    from driftwalks import stocktake

    monkeypatch.setattr(stocktake, "CHUNK", 1)
    heard = []
    opening_stock_take_open(storefront=storefront, actor=manager_user,
                            progress=lambda done, total: heard.append((done, total)))  # fmt: skip
    assert heard == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert len(_tasks()) == 4


# --- the page and the job ------------------------------------------------------------------


def test_opening_stock_take_page_runs_a_job_with_its_progress(
    client, adopting, storefront, manager_user, django_capture_on_commit_callbacks
):
    client.force_login(manager_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/walks/opening/storefront/")
    assert len(callbacks) == 1  # the job reaches a worker only after commit
    job = Job.objects.get()
    assert response.url == f"/jobs/{job.pk}/"
    assert (job.kind, job.params) == ("opening_stock_take", {"storefront": "storefront"})
    run_job_task(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == ("succeeded", 1, 1, 100)
    assert job.result["find-it tasks opened (no bin known)"] == 1
    body = client.get(response.url).content.decode()
    assert 'data-testid="job-status">Succeeded<' in body
    page = client.get("/walks/opening/storefront/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in page and "Opening count tasks: 4 waiting, 0 done." in page


def test_opening_stock_take_page_shows_counted_skus_and_units(
    client, adopting, storefront, manager_user, staff_user
):
    opening_stock_take_open(storefront=storefront, actor=manager_user)
    count(CountTask.objects.get(bin=adopting["a1"]), 4, staff_user)  # MUG: known
    client.force_login(manager_user)
    page = client.get("/walks/opening/storefront/").content.decode()
    # Said held: MUG 12, CAP 5, KNOWN 9 (GONE says 0); known now: MUG and KNOWN.
    assert "2 of 3 SKUs counted" in page and "(66 %)" in page
    assert "21 of 26 units" in page and "(80 %)" in page
    assert 'href="/walks/import/"' in page


def test_opening_stock_take_page_is_for_managers_of_a_storefront(client, staff_user, manager_user):
    client.force_login(staff_user)
    assert client.get("/walks/opening/storefront/").status_code == 403
    assert client.post("/walks/opening/storefront/").status_code == 403
    assert not Job.objects.exists()
    client.force_login(manager_user)
    assert client.get("/walks/opening/shelf/").status_code == 404  # not a storefront
    assert client.get("/walks/opening/nope/").status_code == 404


def test_opening_stock_take_page_runs_a_fixed_number_of_queries(
    client, storefront, manager_user, django_assert_max_num_queries
):
    for n in range(30):
        sku = SkuFactory(code=f"S-{n:02}")
        storefront_says(sku, storefront, n + 1)
        if n % 2:
            shelf_evidence_record(skus=[sku], kind=ShelfEvidence.Kind.COUNT)
    client.force_login(manager_user)
    with django_assert_max_num_queries(9):  # 8, and the breaker banner
        page = client.get("/walks/opening/storefront/").content.decode()
    assert "15 of 30 SKUs counted" in page


def test_opening_stock_take_tasks_go_on_a_walk_bins_first(
    adopting, storefront, manager_user, client
):
    opening_stock_take_open(storefront=storefront, actor=manager_user)
    counter = UserFactory(username="counter", group="Warehouse staff")
    count_tasks_assign(task_ids=list(CountTask.objects.values_list("pk", flat=True)),
                       assignee=counter, actor=manager_user)  # fmt: skip
    client.force_login(counter)
    body = client.get("/walks/").content.decode()
    assert body.index("A-01") < body.index("A-02") < body.index("B-01") < body.index("Find CAP")
    call_command("verify_ledger", "--no-record")


def test_task_list_links_each_storefronts_opening_stock_take(client, storefront, manager_user):
    System.objects.filter(pk=storefront.pk).update(sync_mode=System.SyncMode.OBSERVE)
    client.force_login(manager_user)
    page = client.get("/walks/tasks/").content.decode()
    assert 'href="/walks/opening/storefront/"' in page
    assert 'Opening stock-take of storefront</a> <span class="flag warn">observing' in page
