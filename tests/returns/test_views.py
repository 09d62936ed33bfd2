"""Returns pages: who may open them, the receiving flow over HTTP, errors beside their field,
double submissions, and a fixed number of queries whatever the data size."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Bin, Discrepancy, StockMovement
from returns import services
from returns.models import QuarantineItem, ReceiptUnit, ReturnAuthorisation, ReturnReceipt
from tests.factories import SkuFactory
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory, key
from tests.returns.steps import confirm, grade, on_hand, scan

HTMX = {"HTTP_HX_REQUEST": "true"}


def restocks() -> int:
    return StockMovement.objects.filter(kind="return_restock").count()


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def manager(client, manager_user):
    client.force_login(manager_user)
    return client


def manager_urls(rma_pk: int = 1) -> list[tuple[str, str]]:
    return [
        ("get", reverse("returns:overview")),
        ("get", reverse("returns:overview-section", args=["quarantine"])),
        ("get", reverse("returns:return-new")),
        ("post", reverse("returns:return-create")),
        ("post", reverse("returns:return-close", args=[rma_pk])),
        ("post", reverse("returns:outcomes-retry", args=[rma_pk])),
        ("post", reverse("returns:quarantine-write-off", args=[1])),
        ("post", reverse("returns:quarantine-restock", args=[1])),
        ("post", reverse("returns:mismatch-resolve", args=[1])),
    ]


# --- who may open what ---------------------------------------------------------------------------


def test_every_returns_page_needs_a_login(client, rma):
    for method, url in [("get", "/returns/"), ("get", f"/returns/{rma.pk}/")] + manager_urls():
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_staff_get_403_on_every_managers_page(staff, rma):
    for method, url in manager_urls(rma.pk):
        assert getattr(staff, method)(url).status_code == 403, url
    assert not ReturnAuthorisation.objects.exclude(pk=rma.pk).exists()


def test_home_pages_link_returns_by_role(client, staff_user, manager_user):
    client.force_login(staff_user)
    page = client.get("/").content.decode()
    assert 'data-testid="link-receive-returns"' in page
    assert "link-returns-overview" not in page
    client.force_login(manager_user)
    page = client.get("/").content.decode()
    assert 'data-testid="link-receive-returns"' in page and "link-returns-overview" in page


def test_unknown_overview_section_is_404(manager):
    assert manager.get("/returns/overview/nope/").status_code == 404


# --- finding a return ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["R-D-1001", "r-d-1001", " D-1001 "])
def test_find_by_return_or_order_number_opens_the_receiving_page(staff, rma, code):
    response = staff.get("/returns/", {"q": code})
    assert response.status_code == 302 and response.url == f"/returns/{rma.pk}/"
    htmx = staff.get("/returns/", {"q": code}, **HTMX)
    assert htmx.headers["HX-Redirect"] == f"/returns/{rma.pk}/"


def test_find_with_no_match_says_so_beside_the_field(staff, rma):
    page = staff.get("/returns/", {"q": "R-NOPE"}).content.decode()
    assert 'aria-invalid="true"' in page
    assert "No return or order R-NOPE" in page
    assert 'id="return-q"' in page and "autofocus" in page


def test_find_with_several_returns_of_one_order_lists_them(staff, rma, sku):
    other = ReturnAuthorisationFactory(number="R-D-1001-2", order_ref="D-1001")
    page = staff.get("/returns/", {"q": "D-1001"}).content.decode()
    assert 'data-testid="matches"' in page
    assert f"/returns/{rma.pk}/" in page and f"/returns/{other.pk}/" in page


# --- receiving over HTTP -------------------------------------------------------------------------


def post_scan(client, rma, code, scan_key=None, **extra):
    data = {"code": code, "scan_key": scan_key or key(), "quantity": "1"}
    return client.post(reverse("returns:unit-scan", args=[rma.pk]), data, **extra)


def test_receiving_a_box_over_htmx(staff, stocked_bin, sku, rma):
    response = post_scan(staff, rma, "SKU-1", **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="receipt-panel"' in page and "<html" not in page  # the partial only
    assert "SKU-1: now grade it" in page and 'id="scan-code"' in page and "autofocus" in page
    post_scan(staff, rma, "SKU-1", **HTMX)
    first, second = ReceiptUnit.objects.order_by("pk")
    staff.post(reverse("returns:unit-grade", args=[first.pk]),
               {"grade": "sellable", "bin": "a-14"}, **HTMX)  # fmt: skip
    staff.post(reverse("returns:unit-grade", args=[second.pk]), {"grade": "damaged"}, **HTMX)
    receipt = ReturnReceipt.objects.get()
    assert on_hand(stocked_bin, sku) == 10

    confirmed = staff.post(
        reverse("returns:receipt-confirm", args=[receipt.pk]), {"confirm_key": key()}, **HTMX
    )

    assert (
        "Box 1 of R-D-1001 confirmed: 1 restocked, 1 to quarantine." in confirmed.content.decode()
    )
    assert on_hand(stocked_bin, sku) == 11
    assert QuarantineItem.objects.get().quantity == 1


def test_grading_into_a_bin_nobody_knows_asks_first_then_creates_it(staff, stocked_bin, sku, rma):
    post_scan(staff, rma, "SKU-1", **HTMX)
    unit = ReceiptUnit.objects.get()
    url = reverse("returns:unit-grade", args=[unit.pk])
    asked = staff.post(url, {"grade": "sellable", "bin": "Z-99"}, **HTMX).content.decode()
    assert "There is no bin Z-99 yet." in asked and 'name="create_bin" value="Z-99"' in asked
    assert "SKU-1 is in: <strong>A-14</strong> (10)" in asked  # where it lives now
    unit.refresh_from_db()
    assert unit.grade == "" and not Bin.objects.filter(code="Z-99").exists()
    # A confirmation of another code asks again.
    staff.post(url, {"grade": "sellable", "bin": "Z-98", "create_bin": "Z-99"}, **HTMX)
    assert not Bin.objects.filter(code__in=["Z-98", "Z-99"]).exists()

    done = staff.post(url, {"grade": "sellable", "bin": "Z-99", "create_bin": "z-99"}, **HTMX)
    assert "SKU-1: sellable into Z-99." in done.content.decode()
    unit.refresh_from_db()
    assert unit.bin.code == "Z-99" and unit.bin.zone == "Z"


def test_units_beyond_what_is_expected_are_a_warning(staff, stocked_bin, sku, rma):
    data = {"code": "SKU-1", "scan_key": key(), "quantity": "3"}
    page = staff.post(reverse("returns:unit-scan", args=[rma.pk]), data, **HTMX).content.decode()
    assert 'data-level="warning"' in page and "1 extra unit(s) kept aside" in page
    plain = post_scan(staff, rma, "SKU-1", follow=True).content.decode()
    assert '<li class="warning" data-level="warning"' in plain


def test_a_finished_return_says_so(staff, stocked_bin, sku, rma):
    for _ in range(2):
        grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)
    page = staff.get(f"/returns/{rma.pk}/").content.decode()
    assert "Return complete" in page and "opens with the first scan" not in page


def test_a_double_submitted_confirmation_changes_nothing(staff, stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    url = reverse("returns:receipt-confirm", args=[ReturnReceipt.objects.get().pk])
    data = {"confirm_key": key()}
    first = staff.post(url, data)
    second = staff.post(url, data)
    third = staff.post(url, {"confirm_key": key()}, **HTMX)  # another phone, same box
    assert first.status_code == second.status_code == 302
    assert "nothing changed" in third.content.decode()
    assert on_hand(stocked_bin, sku) == 11 and restocks() == 1


def test_a_double_submitted_scan_records_one_unit(staff, rma):
    scan_key = key()
    post_scan(staff, rma, "SKU-1", scan_key=scan_key, **HTMX)
    again = post_scan(staff, rma, "SKU-1", scan_key=scan_key, **HTMX)
    assert "Already recorded" in again.content.decode()
    assert ReceiptUnit.objects.count() == 1


def test_a_bad_scan_shows_the_message_beside_the_field_and_changes_nothing(staff, rma):
    htmx = post_scan(staff, rma, "NOPE-1", **HTMX)
    assert htmx.status_code == 200
    page = htmx.content.decode()
    assert 'aria-invalid="true"' in page and "NOPE-1 is neither a SKU" in page
    plain = post_scan(staff, rma, "NOPE-1")
    assert plain.status_code == 400 and "NOPE-1 is neither a SKU" in plain.content.decode()
    missing_code = staff.post(reverse("returns:unit-scan", args=[rma.pk]), {"scan_key": key()})
    assert missing_code.status_code == 400
    assert not ReceiptUnit.objects.exists()


def test_grading_sellable_without_a_bin_says_so_at_the_unit(staff, rma):
    unit = scan(rma, "SKU-1").unit
    page = staff.post(
        reverse("returns:unit-grade", args=[unit.pk]), {"grade": "sellable", "bin": ""}, **HTMX
    ).content.decode()
    assert "Scan or type the bin it goes into." in page
    unit.refresh_from_db()
    assert unit.grade == ""


def test_confirming_with_ungraded_units_says_so_and_changes_nothing(staff, stocked_bin, sku, rma):
    scan(rma, "SKU-1")
    response = staff.post(
        reverse("returns:receipt-confirm", args=[ReturnReceipt.objects.get().pk]),
        {"confirm_key": key()},
    )
    assert response.status_code == 400
    assert "1 unit(s) still need a grade" in response.content.decode()
    assert on_hand(stocked_bin, sku) == 10


def test_marking_units_missing_and_taking_a_unit_out(staff, rma):
    line = rma.lines.get()
    url = reverse("returns:line-missing", args=[rma.pk])
    too_many = staff.post(url, {"line": line.pk, "quantity": 3, "scan_key": key()}, **HTMX)
    assert "only 2 unit(s) are still expected" in too_many.content.decode()
    staff.post(url, {"line": line.pk, "quantity": 1, "scan_key": key()}, **HTMX)
    unit = ReceiptUnit.objects.get()
    assert (unit.grade, unit.quantity) == ("missing", 1)
    staff.post(reverse("returns:unit-remove", args=[unit.pk]), {"rma": rma.pk}, **HTMX)
    again = staff.post(reverse("returns:unit-remove", args=[unit.pk]), {"rma": rma.pk}, **HTMX)
    assert again.status_code == 200
    assert not ReceiptUnit.objects.exists()


# --- managers ------------------------------------------------------------------------------------


@pytest.fixture
def quarantined(stocked_bin, rma):
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    return QuarantineItem.objects.get()


def test_manager_writes_off_a_quarantined_unit_with_a_reason(manager, quarantined):
    url = reverse("returns:quarantine-write-off", args=[quarantined.pk])
    refused = manager.post(url, {"reason": ""}, **HTMX)
    assert "Say why it is written off." in refused.content.decode()
    done = manager.post(url, {"reason": "torn seam"}, **HTMX)
    assert "written off" in done.content.decode()
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.reason) == ("written_off", "torn seam")


def test_manager_restocks_a_repaired_unit_into_a_bin_once(manager, quarantined, stocked_bin, sku):
    url = reverse("returns:quarantine-restock", args=[quarantined.pk])
    refused = manager.post(url, {"bin": "Z-99"}, **HTMX)
    assert "There is no bin Z-99." in refused.content.decode()
    manager.post(url, {"bin": "A-14", "note": "re-taped"})
    manager.post(url, {"bin": "A-14", "note": "re-taped"})
    assert on_hand(stocked_bin, sku) == 11 and restocks() == 1


def test_manager_resolves_a_mismatch_with_a_note(manager, stocked_bin, rma):
    services.receipt_missing_mark(line=rma.lines.get(), quantity=2, scan_key=key(), actor=None)
    confirm(rma)
    found = Discrepancy.objects.get()
    url = reverse("returns:mismatch-resolve", args=[found.pk])
    assert "Say what was decided." in manager.post(url, {"note": ""}, **HTMX).content.decode()
    manager.post(url, {"note": "refund refused by storefront"})
    found.refresh_from_db()
    assert (found.status, found.resolution) == ("resolved", "decision")


def test_manager_closes_a_return_nothing_more_is_coming(manager, rma):
    url = reverse("returns:return-close", args=[rma.pk])
    data = {"confirm_key": key()}
    manager.post(url, data)
    manager.post(url, data)
    rma.refresh_from_db()
    assert rma.status == "complete" and rma.lines.get().missing == 2


def test_phone_return_form_records_one_return_and_shows_errors(manager, sku, storefront):
    page = manager.get(reverse("returns:return-new")).content.decode()
    assert 'name="creation_key"' in page
    data = {
        "order_ref": "D-1001", "customer_name": "Grace", "creation_key": key(),
        "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0",
        "lines-0-sku": "SKU-1", "lines-0-quantity": "2", "lines-0-reason": "broken",
    }  # fmt: skip
    first = manager.post(reverse("returns:return-create"), data)
    second = manager.post(reverse("returns:return-create"), data)
    rma = ReturnAuthorisation.objects.get()
    assert first.url == second.url == f"/returns/{rma.pk}/"
    bad = manager.post(
        reverse("returns:return-create"),
        data | {"creation_key": key(), "lines-0-sku": "NOPE", "lines-1-quantity": "2"},
    )
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Which SKU comes back?" in text
    unknown = manager.post(
        reverse("returns:return-create"), data | {"creation_key": key(), "lines-0-sku": "NOPE"}
    )
    assert "Not in the catalog: NOPE." in unknown.content.decode()
    assert ReturnAuthorisation.objects.count() == 1


# --- a fixed number of queries -------------------------------------------------------------------


def queries(client, url, **extra) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **extra)
    assert response.status_code == 200, url
    return len(captured)


def busy_return(storefront, lines: int, units: int) -> ReturnAuthorisation:
    rma = ReturnAuthorisationFactory(storefront=storefront)
    skus = [SkuFactory() for _ in range(lines)]
    for n, sku in enumerate(skus):
        ReturnLineFactory(rma=rma, sku=sku, line_ref=str(n + 1), expected=units)
    for sku in skus:
        for _ in range(units):
            grade(scan(rma, sku.code).unit, "damaged")
    confirm(rma)
    for sku in skus[:2]:
        scan(rma, sku.code)
    return rma


def test_receiving_page_runs_a_fixed_number_of_queries(
    staff, storefront, django_assert_max_num_queries
):
    small = busy_return(storefront, lines=1, units=1)
    large = busy_return(storefront, lines=12, units=3)
    with django_assert_max_num_queries(12):
        staff.get(f"/returns/{large.pk}/")
    assert queries(staff, f"/returns/{small.pk}/") == queries(staff, f"/returns/{large.pk}/")
    assert queries(staff, f"/returns/{large.pk}/", **HTMX) <= 12


def test_find_page_runs_a_fixed_number_of_queries(staff, storefront, django_assert_max_num_queries):
    ReturnAuthorisationFactory()
    small = queries(staff, "/returns/")
    for _ in range(40):
        ReturnLineFactory(rma=ReturnAuthorisationFactory(), sku=None, expected=2)
    with django_assert_max_num_queries(8):
        staff.get("/returns/")
    assert queries(staff, "/returns/") == small


MANAGER_PAGES = ["/returns/overview/"] + [
    f"/returns/overview/{section}/"
    for section in ("awaiting", "today", "mismatches", "quarantine", "damage", "outcomes")
]


def test_manager_pages_run_a_fixed_number_of_queries(
    manager, storefront, stocked_bin, django_assert_max_num_queries
):
    busy_return(storefront, lines=1, units=1)
    small = {url: queries(manager, url) for url in MANAGER_PAGES}
    busy_return(storefront, lines=10, units=3)
    for url in MANAGER_PAGES:
        with django_assert_max_num_queries(12):
            manager.get(url)
        assert queries(manager, url) == small[url], url


def test_sections_show_what_they_count(manager, storefront, stocked_bin, rma):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    damage = manager.get("/returns/overview/damage/").content.decode()
    assert 'data-sku="SKU-1"' in damage and "50.0 %" in damage
    today = manager.get("/returns/overview/today/").content.decode()
    assert "R-D-1001</a> box 1" in today
    quarantine = manager.get("/returns/overview/quarantine/").content.decode()
    assert "1 × SKU-1" in quarantine
    figures = manager.get("/returns/overview/").content.decode()
    assert 'data-testid="figure-quarantine">1<' in figures


def test_awaiting_returns_show_their_age_and_lateness(manager, rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 5)
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=6)
    )
    page = manager.get("/returns/overview/awaiting/").content.decode()
    assert f'data-row="{rma.pk}"' in page
    assert "6\xa0days" in page and '<span class="flag bad">late</span>' in page
    assert "<strong>2</strong> of 2 unit(s) still to come" in page


@pytest.mark.parametrize(
    "model",
    ["returnauthorisation", "receiptunit", "quarantineitem", "returnoutcome", "refundmirror"],
)
def test_admins_read_returns_in_the_admin_but_cannot_edit_them(
    client, admin_user, quarantined, model
):
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:returns_{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:returns_{model}_add")).status_code == 403


def test_admins_see_a_return_with_its_lines_and_boxes(client, admin_user, quarantined, rma):
    client.force_login(admin_user)
    page = client.get(reverse("admin:returns_returnauthorisation_change", args=[rma.pk]))
    assert page.status_code == 200
    assert "R-D-1001" in page.content.decode()
