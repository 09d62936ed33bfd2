import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inventory.models import Bin, Job, StockMovement
from inventory.services import on_hand_adjust
from inventory.services.imports import ImportRejected, bins_import
from tests.factories import BinFactory, SkuFactory

GOOD = "code,zone,walk_order,active\nA-01,A,1,yes\nA-02,A,2,\n"


def test_bins_import_creates_and_updates(db):
    BinFactory(code="A-02", zone="Z", walk_order=9)
    report = bins_import(text=GOOD, mode="reject")
    assert (report.created, report.updated, report.skipped) == (1, 1, [])
    assert Bin.objects.get(code="A-02").zone == "A"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("A 3,A,3,yes", "bin code"),
        ("A-03,,3,yes", "zone is required"),
        ("A-03,A,-1,yes", "walk_order"),
        ("A-03,A,1.5,yes", "walk_order"),
        ("A-03,A,²,yes", "walk_order"),  # a digit to str.isdigit, not to int()
        ("A-03,A\x00,3,yes", "zone is required"),  # PostgreSQL refuses NUL in text
        ("A-03,A,3,maybe", "active"),
        ("A-01,A,3,yes", "appears twice"),
    ],
)
def test_bins_import_bad_row_rejects_the_whole_file(db, row, reason):
    with pytest.raises(ImportRejected, match=f"row 4: .*{reason}"):
        bins_import(text=GOOD + row + "\n", mode="reject")
    assert not Bin.objects.exists()


def test_bins_import_skip_mode_imports_the_rest_and_reports(db):
    report = bins_import(text=GOOD + "bad code!,A,3,yes\n", mode="skip")
    assert report.created == 2
    assert report.skipped == [{"row": 4, "reason": report.skipped[0]["reason"]}]
    assert "bin code" in report.skipped[0]["reason"]


def test_bins_import_refuses_to_deactivate_a_bin_holding_stock(shelf):
    bin = BinFactory(code="A-01", zone="A")
    on_hand_adjust(bin=bin, sku=SkuFactory(), delta=3, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="r")  # fmt: skip
    with pytest.raises(ImportRejected, match="still holds 3 units"):
        bins_import(text="code,zone,active\nA-01,A,no\n", mode="reject")
    assert Bin.objects.get(code="A-01").active


@pytest.mark.parametrize("text", ["", "code\nA-1\n", "code,zone\n"])
def test_bins_import_header_and_empty_files_are_refused(db, text):
    with pytest.raises(ImportRejected):
        bins_import(text=text, mode="reject")


def test_bin_import_page_starts_a_job_and_reports(
    client, admin_user, django_capture_on_commit_callbacks, settings
):
    from config.celery import app

    client.force_login(admin_user)
    upload = SimpleUploadedFile("bins.csv", (GOOD + "x y,A,1,yes\n").encode(), "text/csv")
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/bins/import/", {"file": upload, "mode": "reject"})
    finally:
        app.conf.task_always_eager = False
    job = Job.objects.get()
    assert response.url == f"/jobs/{job.pk}/"
    assert job.status == "failed" and "row 4" in job.error
    assert not Bin.objects.exists()


def test_bin_import_page_checks_the_file_at_the_field(client, admin_user, manager_user):
    client.force_login(admin_user)
    latin1 = SimpleUploadedFile("bins.csv", "code,zone\nÄ-1,A\n".encode("latin-1"))
    body = client.post("/bins/import/", {"file": latin1, "mode": "reject"}).content.decode()
    assert "not UTF-8" in body and not Job.objects.exists()
    client.force_login(manager_user)
    assert client.get("/bins/import/").status_code == 403
