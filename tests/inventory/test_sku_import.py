"""The SKU import: every row checked first; a bad row rejects the whole file or is skipped and
reported; the catalog is written only where the shelf owns it, unit costs always."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inventory.models import Fact, Job, OnHand, Ownership, Sku, StockMovement
from inventory.services import ownership_change
from inventory.services.imports import ImportRejected, skus_import
from inventory.services.jobs import job_start
from inventory.tasks import run_job_task
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf_owns_catalog(shelf, admin_user):
    row = Ownership.objects.get(fact=Fact.CATALOG)
    ownership_change(ownership=row, owner=shelf, consumers=list(row.consumers.exclude(pk=shelf.pk)),
                     reason="tests: the shelf keeps its own catalog", actor=admin_user)  # fmt: skip
    return shelf


@pytest.fixture
def catalog(db):
    """Two SKUs as a catalog pull left them."""
    return [
        SkuFactory(code="MUG-1", title="Blue mug", unit_cost=Decimal("4.00")),
        SkuFactory(code="CAP-1", title="Red cap", unit_cost=Decimal("0.00")),
    ]


def _snapshot():
    return sorted(Sku.objects.values_list("code", "title", "active", "unit_cost"))


# --- the catalog's owner decides what is imported --------------------------------------------


def test_skus_import_creates_updates_and_counts_unchanged_where_the_shelf_owns_the_catalog(
    shelf_owns_catalog, catalog
):
    text = (
        "code,title,unit_cost,active\n"
        "MUG-1,Blue mug,4.00,yes\n"  # as it is
        "CAP-1,Red cap (wool),3.5,\n"  # new title and cost; active left as it is
        "TEE-1,Grey tee,7.25,\n"  # new
        "SOCK-1,Odd sock,,no\n"  # new, inactive, cost 0
    )
    report = skus_import(text=text, mode="reject")
    assert (report.created, report.updated, report.unchanged, report.skipped) == (2, 1, 1, [])
    assert _snapshot() == [
        ("CAP-1", "Red cap (wool)", True, Decimal("3.50")),
        ("MUG-1", "Blue mug", True, Decimal("4.00")),
        ("SOCK-1", "Odd sock", False, Decimal("0.00")),
        ("TEE-1", "Grey tee", True, Decimal("7.25")),
    ]


def test_skus_import_sets_costs_but_refuses_catalog_changes_while_the_storefront_owns_it(
    catalog,
):
    before = _snapshot()
    with pytest.raises(ImportRejected) as rejected:
        skus_import(
            text="code,title,unit_cost\nMUG-1,Blue mug,4.10\nCAP-1,Green cap,1\nNEW-1,New,1\n",
            mode="reject",
        )
    assert [e["row"] for e in rejected.value.errors] == [3, 4]
    assert "owned by storefront: change the title of CAP-1 there" in rejected.value.errors[0][
        "reason"]  # fmt: skip
    assert "owned by storefront: add SKU NEW-1 there" in rejected.value.errors[1]["reason"]
    assert _snapshot() == before

    report = skus_import(text="code,unit_cost\nMUG-1,4.10\nCAP-1,1\n", mode="reject")
    assert (report.created, report.updated) == (0, 2)
    assert Sku.objects.get(code="MUG-1").unit_cost == Decimal("4.10")
    assert Sku.objects.get(code="CAP-1").title == "Red cap"  # the storefront's title stays


def test_skus_import_with_no_catalog_owner_sets_only_costs(catalog, admin_user):
    row = Ownership.objects.get(fact=Fact.CATALOG)
    # The ownership table refuses a gap; one left behind by hand is still handled.
    Ownership.objects.filter(pk=row.pk).update(owner=None)
    with pytest.raises(ImportRejected, match="row 2: the catalog has no owner"):
        skus_import(text="code,active\nMUG-1,no\n", mode="reject")
    assert skus_import(text="code,unit_cost\nMUG-1,5\n", mode="reject").updated == 1


# --- every reason a row is bad ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",A thing,1,yes", "code is required"),
        ("X" * 65 + ",A thing,1,yes", "at most 64 characters"),
        ("TAB\x01,A thing,1,yes", "without control characters"),
        ("NEW 1,A thing,1,yes", "must not contain spaces or '/'"),
        ("NEW/1,A thing,1,yes", "must not contain spaces or '/'"),
        ("NEW-1,,1,yes", "SKU NEW-1 is new: it needs a title"),
        ("NEW-1," + "t" * 256 + ",1,yes", "title must be at most 255 characters"),
        ("NEW-1,A\x00thing,1,yes", "without control characters"),
        ("MUG-1,Blue mug,-1,yes", "unit_cost -1 is negative"),
        ("MUG-1,Blue mug,abc,yes", "unit_cost 'abc' is not a number"),
        ('MUG-1,Blue mug,"1,50",yes', "unit_cost '1,50' is not a number"),
        ("MUG-1,Blue mug,NaN,yes", "unit_cost 'NaN' is not a number"),
        ("MUG-1,Blue mug,Infinity,yes", "unit_cost 'Infinity' is not a number"),
        ("MUG-1,Blue mug,1e3,yes", "unit_cost '1e3' is not a number"),
        ("MUG-1,Blue mug,1.005,yes", "unit_cost 1.005 has more than 2 decimals"),
        ("MUG-1,Blue mug,10000000000,yes", "unit_cost 10000000000 is too large"),
        ("MUG-1,Blue mug,4,maybe", "active 'maybe' must be yes/no"),
        ("CAP-1,Red cap,2,yes", r"SKU CAP-1 appears twice in the file \(first on row 3\)"),
    ],
)
def test_skus_import_bad_row_rejects_the_whole_file(shelf_owns_catalog, catalog, row, reason):
    good = "code,title,unit_cost,active\nTEE-1,Grey tee,7,yes\nCAP-1,Red cap,9,yes\n"
    before = _snapshot()
    with pytest.raises(ImportRejected, match=f"row 4: .*{reason}"):
        skus_import(text=good + row + "\n", mode="reject")
    assert _snapshot() == before  # not TEE-1, not CAP-1's cost: nothing


def test_skus_import_refuses_to_deactivate_a_sku_with_units_on_the_shelf(
    shelf_owns_catalog, catalog, bin
):
    from inventory.services import on_hand_adjust

    on_hand_adjust(bin=bin, sku=catalog[0], delta=3, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf_owns_catalog, source_event_id="r-1")  # fmt: skip
    with pytest.raises(ImportRejected, match="row 2: SKU MUG-1 still has 3 units on the shelf"):
        skus_import(text="code,active\nMUG-1,no\nCAP-1,no\n", mode="reject")
    assert Sku.objects.filter(active=True).count() == 2
    # Once the bin is counted out, it may go.
    on_hand_adjust(bin=bin, sku=catalog[0], delta=-3, kind=StockMovement.Kind.COUNT_ADJUST,
                   source_system=shelf_owns_catalog, source_event_id="c-1")  # fmt: skip
    assert skus_import(text="code,active\nMUG-1,no\n", mode="reject").updated == 1
    assert OnHand.objects.get(sku=catalog[0]).quantity == 0


def test_skus_import_skip_mode_imports_the_good_rows_and_reports_the_bad(catalog):
    text = "code,unit_cost\nMUG-1,5\nCAP-1,-2\nGONE-1,3\nCAP-1,2\n"
    report = skus_import(text=text, mode="skip")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    assert [(e["row"], e["reason"].split(":")[0]) for e in report.skipped] == [
        (3, "unit_cost -2 is negative"),
        (4, "the catalog is owned by storefront"),
        (5, "SKU CAP-1 appears twice in the file (first on row 3)"),
    ]
    assert Sku.objects.get(code="MUG-1").unit_cost == Decimal("5.00")
    assert Sku.objects.get(code="CAP-1").unit_cost == Decimal("0.00")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the header lacks column(s): code"),
        ("title,unit_cost\nMug,1\n", "the header lacks column(s): code"),
        ("code,cost\nMUG-1,1\n", "unknown column(s): cost; the columns are code, title"),
        ("code,unit_cost\n", "the file has no data rows"),
        ("code\n" + "x" * 140_000 + "\n", "not readable as CSV"),
    ],
)
def test_skus_import_header_and_unreadable_files_are_refused(catalog, text, reason):
    with pytest.raises(ImportRejected) as rejected:
        skus_import(text=text, mode="skip")
    assert reason in str(rejected.value)


def test_skus_import_needs_a_known_mode(db):
    with pytest.raises(ValueError, match="mode must be"):
        skus_import(text="code\nA\n", mode="some")


# --- the page and the job --------------------------------------------------------------------


def _run_jobs(callbacks) -> Job:
    """Run the job the page started, as the worker would (the task function, directly)."""
    assert len(callbacks) == 1  # the job is handed to a worker only after commit
    job = Job.objects.get()
    run_job_task(job.pk)
    job.refresh_from_db()
    return job


def test_sku_import_page_starts_a_job_whose_page_shows_the_result(
    client, admin_user, catalog, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    page = client.get("/skus/import/").content.decode()
    assert "owned by <strong>storefront</strong>" in page and "unit costs only" in page
    upload = SimpleUploadedFile("costs.csv", b"code,unit_cost\nMUG-1,4.5\nCAP-1,oops\n")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/skus/import/", {"file": upload, "mode": "skip"})
    job = _run_jobs(callbacks)
    assert response.url == f"/jobs/{job.pk}/"
    assert (job.kind, job.status, job.created_by) == ("import_skus", "succeeded", admin_user)
    assert job.result["updated"] == 1 and job.result["skipped"][0]["row"] == 3
    body = client.get(response.url).content.decode()
    assert "row 3: unit_cost &#x27;oops&#x27; is not a number" in body


def test_sku_import_job_of_a_rejected_file_fails_with_every_bad_row(
    admin_user, catalog, django_capture_on_commit_callbacks
):
    text = "code,unit_cost\n" + "".join(f"MUG-1,{n}\n" for n in range(8))
    with django_capture_on_commit_callbacks() as callbacks:
        job_start(kind="import_skus", title="t", params={"csv": text, "mode": "reject"},
                  actor=admin_user)  # fmt: skip
    job = _run_jobs(callbacks)
    assert job.status == "failed" and "Nothing imported — 7 bad row(s)" in job.error
    assert all(f"row {n}: SKU MUG-1 appears twice" in job.error for n in range(3, 10))
    assert Sku.objects.get(code="MUG-1").unit_cost == Decimal("4.00")


@pytest.mark.parametrize("url", ["/skus/import/", "/bins/import/", "/walks/import/"])
def test_import_pages_take_a_file_with_a_long_name(
    client, admin_user, url, django_capture_on_commit_callbacks
):
    """The job's title holds 200 characters; a browser may send a name of 255."""
    client.force_login(admin_user)
    upload = SimpleUploadedFile("n" * 251 + ".csv", b"code,zone,unit_cost\n")
    with django_capture_on_commit_callbacks():
        response = client.post(url, {"file": upload, "mode": "skip"})
    assert response.status_code == 302 and len(Job.objects.get().title) < 200


def test_sku_import_page_checks_the_file_at_the_field(client, admin_user):
    client.force_login(admin_user)
    latin1 = SimpleUploadedFile("skus.csv", "code,title\nÄ-1,Mug\n".encode("latin-1"))
    response = client.post("/skus/import/", {"file": latin1, "mode": "reject"})
    assert response.status_code == 200 and not Job.objects.exists()
    assert response.context["form"].errors == {
        "file": ["The file is not UTF-8 text (save it as CSV UTF-8)."]
    }
    response = client.post("/skus/import/", {"mode": "reject"})
    assert list(response.context["form"].errors) == ["file"]
    upload = SimpleUploadedFile("skus.csv", b"code\nA\n")
    response = client.post("/skus/import/", {"file": upload, "mode": "everything"})
    assert list(response.context["form"].errors) == ["mode"] and not Job.objects.exists()


def test_sku_import_page_is_for_those_who_may_change_skus(client, staff_user, manager_user):
    for user in (staff_user, manager_user):
        client.force_login(user)
        assert client.get("/skus/import/").status_code == 403
        upload = SimpleUploadedFile("skus.csv", b"code,unit_cost\nA,1\n")
        assert client.post("/skus/import/", {"file": upload, "mode": "skip"}).status_code == 403
    assert not Job.objects.exists()


def test_sku_import_is_linked_for_admins_only(client, admin_user, manager_user):
    client.force_login(admin_user)
    assert 'href="/skus/import/"' in client.get("/").content.decode()
    assert 'href="/skus/import/"' in client.get("/skus/").content.decode()
    client.force_login(manager_user)
    assert 'href="/skus/import/"' not in client.get("/skus/").content.decode()
