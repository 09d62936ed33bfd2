"""The counts import: every row checked first, then each count through the drift walk's own
count path (tolerance, blind recount, a manager's decision) in one transaction."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from driftwalks import imports
from driftwalks.exceptions import CountRefused
from driftwalks.imports import counts_import
from driftwalks.models import Count, CountTask, TaskTrigger
from driftwalks.services import count_task_decide, count_tasks_assign
from inventory.models import Discrepancy, Fact, Job, OnHand, StockMovement
from inventory.roles import MANAGERS
from inventory.services import discrepancy_record
from inventory.services.imports import ImportRejected
from inventory.services.jobs import job_start
from inventory.tasks import run_job_task
from tests.driftwalks.factories import count, move, open_task
from tests.factories import BinFactory, SkuFactory, UserFactory

Status = CountTask.Status
pytestmark = pytest.mark.django_db
HEADER = "bin,sku,counted,note\n"


@pytest.fixture
def shelf_stock(db):
    """A-01 holds 10 MUG-1 and 20 CAP-1; A-02 holds 5 MUG-1. Z-99 and OLD-1 are inactive."""
    a1, a2 = BinFactory(code="A-01", zone="A"), BinFactory(code="A-02", zone="A")
    BinFactory(code="Z-99", zone="Z", active=False)
    mug = SkuFactory(code="MUG-1", title="Blue mug", unit_cost=Decimal("2.50"))
    cap = SkuFactory(code="CAP-1", title="Red cap")
    SkuFactory(code="OLD-1", title="Old thing", active=False)
    move(a1, mug, 10)
    move(a1, cap, 20)
    move(a2, mug, 5)
    return {"a1": a1, "a2": a2, "mug": mug, "cap": cap}


def _import(text, user, mode="reject", batch="t1"):
    return counts_import(text=text, mode=mode, counter=user, batch=batch, source="counts.csv")


def _balances() -> dict[tuple[str, str], int]:
    return {
        (o.bin.code, o.sku.code): o.quantity for o in OnHand.objects.select_related("bin", "sku")
    }


def _tables() -> dict[str, int]:
    """Rows in every table an import may write, to show a refused file wrote none."""
    models = [CountTask, Count, TaskTrigger, StockMovement, OnHand, Discrepancy]
    return {m.__name__: m.objects.count() for m in models}


def _ledger_clean() -> None:
    call_command("verify_ledger", "--no-record")  # raises CommandError on any mismatch


def _rows(entries) -> list[int]:
    return [e["row"] for e in entries]


# --- the count path ----------------------------------------------------------------------


def test_counts_import_takes_each_row_through_the_count_path(shelf_stock, manager_user):
    text = HEADER + (
        "A-01,MUG-1,11,found one behind the box\n"  # +1: within tolerance, corrected
        "A-01,CAP-1,20,\n"  # as the record says
        "A-02,MUG-1,0,\n"  # -5: past tolerance, a blind recount by someone else
        "a-02,cap-1,0,\n"  # never held there: 0 confirms it (codes as a scanner reads them)
    )
    report = _import(text, manager_user)

    assert (_rows(report.corrected), _rows(report.confirmed)) == ([2], [3, 5])
    assert (_rows(report.recount), report.approval, report.skipped) == ([4], [], [])
    assert (
        "MUG-1 in A-01: counted 11, the record held 10; the shelf corrected by +1"
        in (report.corrected[0]["reason"])
    )
    assert (
        "waits for a blind recount by someone else; nothing corrected yet"
        in (report.recount[0]["reason"])
    )
    assert _balances() == {("A-01", "MUG-1"): 11, ("A-01", "CAP-1"): 20, ("A-02", "MUG-1"): 5}
    # The ledger shows the correction: one count-adjust movement, by the importer.
    [adjust] = StockMovement.objects.filter(kind=StockMovement.Kind.COUNT_ADJUST)
    task = CountTask.objects.get(bin__code="A-01", sku__code="MUG-1")
    assert (adjust.quantity, adjust.balance_after, adjust.actor) == (1, 11, manager_user)
    assert adjust.reference == f"count task {task.pk}"
    assert (task.status, task.cause, task.closing_count.counted) == (
        Status.CLOSED,
        "counts_import",
        11,
    )
    assert task.reason == "Counts import by manager-t (counts.csv, row 2): found one behind the box"
    assert (
        CountTask.objects.get(bin__code="A-02", sku__code="MUG-1").status == Status.RECOUNT_REQUIRED
    )
    assert CountTask.objects.get(bin__code="A-02", sku__code="CAP-1").status == Status.CLOSED
    _ledger_clean()


def test_counts_import_closes_the_gap_that_asked_for_the_count(shelf_stock, manager_user):
    gap = discrepancy_record(kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND,
                             sku=shelf_stock["cap"], detail="storefront says 19, shelf says 20",
                             request_count=True, trigger="reconciliation")  # fmt: skip
    task = CountTask.objects.get(bin__code="A-01", sku__code="CAP-1")

    report = _import(HEADER + "A-01,CAP-1,19,\n", manager_user)

    assert (
        _rows(report.corrected) == [2] and f"count task {task.pk}" in report.corrected[0]["reason"]
    )
    task.refresh_from_db()
    gap.refresh_from_db()
    assert task.status == Status.CLOSED and task.triggers.count() == 2  # the gap, the import
    assert (gap.status, gap.resolution) == ("resolved", "count")
    assert gap.resolution_reference == f"count task {task.pk}"
    assert _balances()[("A-01", "CAP-1")] == 19
    _ledger_clean()


def test_counts_import_recount_that_disputes_the_first_waits_for_another_manager(
    shelf_stock, staff_user, manager_user
):
    first = count(open_task(shelf_stock["a1"], shelf_stock["cap"]), 8, staff_user)
    assert first.outcome == Count.Outcome.RECOUNT  # -12: past tolerance

    report = _import(HEADER + "A-01,CAP-1,30,\n", manager_user)  # +10: disputes the first

    assert _rows(report.approval) == [2] and not report.corrected
    assert "waits for a manager's decision (not the importer's)" in report.approval[0]["reason"]
    task = CountTask.objects.get(pk=first.task_id)
    assert task.status == Status.APPROVAL_REQUIRED and _balances()[("A-01", "CAP-1")] == 20
    variance = Discrepancy.objects.get(kind=Discrepancy.Kind.COUNT_VARIANCE)
    assert (variance.owner_value, variance.consumer_value, variance.bin) == (20, 30, task.bin)
    with pytest.raises(CountRefused, match="You counted this task; another manager decides it"):
        count_task_decide(task=task, approve=True, reason="mine", actor=manager_user)
    other = UserFactory(username="manager-2", group=MANAGERS)
    count_task_decide(task=task, approve=True, reason="recounted twice", actor=other)
    assert _balances()[("A-01", "CAP-1")] == 30
    _ledger_clean()


# --- every reason a row is bad -------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("B-77,MUG-1,3,", "bin B-77 is not known"),
        ("Z-99,MUG-1,3,", "bin Z-99 is inactive"),
        (",MUG-1,3,", "bin and sku are required"),
        ("A-02,NOPE-1,3,", "SKU NOPE-1 is not in the catalog"),
        ("A-02,OLD-1,3,", "SKU OLD-1 is inactive"),
        ("A-02,CAP-1,,", r"counted is required \(0 when the bin holds none\)"),
        ("A-02,CAP-1,-3,", "counted -3 is negative"),
        ("A-02,CAP-1,2.5,", "counted '2.5' is not a whole number"),
        ("A-02,CAP-1,3.0,", "counted '3.0' is not a whole number"),
        ("A-02,CAP-1,three,", "counted 'three' is not a whole number"),
        ("A-02,CAP-1,²,", "counted '²' is not a whole number"),
        ("A-02,CAP-1,1000001,", "counted 1000001 is more than 1,000,000 units"),
        # int() refuses more than 4,300 digits; the reason shows the first few
        ("A-02,CAP-1," + "9" * 5000 + ",", "counted 99999999999999999999… is more than"),
        ("A-02,CAP-1,3," + "n" * 201, "note must be at most 200 characters"),
        ("A-01,mug-1,3,", r"MUG-1 in A-01 is counted twice in the file \(first on row 2\)"),
    ],
)
def test_counts_import_bad_row_rejects_the_whole_file(shelf_stock, manager_user, row, reason):
    before, balances = _tables(), _balances()
    with pytest.raises(ImportRejected, match=f"row 4: {reason}"):
        _import(HEADER + "A-01,MUG-1,11,\nA-02,MUG-1,5,\n" + row + "\n", manager_user)
    assert _tables() == before and _balances() == balances


def test_counts_import_refuses_rows_the_count_rules_would_refuse(
    shelf_stock, staff_user, manager_user
):
    a1, a2, mug, cap = (shelf_stock[k] for k in ("a1", "a2", "mug", "cap"))
    walked = open_task(a1, mug)
    count_tasks_assign(task_ids=[walked.pk], assignee=staff_user, actor=manager_user)
    waiting = open_task(a1, cap)
    count(waiting, 8, staff_user)  # past tolerance: a recount…
    other = UserFactory(username="staff-3", group="Warehouse staff")
    count(CountTask.objects.get(pk=waiting.pk), 30, other)  # …that disputes it: a manager
    _import(HEADER + "A-02,MUG-1,0,\n", manager_user, batch="first")  # the importer counts first
    before = _tables()

    with pytest.raises(ImportRejected) as rejected:
        _import(HEADER + "A-01,MUG-1,10,\nA-01,CAP-1,20,\nA-02,MUG-1,1,\n", manager_user)

    reasons = [e["reason"] for e in rejected.value.errors]
    assert reasons == [
        f"MUG-1 in A-01 is on staff-t's walk (count task {walked.pk}); hand it back to the pool "
        "to count it here",
        f"CAP-1 in A-01 was already counted and waits for a manager's decision (count task "
        f"{waiting.pk}); decide it before counting again",
        "MUG-1 in A-02 needs a blind recount by someone other than manager-t, who counted it "
        f"first (count task {CountTask.objects.get(bin=a2, sku=mug).pk})",
    ]
    assert _tables() == before


def test_counts_import_skip_mode_applies_the_good_rows_and_reports_every_other(
    shelf_stock, staff_user, manager_user
):
    walked = open_task(shelf_stock["a2"], shelf_stock["mug"])
    count_tasks_assign(task_ids=[walked.pk], assignee=staff_user, actor=manager_user)
    text = HEADER + "A-01,MUG-1,9,\nA-01,CAP-1,x,\nA-02,MUG-1,5,\nB-77,MUG-1,1,\nA-01,CAP-1,21,\n"

    report = _import(text, manager_user, mode="skip")

    assert _rows(report.corrected) == [2]
    assert [(e["row"], e["reason"][:25]) for e in report.skipped] == [
        (3, "counted 'x' is not a whol"),
        (4, "MUG-1 in A-02 is on staff"),
        (5, "bin B-77 is not known"),
        (6, "CAP-1 in A-01 is counted "),  # twice: which of the two is right is not known
    ]
    assert _balances() == {("A-01", "MUG-1"): 9, ("A-01", "CAP-1"): 20, ("A-02", "MUG-1"): 5}
    _ledger_clean()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("bin,sku\nA-01,MUG-1\n", "the header lacks column(s): counted"),
        ("bin,sku,counted,who\nA-01,MUG-1,3,me\n", "unknown column(s): who"),
        ("bin,sku,counted\n", "the file has no data rows"),
        ("", "the header lacks column(s): bin, sku, counted"),
    ],
)
def test_counts_import_header_and_empty_files_are_refused(shelf_stock, manager_user, text, reason):
    with pytest.raises(ImportRejected) as rejected:
        _import(text, manager_user, mode="skip")
    assert reason in str(rejected.value)


def test_counts_import_refuses_a_file_past_the_row_limit(shelf_stock, manager_user, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROWS", 2)
    with pytest.raises(ImportRejected, match="at most 2 rows per import: the file has 3"):
        _import(HEADER + "A-01,MUG-1,1,\nA-01,CAP-1,1,\nA-02,MUG-1,1,\n", manager_user)


# --- a refusal at the last moment, a second run ----------------------------------------------


def _state_changes_after_the_check(monkeypatch, shelf_stock, staff_user, manager_user):
    """A counter takes A-02's task onto their walk between the check and the write."""
    check = imports._check_tasks

    def check_then_assign(*args):
        bad = check(*args)
        task = open_task(shelf_stock["a2"], shelf_stock["mug"])
        count_tasks_assign(task_ids=[task.pk], assignee=staff_user, actor=manager_user)
        return bad

    monkeypatch.setattr(imports, "_check_tasks", check_then_assign)


def test_counts_import_refused_while_applying_leaves_nothing_in_reject_mode(
    shelf_stock, staff_user, manager_user, monkeypatch
):
    _state_changes_after_the_check(monkeypatch, shelf_stock, staff_user, manager_user)
    with pytest.raises(ImportRejected, match="row 3: MUG-1 in A-02 is on staff-t's walk"):
        _import(HEADER + "A-01,MUG-1,11,\nA-02,MUG-1,5,\n", manager_user)
    assert Count.objects.count() == 0 and _balances()[("A-01", "MUG-1")] == 10
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.COUNT_ADJUST).exists()


def test_counts_import_refused_while_applying_is_reported_in_skip_mode(
    shelf_stock, staff_user, manager_user, monkeypatch
):
    _state_changes_after_the_check(monkeypatch, shelf_stock, staff_user, manager_user)
    report = _import(HEADER + "A-01,MUG-1,11,\nA-02,MUG-1,5,\n", manager_user, mode="skip")
    assert _rows(report.corrected) == [2]
    assert report.skipped == [{"row": 3, "reason": "MUG-1 in A-02 is on staff-t's walk."}]
    assert _balances()[("A-01", "MUG-1")] == 11
    _ledger_clean()


def test_counts_import_run_again_changes_nothing(shelf_stock, manager_user):
    text = HEADER + "A-01,MUG-1,11,\nA-01,CAP-1,20,\nA-02,MUG-1,0,\n"
    first = _import(text, manager_user, batch="job7")
    before, balances = _tables(), _balances()
    again = _import(text, manager_user, batch="job7")  # a worker redelivered the job
    assert again.as_dict() == first.as_dict()
    assert _tables() == before and _balances() == balances


def test_counts_import_uploaded_twice_corrects_the_shelf_once(shelf_stock, manager_user):
    """A count says what is there, not what changed: the second file finds nothing to fix."""
    text = HEADER + "A-01,MUG-1,11,\nA-01,CAP-1,19,\n"
    first = _import(text, manager_user, batch="job1")
    second = _import(text, manager_user, batch="job2")  # the same file, a second job
    assert (_rows(first.corrected), _rows(second.confirmed)) == ([2, 3], [2, 3])
    assert not second.corrected
    assert StockMovement.objects.filter(kind=StockMovement.Kind.COUNT_ADJUST).count() == 2
    assert (_balances()[("A-01", "MUG-1")], _balances()[("A-01", "CAP-1")]) == (11, 19)
    _ledger_clean()


# --- the page and the job ------------------------------------------------------------------


def _run_job(callbacks) -> Job:
    assert len(callbacks) == 1  # the job reaches a worker only after commit
    job = Job.objects.get()
    run_job_task(job.pk)  # the task's body, as the worker runs it
    job.refresh_from_db()
    return job


def test_count_import_page_runs_a_job_and_its_page_shows_every_row(
    client, shelf_stock, manager_user, django_capture_on_commit_callbacks
):
    client.force_login(manager_user)
    form = client.get("/walks/import/").content.decode()
    assert "a difference of at most 2 units" in form and "up to 5,000 rows a file" in form
    upload = SimpleUploadedFile("stocktake.csv", (HEADER + "A-01,MUG-1,11,\nA-02,MUG-1,0,\n"
                                                  "A-01,NOPE,1,\n").encode())  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/walks/import/", {"file": upload, "mode": "skip"})
    job = _run_job(callbacks)

    assert response.url == f"/jobs/{job.pk}/"
    assert (job.kind, job.status, job.done, job.total) == ("import_counts", "succeeded", 2, 2)
    assert [_rows(job.result[k]) for k in ("corrected", "recount", "skipped")] == [[2], [3], [4]]
    task = CountTask.objects.get(bin__code="A-01", sku__code="MUG-1")
    assert task.reason == "Counts import by manager-t (stocktake.csv, row 2)"
    body = client.get(response.url).content.decode()
    assert 'data-testid="job-status">Succeeded<' in body
    assert "row 2: MUG-1 in A-01: counted 11, the record held 10; the shelf corrected by +1" in body
    assert "row 4: SKU NOPE is not in the catalog" in body
    _ledger_clean()


def test_count_import_job_of_a_rejected_file_fails_with_every_bad_row(
    shelf_stock, manager_user, django_capture_on_commit_callbacks
):
    text = HEADER + "A-01,MUG-1,11,\nA-02,CAP-1,-1,\nZ-99,CAP-1,1,\n"
    before = _tables()
    with django_capture_on_commit_callbacks() as callbacks:
        job_start(kind="import_counts", title="Import counts", actor=manager_user,
                  params={"csv": text, "mode": "reject", "file": "c.csv"})  # fmt: skip
    job = _run_job(callbacks)
    assert job.status == "failed"
    assert "Nothing imported — 2 bad row(s):\nrow 3: counted -1 is negative\nrow 4: bin Z-99" in (
        job.error
    )
    assert _tables() == before


def test_count_import_job_needs_the_user_who_started_it(
    shelf_stock, manager_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = job_start(kind="import_counts", title="Import counts", actor=None,
                        params={"csv": HEADER + "A-01,MUG-1,11,\n", "mode": "reject"})  # fmt: skip
    job = _run_job(callbacks)
    assert job.status == "failed" and "no longer exists; nothing imported" in job.error
    assert not Count.objects.exists()


def test_count_import_page_checks_the_file_at_the_field(client, manager_user):
    client.force_login(manager_user)
    latin1 = SimpleUploadedFile("c.csv", "bin,sku,counted\nÄ-1,MUG,1\n".encode("latin-1"))
    response = client.post("/walks/import/", {"file": latin1, "mode": "reject"})
    assert response.context["form"].errors == {
        "file": ["The file is not UTF-8 text (save it as CSV UTF-8)."]
    }
    assert "not UTF-8" in response.content.decode()
    assert list(client.post("/walks/import/", {"mode": "skip"}).context["form"].errors) == ["file"]
    upload = SimpleUploadedFile("c.csv", b"bin,sku,counted\nA,B,1\n")
    response = client.post("/walks/import/", {"file": upload, "mode": "half"})
    assert list(response.context["form"].errors) == ["mode"]
    big = SimpleUploadedFile("c.csv", b"x" * (2 * 1024 * 1024 + 1))
    response = client.post("/walks/import/", {"file": big, "mode": "skip"})
    assert response.context["form"].errors == {"file": ["The file is larger than 2 MB; split it."]}
    assert not Job.objects.exists()


def test_count_import_page_is_for_managers(client, staff_user, manager_user):
    client.force_login(staff_user)
    assert client.get("/walks/import/").status_code == 403
    upload = SimpleUploadedFile("c.csv", b"bin,sku,counted\nA-01,MUG-1,1\n")
    assert client.post("/walks/import/", {"file": upload, "mode": "skip"}).status_code == 403
    assert not Job.objects.exists()
    assert "/walks/import/" not in client.get("/").content.decode()
    client.force_login(manager_user)
    assert 'href="/walks/import/"' in client.get("/").content.decode()
    assert 'href="/walks/import/"' in client.get("/walks/tasks/").content.decode()
