import pytest
from django.urls import reverse

from inventory.models import Fact, Ownership, OwnershipChange, StockMovement
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind


@pytest.mark.parametrize(
    "url",
    ["/", "/skus/", "/skus/SKU-1/", "/bins/A-14/", "/authority/", "/find/?q=A-14"],
)
def test_every_page_needs_a_login(client, stocked_bin, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    ("user_fixture", "title"),
    [
        ("staff_user", "Warehouse"),
        ("manager_user", "Manager overview"),
        ("admin_user", "Administration"),
    ],
)
def test_home_fits_the_role(db, client, request, user_fixture, title):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get("/")
    assert response.status_code == 200
    assert f'data-testid="home-title">{title}<' in response.content.decode()


def test_authority_audit_is_for_managers_not_staff(client, staff_user, manager_user):
    client.force_login(staff_user)
    assert client.get("/authority/").status_code == 403
    client.force_login(manager_user)
    response = client.get("/authority/")
    assert response.status_code == 200
    assert b'data-fact="in_transit"' in response.content


def test_staff_see_no_admin(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert b"/admin/" not in client.get("/").content


def test_managers_cannot_edit_the_ownership_table(client, manager_user, storefront):
    ownership = Ownership.objects.get(fact=Fact.ON_HAND)
    client.force_login(manager_user)
    url = reverse("admin:inventory_ownership_change", args=[ownership.pk])
    response = client.post(url, {"owner": storefront.pk, "truth_moment": "ship", "reason": "x"})
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert Ownership.objects.get(fact=Fact.ON_HAND).owner.name == "shelf"


def test_admin_changes_ownership_with_a_reason_and_it_is_audited(client, admin_user, storefront):
    ownership = Ownership.objects.get(fact=Fact.PRICE)
    client.force_login(admin_user)
    url = reverse("admin:inventory_ownership_change", args=[ownership.pk])
    assert client.get(url).status_code == 200
    inline = {"changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0"}
    missing = client.post(url, {"owner": storefront.pk, "reason": ""} | inline)
    assert missing.status_code == 200
    assert "This field is required" in missing.content.decode()
    assert Ownership.objects.get(fact=Fact.PRICE).owner.name == "pricing"
    done = client.post(url, {"owner": storefront.pk, "reason": "prices moved to the shop"} | inline)
    assert done.status_code == 302
    change = OwnershipChange.objects.filter(ownership=ownership).latest("id")
    assert (change.changed_by, change.reason) == (admin_user, "prices moved to the shop")
    assert change.after["owner"] == "storefront"
    assert OwnershipChange.objects.filter(ownership=ownership).count() == 2


def test_admin_cannot_edit_the_audit_log(client, admin_user):
    client.force_login(admin_user)
    change = OwnershipChange.objects.first()
    url = reverse("admin:inventory_ownershipchange_change", args=[change.pk])
    response = client.post(url, {"reason": "rewritten"})
    assert response.status_code == 403
    assert OwnershipChange.objects.get(pk=change.pk).reason != "rewritten"


def test_admin_adjust_stock_action_goes_through_the_ledger(client, admin_user, stocked_bin, sku):
    from inventory.models import OnHand

    row = OnHand.objects.get(bin=stocked_bin, sku=sku)
    client.force_login(admin_user)
    url = reverse("admin:inventory_onhand_changelist")
    data = {"action": "adjust_stock", "_selected_action": [row.pk], "apply": "1", "delta": "-3",
            "note": "counted 7", "event_id": "abc"}  # fmt: skip
    client.post(url, data)
    client.post(url, data)  # a second submission of the same form replays
    assert OnHand.objects.get(pk=row.pk).quantity == 7
    move = StockMovement.objects.get(kind=Kind.COUNT_ADJUST)
    assert (move.actor, move.note, move.balance_after) == (admin_user, "counted 7", 7)


def test_sku_detail_shows_bins_availability_and_ledger(client, staff_user, stocked_bin, sku):
    client.force_login(staff_user)
    body = client.get("/skus/SKU-1/").content.decode()
    assert 'data-testid="on-hand">10<' in body
    assert 'data-bin="A-14">10<' in body
    assert "seed-1" in body


def test_sku_detail_ledger_is_paginated_and_serves_an_htmx_fragment(
    client, staff_user, stocked_bin, sku, shelf
):
    for n in range(60):
        on_hand_adjust(bin=stocked_bin, sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf,
                       source_event_id=f"r-{n}")  # fmt: skip
    client.force_login(staff_user)
    page2 = client.get("/skus/SKU-1/?page=2", headers={"HX-Request": "true"})
    body = page2.content.decode()
    assert body.lstrip().startswith('<div id="ledger-table">')
    assert "<html" not in body
    assert "page 2 of 2" in body
    assert body.count("<tr>") == 1 + 11  # header + the 11 oldest of 61 movements


def test_sku_detail_lists_the_skus_own_discrepancies_not_a_code_alike_in_another_case(
    client, manager_user, shelf, storefront
):
    """The page reads its discrepancies by the SKU's id (an index), never by matching the
    code in any case (which walked every discrepancy): ``mug-1`` is another SKU."""
    from inventory.models import Discrepancy

    mug, other = SkuFactory(code="MUG-1"), SkuFactory(code="mug-1")
    gap = dict(kind="storefront_gap", fact="on_hand", owner=shelf, consumer=storefront,
               winner=shelf, owner_value=2, consumer_value=4)  # fmt: skip
    Discrepancy.objects.create(sku=mug, detail="the mug's own gap", **gap)
    Discrepancy.objects.create(sku=other, detail="another SKU's gap", **gap)
    client.force_login(manager_user)
    body = client.get("/skus/MUG-1/").content.decode()
    assert "the mug&#x27;s own gap" in body or "the mug's own gap" in body
    assert "another SKU" not in body


def test_find_goes_to_a_bin_or_a_sku(client, staff_user, stocked_bin, sku):
    client.force_login(staff_user)
    assert client.get("/find/?q=a-14").url == "/bins/A-14/"
    assert client.get("/find/?q=SKU-1").url == "/skus/SKU-1/"
    assert client.get("/find/?q=nothing").url == "/skus/?q=nothing"


def test_a_code_with_a_slash_from_the_storefront_catalog_has_its_pages(client, staff_user, shelf):
    """A storefront's catalog may carry a SKU such as ``TEE/RED``; its page, the find box and a
    count sheet's bin link all reach it (a ``str`` URL converter would answer 404 or fail)."""
    sku = SkuFactory(code="TEE/RED")
    bin = BinFactory(code="A/1")
    on_hand_adjust(bin=bin, sku=sku, delta=3, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="slash-1")  # fmt: skip
    client.force_login(staff_user)
    assert client.get("/find/?q=tee/red").url == "/skus/TEE/RED/"
    body = client.get("/skus/TEE/RED/").content.decode()
    assert 'data-bin="A/1">3<' in body and 'href="/bins/A/1/"' in body
    assert client.get("/bins/A/1/").status_code == 200
    assert client.get("/walks/bins/A/1/count/").status_code == 200


def _stock_many(shelf, n):
    bins = [BinFactory() for _ in range(3)]
    for i in range(n):
        sku = SkuFactory()
        on_hand_adjust(bin=bins[i % 3], sku=sku, delta=i + 1, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"q-{i}")  # fmt: skip
    return bins


@pytest.mark.parametrize("n", [5, 80])
def test_sku_list_runs_a_fixed_number_of_queries(
    client, staff_user, shelf, n, django_assert_max_num_queries
):
    _stock_many(shelf, n)
    client.force_login(staff_user)
    with django_assert_max_num_queries(7):  # 6, and the warehouses for the filter
        assert client.get("/skus/").status_code == 200


@pytest.mark.parametrize("n", [5, 80])
def test_sku_detail_and_audit_run_a_fixed_number_of_queries(
    client, manager_user, stocked_bin, sku, shelf, n, django_assert_max_num_queries
):
    for i in range(n):
        on_hand_adjust(bin=stocked_bin, sku=sku, delta=1, kind=Kind.RECEIVE, source_system=shelf,
                       source_event_id=f"m-{i}")  # fmt: skip
    client.force_login(manager_user)
    with django_assert_max_num_queries(15):  # 13, the orders at risk, the breaker banner
        assert client.get("/skus/SKU-1/").status_code == 200
    with django_assert_max_num_queries(12):  # 10, the 3PLs' warehouses, the breaker banner
        assert client.get("/authority/").status_code == 200
    with django_assert_max_num_queries(11):  # 10, and the breaker banner's one
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("n", [3, 70])
def test_discrepancy_list_runs_a_fixed_number_of_queries(
    client, manager_user, stocked_bin, sku, shelf, storefront, n, django_assert_max_num_queries
):
    from inventory.models import Discrepancy

    Discrepancy.objects.bulk_create(
        [Discrepancy(kind="storefront_gap", fact="on_hand", sku=sku, bin=stocked_bin, owner=shelf,
                     consumer=storefront, owner_value=2, consumer_value=4, winner=shelf,
                     detail=f"storefront says 4, shelf says 2 ({i})") for i in range(n)]
    )  # fmt: skip
    client.force_login(manager_user)
    with django_assert_max_num_queries(8):
        body = client.get("/discrepancies/").content.decode()
    assert "storefront says 4, shelf says 2 (0)" in body or n > 50


def test_discrepancy_list_is_for_managers(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/discrepancies/").status_code == 403
    assert client.post("/reconcile/").status_code == 403


def test_reconcile_now_runs_as_a_job_and_finds_the_demo_storefronts_drift(
    client, manager_user, stocked_bin, sku, settings, django_capture_on_commit_callbacks
):
    """The embedded default: the job runs in-process and its page shows the result."""
    from config.celery import app
    from inventory.models import Discrepancy, Job, System
    from inventory.services import storefront_push
    from inventory.storefront.demo.models import DemoLevel

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        DemoLevel.objects.create(sku_code="SKU-1", title="Blue mug", quantity=0)
        storefront_push(storefront=System.objects.get(name="storefront"))  # in step: 10
        DemoLevel.objects.filter(sku_code="SKU-1").update(quantity=4)  # someone edits it
        client.force_login(manager_user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/reconcile/")
    finally:
        app.conf.task_always_eager = False
    job = Job.objects.get()
    assert response.url == f"/jobs/{job.pk}/"
    assert (job.status, job.result["gaps"], job.result["counts_requested"]) == ("succeeded", 1, 1)
    page = client.get(response.url).content.decode()
    assert 'data-testid="job-status">Succeeded<' in page and "hx-trigger" not in page
    gap = Discrepancy.objects.get(kind="storefront_gap")
    assert gap.detail == "storefront says 4, shelf says 10; shelf owns on-hand and wins."
    assert DemoLevel.objects.get(sku_code="SKU-1").quantity == 10


def test_job_page_polls_until_finished_and_shows_a_failure(client, manager_user, staff_user):
    from inventory.models import Job

    running = Job.objects.create(kind="reconcile", title="r", status="running", total=4, done=1)
    failed = Job.objects.create(kind="import_bins", title="i", status="failed", error="row 3: bad")
    client.force_login(manager_user)
    body = client.get(f"/jobs/{running.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert body.lstrip().startswith('<div id="job-status"') and 'hx-trigger="every 1s"' in body
    assert 'value="25"' in body
    assert "row 3: bad" in client.get(f"/jobs/{failed.pk}/").content.decode()
    client.force_login(staff_user)
    assert client.get(f"/jobs/{running.pk}/").status_code == 404  # not theirs
