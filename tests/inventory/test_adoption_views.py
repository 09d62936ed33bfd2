"""The screens of the adoption path: the storefronts, a storefront's readiness and go-live,
a batch the circuit breaker held, the managers' banner, the sync mode in the admin."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.celery import app
from inventory.context_processors import breaker
from inventory.models import (
    Bin,
    CorrectionBatch,
    Job,
    ShelfEvidence,
    Sku,
    StockMovement,
    SyncModeChange,
    System,
)
from inventory.services import (
    on_hand_adjust,
    shelf_evidence_record,
    storefront_mode_set,
    storefront_push,
    storefront_reconcile,
)
from inventory.storefront.demo.models import DemoLevel
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
Status = CorrectionBatch.Status
SET_ON_HAND = "OneFactSetOnHand"


def _observe(storefront: System) -> System:
    System.objects.filter(pk=storefront.pk).update(sync_mode=System.SyncMode.OBSERVE)
    storefront.refresh_from_db()
    return storefront


def _catalog(storefront: System, levels: dict[str, int]) -> None:
    """SKUs the demo storefront holds and the shelf has never counted, read once."""
    for code, quantity in levels.items():
        SkuFactory(code=code)
        DemoLevel.objects.create(sku_code=code, quantity=quantity)
    storefront_reconcile(storefront=storefront)


def _count(shelf: System, code: str, quantity: int, bin_code: str = "A-01") -> None:
    """An opening count: the bin's units on the ledger, and the SKU known from now on."""
    sku = Sku.objects.get(code=code)
    bin = Bin.objects.filter(code=bin_code).first() or BinFactory(code=bin_code)
    if quantity:
        on_hand_adjust(bin=bin, sku=sku, delta=quantity, kind=Kind.COUNT_ADJUST,
                       source_system=shelf, source_event_id=f"count-{code}")  # fmt: skip
    kind = ShelfEvidence.Kind.COUNT if quantity else ShelfEvidence.Kind.ZERO
    shelf_evidence_record(skus=[sku], kind=kind, reference=f"count of {code}")


def _levels() -> dict[str, int]:
    return dict(DemoLevel.objects.values_list("sku_code", "quantity"))


@pytest.fixture
def observed(storefront, shelf):
    """The demo storefront observed, holding 6 SKUs; the shelf counted 3 of them (one up,
    one down, one to zero) and a preview of going live was made."""
    _observe(storefront)
    _catalog(storefront, {"MUG-1": 4, "MUG-2": 5, "MUG-3": 2, "CAP-1": 7, "CAP-2": 1, "HAT-1": 3})
    _count(shelf, "MUG-1", 6)
    _count(shelf, "MUG-2", 2)
    _count(shelf, "MUG-3", 0)
    storefront_reconcile(storefront=storefront, preview=True)
    return storefront


def hold_a_bad_day(shopify, shelf, *, skus: int = 20, zeroed: int = 6) -> CorrectionBatch:
    """A live Shopify storefront holding ``skus`` SKUs of 5 units, all known and pushed;
    then counts set ``zeroed`` of them to zero in one transaction (30 % of its units, like
    a bug would): the push's breaker holds them, nothing is sent."""
    bin = BinFactory(code="A-01")
    codes = [f"TEE-{i:02}" for i in range(skus)]
    shopify.fake.add_product("Tee", [(code, 0) for code in codes])
    for code in codes:
        on_hand_adjust(bin=bin, sku=SkuFactory(code=code), delta=5, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"r-{code}")  # fmt: skip
    storefront_push(storefront=shopify)
    with transaction.atomic():
        for code in codes[:zeroed]:
            on_hand_adjust(bin=bin, sku=Sku.objects.get(code=code), delta=-5,
                           kind=Kind.COUNT_ADJUST, source_system=shelf,
                           source_event_id=f"bug-{code}")  # fmt: skip
    storefront_push(storefront=shopify)
    return CorrectionBatch.objects.get(storefront=shopify, status=Status.HELD)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- roles -------------------------------------------------------------------------------


def test_storefront_pages_are_for_managers_not_staff(client, staff_user, manager_user, observed):
    preview = CorrectionBatch.objects.get(status=Status.PREVIEW)
    urls = [
        reverse("inventory:storefront-list"),
        reverse("inventory:storefront-detail", args=[observed.name]),
        reverse("inventory:batch-detail", args=[observed.name, preview.pk]),
    ]
    client.force_login(staff_user)
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    posts = [
        (reverse("inventory:storefront-go-live", args=[observed.name]),
         {"preview": preview.pk, "reason": "x"}),
        (reverse("inventory:storefront-preview", args=[observed.name]), {}),
        (reverse("inventory:batch-release", args=[observed.name, preview.pk]),
         {"release-reason": "x"}),
        (reverse("inventory:batch-cancel", args=[observed.name, preview.pk]),
         {"cancel-reason": "x"}),
    ]  # fmt: skip
    assert [client.post(url, data).status_code for url, data in posts] == [403] * 4
    assert not Job.objects.exists()
    client.force_login(manager_user)
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    assert System.objects.get(pk=observed.pk).sync_mode == System.SyncMode.OBSERVE


def test_storefront_detail_of_an_unknown_or_non_storefront_system_is_404(
    client, manager_user, shelf
):
    client.force_login(manager_user)
    assert client.get("/storefronts/nowhere/").status_code == 404
    assert client.get("/storefronts/shelf/").status_code == 404


# --- the storefronts page ---------------------------------------------------------------


def test_storefront_list_shows_each_mode_and_a_paused_sync(client, manager_user, shopify, shelf):
    hold_a_bad_day(shopify, shelf)
    _observe(System.objects.get(name="storefront"))
    client.force_login(manager_user)
    body = client.get("/storefronts/").content.decode()
    shopify_row = body.split('data-storefront="shopify-1"')[1].split("</tr>")[0]
    demo_row = body.split('data-storefront="storefront"')[1].split("</tr>")[0]
    assert "live" in shopify_row and "paused: corrections held" in shopify_row
    assert "observe" in demo_row and "does not mirror on-hand" in demo_row


# --- readiness --------------------------------------------------------------------------


def test_storefront_detail_shows_what_is_known_and_what_going_live_would_do(
    client, manager_user, observed
):
    client.force_login(manager_user)
    body = client.get(f"/storefronts/{observed.name}/").content.decode()
    assert '<div class="value">3 / 6</div>' in body and 'value="50"' in body
    assert '<div class="value">11 / 8</div>' in body  # the storefront's units, the shelf's
    largest = body.split('data-testid="largest"')[1].split("</table>")[0]
    assert [row.split('"')[0] for row in largest.split('data-sku="')[1:]] == [
        "MUG-2", "MUG-1", "MUG-3",
    ]  # fmt: skip
    uncounted = body.split('data-testid="uncounted"')[1].split("</table>")[0]
    assert [row.split('"')[0] for row in uncounted.split('data-sku="')[1:]] == [
        "CAP-1", "HAT-1", "CAP-2",
    ]  # fmt: skip
    assert 'data-testid="go-live"' in body and "3 corrections" in body


def test_storefront_detail_offers_go_live_only_on_an_observed_storefront_with_a_preview(
    client, manager_user, storefront, shelf
):
    _observe(storefront)
    _catalog(storefront, {"MUG-1": 4})
    client.force_login(manager_user)
    body = client.get(f"/storefronts/{storefront.name}/").content.decode()
    assert 'data-testid="go-live"' not in body and "No preview yet" in body
    storefront_reconcile(storefront=storefront, preview=True)
    storefront_mode_set(storefront=storefront, mode="live", reason="by hand", actor=None)
    body = client.get(f"/storefronts/{storefront.name}/").content.decode()
    assert 'data-testid="go-live"' not in body and 'class="flag ok">live' in body


def _readiness_data(storefront, shelf, first: int, uncounted: int, counted: int) -> None:
    codes = [f"SKU-{i:03}" for i in range(first, first + uncounted + counted)]
    _catalog(storefront, {code: 1 + i % 4 for i, code in enumerate(codes)})
    for i, code in enumerate(codes[:counted]):
        _count(shelf, code, i % 3)
    storefront_reconcile(storefront=storefront, preview=True)
    storefront_mode_set(storefront=storefront, mode="live", reason="a", actor=None)
    storefront_mode_set(storefront=storefront, mode="observe", reason="b", actor=None)


def test_storefront_pages_run_a_fixed_number_of_queries(
    client, manager_user, storefront, shelf, django_assert_max_num_queries
):
    _observe(storefront)
    client.force_login(manager_user)
    client.get("/")  # the session and the permissions are loaded once
    urls = (f"/storefronts/{storefront.name}/", "/storefronts/")
    counts = []
    for first, uncounted, counted in ((0, 3, 4), (100, 60, 30)):
        _readiness_data(storefront, shelf, first, uncounted, counted)
        with CaptureQueriesContext(connection) as queries:
            for url in urls:
                assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(18):
        client.get(urls[0])
    with django_assert_max_num_queries(7):
        client.get(urls[1])


# --- the preview job --------------------------------------------------------------------


def test_storefront_preview_is_a_job_whose_page_links_to_the_preview(
    client, manager_user, observed, django_capture_on_commit_callbacks
):
    older = CorrectionBatch.objects.get(status=Status.PREVIEW)
    DemoLevel.objects.filter(sku_code="MUG-1").update(quantity=6)  # now agrees
    client.force_login(manager_user)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/storefronts/{observed.name}/preview/")
    finally:
        app.conf.task_always_eager = False
    job = Job.objects.get(kind="go_live_preview")
    assert response.url == f"/jobs/{job.pk}/"
    assert job.status == "succeeded" and job.result["changes"] == 2
    assert f'href="/storefronts/{observed.name}/"' in client.get(response.url).content.decode()
    older.refresh_from_db()
    fresh = CorrectionBatch.objects.get(status=Status.PREVIEW)
    assert older.status == Status.SUPERSEDED and [w[1] for w in fresh.writes] == ["MUG-2", "MUG-3"]


# --- going live -------------------------------------------------------------------------


def test_storefront_go_live_without_a_reason_is_refused_at_the_field(
    client, manager_user, observed
):
    preview = CorrectionBatch.objects.get(status=Status.PREVIEW)
    before = _levels()
    client.force_login(manager_user)
    response = client.post(f"/storefronts/{observed.name}/go-live/",
                           {"preview": preview.pk, "reason": "  "})  # fmt: skip
    assert response.status_code == 400
    assert "Say why: this decision needs a reason." in response.content.decode()
    assert System.objects.get(pk=observed.pk).sync_mode == System.SyncMode.OBSERVE
    assert _levels() == before and not SyncModeChange.objects.exists()


def test_storefront_go_live_sends_the_counted_skus_and_leaves_the_others(
    client, manager_user, observed
):
    preview = CorrectionBatch.objects.get(status=Status.PREVIEW)
    client.force_login(manager_user)
    response = client.post(f"/storefronts/{observed.name}/go-live/",
                           {"preview": preview.pk, "reason": "opening count done"})  # fmt: skip
    assert response.status_code == 302
    assert "storefront is live: corrections of 3 SKU(s) sent" in _messages(response)[0]
    assert _levels() == {"MUG-1": 6, "MUG-2": 2, "MUG-3": 0, "CAP-1": 7, "CAP-2": 1, "HAT-1": 3}
    change = SyncModeChange.objects.get(system=observed)
    assert (change.after, change.changed_by, change.reason) == (
        "live", manager_user, "Go live: opening count done",
    )  # fmt: skip
    preview.refresh_from_db()
    assert preview.status == Status.SENT
    body = client.get(f"/storefronts/{observed.name}/").content.decode()
    assert "manager-t" in body.split('data-testid="mode-changes"')[1]
    assert 'data-testid="go-live"' not in body


def test_storefront_go_live_on_a_superseded_preview_is_refused_with_a_sentence(
    client, manager_user, observed
):
    older = CorrectionBatch.objects.get(status=Status.PREVIEW)
    storefront_reconcile(storefront=observed, preview=True)
    before = _levels()
    client.force_login(manager_user)
    response = client.post(f"/storefronts/{observed.name}/go-live/",
                           {"preview": older.pk, "reason": "looked fine"})  # fmt: skip
    assert response.status_code == 400
    assert "This preview is no longer current: make a new one" in response.content.decode()
    assert System.objects.get(pk=observed.pk).sync_mode == System.SyncMode.OBSERVE
    assert _levels() == before


def test_storefront_go_live_on_an_unreachable_storefront_says_the_batch_waits(
    client, manager_user, shopify, shelf
):
    _observe(shopify)
    shopify.fake.add_product("Mug", [("MUG-1", 4), ("MUG-2", 5)])
    for code in ("MUG-1", "MUG-2"):
        SkuFactory(code=code)
    _count(shelf, "MUG-1", 6)
    _count(shelf, "MUG-2", 1)
    storefront_reconcile(storefront=shopify, preview=True)
    preview = CorrectionBatch.objects.get(storefront=shopify, status=Status.PREVIEW)
    shopify.fake.fail_next(10, status=503, operation=SET_ON_HAND)
    client.force_login(manager_user)
    response = client.post(f"/storefronts/{shopify.name}/go-live/",
                           {"preview": preview.pk, "reason": "counted"}, follow=True)  # fmt: skip
    body = response.content.decode()
    assert "shopify-1 is live, but could not be reached" in body
    assert "wait, paused, for a manager to release them" in body
    assert f"/storefronts/shopify-1/batches/{preview.pk}/" in body  # the banner and the page
    preview.refresh_from_db()
    assert preview.status == Status.HELD
    assert (shopify.fake.on_hand("MUG-1"), shopify.fake.on_hand("MUG-2")) == (4, 5)


# --- a held batch -----------------------------------------------------------------------


def test_batch_detail_shows_each_held_value_the_shelf_now_and_the_storefront(
    client, manager_user, shopify, shelf
):
    batch = hold_a_bad_day(shopify, shelf)
    client.force_login(manager_user)
    body = client.get(f"/storefronts/{shopify.name}/batches/{batch.pk}/").content.decode()
    assert "would zero" in body or "lower its units" in body
    rows = body.split('data-testid="batch-lines"')[1].split("</table>")[0]
    assert rows.count("data-sku=") == 6
    assert '<td class="num">5</td><td class="num">0</td>' in rows  # held: 5 → 0
    assert 'data-testid="release"' in body and 'data-testid="cancel"' in body


def test_batch_release_without_a_reason_sends_nothing(client, manager_user, shopify, shelf):
    batch = hold_a_bad_day(shopify, shelf)
    calls = len(shopify.fake.operations(SET_ON_HAND))
    client.force_login(manager_user)
    url = f"/storefronts/{shopify.name}/batches/{batch.pk}/release/"
    response = client.post(url, {"release-reason": ""})
    assert response.status_code == 400
    assert "Say why: this decision needs a reason." in response.content.decode()
    assert len(shopify.fake.operations(SET_ON_HAND)) == calls
    batch.refresh_from_db()
    assert batch.status == Status.HELD


def test_batch_release_twice_sends_once(client, manager_user, shopify, shelf):
    batch = hold_a_bad_day(shopify, shelf)
    calls = len(shopify.fake.operations(SET_ON_HAND))
    client.force_login(manager_user)
    url = f"/storefronts/{shopify.name}/batches/{batch.pk}/release/"
    first = client.post(url, {"release-reason": "the counts are right"})
    assert "Released: 6 SKU(s) sent to shopify-1" in _messages(first)[0]
    second = client.post(url, {"release-reason": "the counts are right"})
    assert _messages(second)[-1] == "This batch is sent already."  # after the first's
    assert len(shopify.fake.operations(SET_ON_HAND)) == calls + 1
    assert [shopify.fake.on_hand(f"TEE-{i:02}") for i in range(8)] == [0] * 6 + [5, 5]
    batch.refresh_from_db()
    assert (batch.status, batch.decided_by, batch.decision_note) == (
        Status.SENT, manager_user, "the counts are right",
    )  # fmt: skip


def test_batch_release_of_an_unreachable_storefront_keeps_it_held(
    client, manager_user, shopify, shelf
):
    batch = hold_a_bad_day(shopify, shelf)
    shopify.fake.fail_next(10, status=503, operation=SET_ON_HAND)
    client.force_login(manager_user)
    response = client.post(f"/storefronts/{shopify.name}/batches/{batch.pk}/release/",
                           {"release-reason": "go"})  # fmt: skip
    assert response.status_code == 302
    assert "could not be reached" in _messages(response)[0]
    batch.refresh_from_db()
    assert batch.status == Status.HELD
    assert shopify.fake.on_hand("TEE-00") == 5


def test_batch_cancel_sends_nothing_and_returns_the_storefront_to_observe(
    client, manager_user, shopify, shelf
):
    batch = hold_a_bad_day(shopify, shelf)
    calls = len(shopify.fake.operations(SET_ON_HAND))
    client.force_login(manager_user)
    url = f"/storefronts/{shopify.name}/batches/{batch.pk}/cancel/"
    assert client.post(url, {"cancel-reason": ""}).status_code == 400
    response = client.post(url, {"cancel-reason": "a bad import zeroed them"})
    assert "back in observe mode" in _messages(response)[0]
    assert len(shopify.fake.operations(SET_ON_HAND)) == calls
    assert shopify.fake.on_hand("TEE-00") == 5
    assert System.objects.get(pk=shopify.pk).sync_mode == System.SyncMode.OBSERVE
    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED


# --- the banner -------------------------------------------------------------------------


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    user.has_perm("inventory.view_discrepancy")  # loaded by the role, as on every page
    return request


def test_breaker_banner_costs_managers_one_query_and_staff_none(
    manager_user, staff_user, shopify, shelf, django_assert_num_queries
):
    batch = hold_a_bad_day(shopify, shelf)
    manager, staff = _request(manager_user), _request(staff_user)
    with django_assert_num_queries(1):
        held = list(breaker(manager)["held_batches"])
        assert held == [batch] and held[0].storefront.name == "shopify-1"
    with django_assert_num_queries(0):
        assert list(breaker(staff)["held_batches"]) == []


def test_breaker_banner_shows_on_manager_pages_and_not_on_staff_pages(
    client, manager_user, staff_user, shopify, shelf
):
    batch = hold_a_bad_day(shopify, shelf)
    client.force_login(manager_user)
    for url in ("/", "/dashboard/", "/skus/"):
        body = client.get(url).content.decode()
        assert 'data-testid="breaker-banner"' in body and batch.reason in body, url
        assert f"/storefronts/shopify-1/batches/{batch.pk}/" in body
    client.force_login(staff_user)
    assert 'data-testid="breaker-banner"' not in client.get("/").content.decode()


# --- the admin --------------------------------------------------------------------------


def _switch(client, system, data):
    url = reverse("admin:inventory_system_changelist")
    return client.post(url, {"action": "switch_sync_mode", "_selected_action": [system.pk],
                             **data})  # fmt: skip


def test_admin_switch_sync_mode_needs_a_reason(client, admin_user, storefront):
    client.force_login(admin_user)
    response = _switch(client, storefront, {"apply": "1", "mode": "observe", "reason": ""})
    assert response.status_code == 200
    assert "needs a reason" in response.content.decode()
    assert System.objects.get(pk=storefront.pk).sync_mode == System.SyncMode.LIVE
    assert not SyncModeChange.objects.exists()


def test_admin_switch_sync_mode_with_a_reason_is_audited(client, admin_user, storefront, shelf):
    client.force_login(admin_user)
    assert "Switch sync mode" in _switch(client, storefront, {}).content.decode()  # the form
    data = {"apply": "1", "mode": "observe", "reason": "new shop, not counted"}
    response = _switch(client, storefront, data)
    assert response.status_code == 302
    change = SyncModeChange.objects.get()
    assert (change.system, change.before, change.after, change.changed_by) == (
        storefront, "live", "observe", admin_user,
    )  # fmt: skip
    _switch(client, shelf, {"apply": "1", "mode": "live", "reason": "why not"})
    assert System.objects.get(pk=shelf.pk).sync_mode == System.SyncMode.OBSERVE  # not a storefront
    assert SyncModeChange.objects.count() == 1


def test_admin_system_page_shows_mode_changes_by_user_migration_or_system(
    client, admin_user, storefront
):
    SyncModeChange.objects.create(system=storefront, before="observe", after="live",
                                  reason="Migration: the shelf already had history")  # fmt: skip
    SyncModeChange.objects.create(system=storefront, before="live", after="observe",
                                  reason="Held corrections cancelled")  # fmt: skip
    _observe(storefront)
    storefront_mode_set(storefront=storefront, mode="live", reason="counted", actor=admin_user)
    client.force_login(admin_user)
    body = client.get(reverse("admin:inventory_system_change", args=[storefront.pk]))
    body = body.content.decode()
    cells = [re.sub(r"<[^>]+>", "", cell.split("</td>")[0]).split(">", 1)[1].strip()
             for cell in body.split('class="field-changed_by_label"')[1:]]  # fmt: skip
    assert cells == [
        "admin-t", "system", "migration",
    ]  # fmt: skip
    assert "None" not in "".join(cells)
    for model in ("correctionbatch", "shelfevidence", "syncmodechange"):
        assert client.get(reverse(f"admin:inventory_{model}_changelist")).status_code == 200
