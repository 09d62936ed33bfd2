"""The built-in demo storefront: its adapter, its own actions and its page."""

import dataclasses
import re
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.urls import reverse

from inventory.models import Commitment, InboxEvent, StockMovement
from inventory.selectors import available_for_sku
from inventory.services import on_hand_adjust
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    CatalogItem,
    EventLine,
    EventType,
    InboundEvent,
    LevelWrite,
    Mirrors,
    StorefrontValidationError,
    WebhookSignatureInvalid,
    WriteStatus,
)
from inventory.storefront.demo import adapter as demo_module
from inventory.storefront.demo import views as demo_views
from inventory.storefront.demo.adapter import DemoAdapter, demo_sign, demo_webhook_body
from inventory.storefront.demo.models import DemoLevel, DemoOrder
from inventory.storefront.demo.services import (
    DemoStorefrontError,
    demo_order_cancel,
    demo_order_fulfil,
    demo_order_place,
    demo_return_open,
    demo_storefront_drift,
    demo_storefront_seed,
)
from tests.factories import BinFactory, CommitmentFactory, SkuFactory

SECRET = "test-secret"
HTMX = {"HTTP_HX_REQUEST": "true"}
Kind = StockMovement.Kind
URL = "/demo-storefront/"


def level(code: str, quantity: int, **fields) -> DemoLevel:
    return DemoLevel.objects.create(
        sku_code=code, title=f"Item {code}", quantity=quantity, **fields
    )


def write(sku: str, quantity: int, expected: int | None = None) -> LevelWrite:
    return LevelWrite(
        sku=sku,
        quantity=quantity,
        expected=expected,
        idempotency_key=f"k-{sku}-{quantity}",
        reason="movement",
        ledger_ref="onefact://test",
    )


def quantity_of(code: str) -> int:
    return DemoLevel.objects.get(sku_code=code).quantity


@pytest.fixture
def adapter() -> DemoAdapter:
    return DemoAdapter(webhook_secret=SECRET)


@pytest.fixture
def demo_level(db) -> DemoLevel:
    return level("SKU-1", 5)


@pytest.fixture
def no_processing(django_capture_on_commit_callbacks):
    """Store inbox events but don't run their processing (the callbacks are only captured)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


# --- the adapter -------------------------------------------------------------------------


def test_demo_adapter_is_the_seeded_storefronts_and_mirrors_available(storefront):
    adapter = adapter_for(storefront)
    assert isinstance(adapter, DemoAdapter)
    caps = adapter.capabilities
    assert (caps.compare_and_set, caps.idempotency_keys, caps.max_batch) == (True, False, 500)
    assert caps.mirrors == Mirrors.AVAILABLE


def test_demo_adapter_set_levels_compares_and_sets(adapter, demo_level):
    level("SKU-2", 3)
    results = adapter.set_levels(
        [
            write("SKU-1", 7, expected=5),  # what we believe: applied
            write("SKU-2", 9, expected=4),  # it holds 3: stale, nothing written
            write("SKU-404", 1),
            write("SKU-2", -1),
        ]
    )
    assert [r.status for r in results] == [
        WriteStatus.APPLIED,
        WriteStatus.STALE,
        WriteStatus.NOT_FOUND,
        WriteStatus.REJECTED,
    ]
    assert results[1].actual == 3
    assert (quantity_of("SKU-1"), quantity_of("SKU-2")) == (7, 3)


def test_demo_adapter_set_levels_without_expected_overwrites(adapter, demo_level):
    [result] = adapter.set_levels([write("SKU-1", 0)])
    assert result.status == WriteStatus.APPLIED
    assert quantity_of("SKU-1") == 0


def test_demo_adapter_set_levels_refuses_more_than_max_batch(adapter, demo_level):
    with pytest.raises(StorefrontValidationError):
        adapter.set_levels([write("SKU-1", n) for n in range(501)])
    assert quantity_of("SKU-1") == 5


def test_demo_adapter_read_levels_pages_by_sku_code(adapter, db, monkeypatch):
    monkeypatch.setattr(demo_module, "PAGE_SIZE", 2)
    for n in (5, 1, 4, 2, 3):
        level(f"SKU-{n}", n)
    seen, cursor, pages = [], None, 0
    while True:
        page = adapter.read_levels(None, cursor)
        seen += [(x.sku, x.quantity) for x in page.items]
        pages += 1
        if not (cursor := page.next_cursor):
            break
    assert seen == [(f"SKU-{n}", n) for n in range(1, 6)]
    assert pages == 3
    only = adapter.read_levels(["SKU-4", "SKU-2", "SKU-404"])
    assert [x.sku for x in only.items] == ["SKU-2", "SKU-4"] and only.next_cursor is None
    assert adapter.read_levels([]).items == []


def test_demo_adapter_read_catalog_pages(adapter, db, monkeypatch):
    monkeypatch.setattr(demo_module, "PAGE_SIZE", 1)
    level("SKU-1", 1)
    level("SKU-2", 1, active=False)
    first = adapter.read_catalog()
    second = adapter.read_catalog(first.next_cursor)
    assert first.items == [CatalogItem(sku="SKU-1", title="Item SKU-1", active=True)]
    assert second.items == [CatalogItem(sku="SKU-2", title="Item SKU-2", active=False)]
    assert second.next_cursor is None


def test_demo_adapter_verify_webhook_accepts_a_good_signature(adapter):
    body = b'{"id": "D-1001:placed"}'
    adapter.verify_webhook(body, {"X-Demo-Hmac-Sha256": demo_sign(body, SECRET)})
    adapter.verify_webhook(body, {"x-demo-hmac-sha256": demo_sign(body, SECRET)})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Demo-Hmac-Sha256": ""},
        {"X-Demo-Hmac-Sha256": "bm90IGl0"},
        {"X-Demo-Hmac-Sha256": demo_sign(b"another body", SECRET)},
        {"X-Demo-Hmac-Sha256": demo_sign(b'{"id": "x"}', "wrong-secret")},
    ],
)
def test_demo_adapter_verify_webhook_refuses_missing_or_bad_signatures(adapter, headers):
    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(b'{"id": "x"}', headers)


def test_demo_adapter_parse_events_round_trips_demo_webhook_body(adapter):
    event = InboundEvent(
        event_id="D-1001:placed",
        type=EventType.ORDER_PLACED,
        occurred_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        order_ref="D-1001",
        customer_name="Ada",
        lines=[EventLine(sku="SKU-1", quantity=2, line_ref="1")],
    )
    body = demo_webhook_body(event)
    adapter.verify_webhook(body, {"X-Demo-Hmac-Sha256": demo_sign(body, SECRET)})
    [parsed] = adapter.parse_events(body, {})
    assert dataclasses.replace(parsed, payload={}) == event
    assert parsed.payload["order"] == "D-1001"


def test_demo_adapter_parse_events_reads_inventory_and_ignores_unknown_types(adapter):
    changed = b'{"id": "e1", "type": "inventory_changed", "lines": [{"sku": "SKU-1", '
    changed += b'"quantity": 4}], "quantity": 4, "occurred_at": null}'
    [event] = adapter.parse_events(changed, {})
    assert (event.type, event.quantity, event.lines[0].sku) == (
        EventType.INVENTORY_CHANGED,
        4,
        "SKU-1",
    )
    assert adapter.parse_events(b'{"id": "e2", "type": "price_changed"}', {}) == []
    with pytest.raises(StorefrontValidationError):
        adapter.parse_events(b"not json", {})
    with pytest.raises(StorefrontValidationError):
        adapter.parse_events(b'{"type": "order_placed"}', {})


# --- the demo's own actions ----------------------------------------------------------------


def test_demo_storefront_seed_equals_the_shelfs_available_and_is_idempotent(
    stocked_bin, sku, storefront
):
    CommitmentFactory(sku=sku, quantity=3)
    empty = SkuFactory(code="SKU-2")
    SkuFactory(code="SKU-3", active=False)
    level("SKU-9", 1)  # already in the demo: left alone
    assert demo_storefront_seed() == 2
    assert quantity_of("SKU-1") == available_for_sku(sku=sku) == 7
    assert quantity_of("SKU-2") == available_for_sku(sku=empty) == 0
    assert not DemoLevel.objects.filter(sku_code="SKU-3").exists()
    assert DemoLevel.objects.get(sku_code="SKU-1").title == "Blue mug"
    assert demo_storefront_seed() == 0
    assert DemoLevel.objects.count() == 3


def test_demo_storefront_seed_runs_a_fixed_number_of_queries(db, django_assert_num_queries):
    SkuFactory.create_batch(40)
    with django_assert_num_queries(4):  # savepoint, select, insert, release
        assert demo_storefront_seed() == 40


def test_demo_storefront_drift_changes_the_number_silently(demo_level):
    assert demo_storefront_drift(sku_code="SKU-1", quantity=2).quantity == 2
    assert quantity_of("SKU-1") == 2
    assert not InboxEvent.objects.exists()


@pytest.mark.parametrize(("code", "quantity"), [("SKU-1", -1), ("SKU-404", 3), ("SKU-1", 2.5)])
def test_demo_storefront_drift_refuses_bad_input(demo_level, code, quantity):
    with pytest.raises(DemoStorefrontError):
        demo_storefront_drift(sku_code=code, quantity=quantity)
    assert quantity_of("SKU-1") == 5


def test_demo_order_place_decrements_and_delivers_one_event(
    demo_level, storefront, django_capture_on_commit_callbacks
):
    level("SKU-2", 4)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = demo_order_place(
            lines=[("SKU-1", 2), ("SKU-2", 1), ("SKU-1", 1)], customer_name="Ada"
        )
    assert len(callbacks) == 1  # processing is scheduled after commit, not run here
    assert order.number == "D-1001"
    assert order.status == DemoOrder.Status.PLACED
    assert order.lines == [{"sku": "SKU-1", "quantity": 3}, {"sku": "SKU-2", "quantity": 1}]
    assert (quantity_of("SKU-1"), quantity_of("SKU-2")) == (2, 3)
    [row] = InboxEvent.objects.filter(system=storefront)
    assert (row.event_id, row.type, row.status) == ("D-1001:placed", "order_placed", "pending")
    assert row.payload["order_ref"] == "D-1001"
    assert row.payload["customer_name"] == "Ada"
    assert [(x["sku"], x["quantity"]) for x in row.payload["lines"]] == [("SKU-1", 3), ("SKU-2", 1)]
    with django_capture_on_commit_callbacks(execute=False):
        assert demo_order_place(lines=[("SKU-2", 1)]).number == "D-1002"


@pytest.mark.parametrize(
    "lines",
    [[("SKU-1", 6)], [("SKU-1", 3), ("SKU-1", 3)], [("SKU-404", 1)], [("SKU-1", 0)], []],
)
def test_demo_order_place_refuses_what_the_demo_lacks(demo_level, no_processing, lines):
    with pytest.raises(DemoStorefrontError):
        demo_order_place(lines=lines)
    assert quantity_of("SKU-1") == 5
    assert not DemoOrder.objects.exists() and not InboxEvent.objects.exists()


def test_demo_order_place_refuses_an_inactive_sku(db, no_processing):
    level("SKU-1", 5, active=False)
    with pytest.raises(DemoStorefrontError, match="does not sell"):
        demo_order_place(lines=[("SKU-1", 1)])


def test_demo_order_cancel_gives_the_units_back_once(demo_level, storefront, no_processing):
    order = demo_order_place(lines=[("SKU-1", 2)])
    demo_order_cancel(order=order)
    assert quantity_of("SKU-1") == 5
    order.refresh_from_db()
    assert order.status == DemoOrder.Status.CANCELLED
    demo_order_cancel(order=order)  # a double submission changes nothing
    assert quantity_of("SKU-1") == 5
    ids = list(InboxEvent.objects.order_by("id").values_list("event_id", flat=True))
    assert ids == ["D-1001:placed", "D-1001:cancelled"]
    with pytest.raises(DemoStorefrontError, match="cannot be fulfilled"):
        demo_order_fulfil(order=order)


def test_demo_order_fulfil_leaves_the_number_alone(demo_level, no_processing):
    order = demo_order_place(lines=[("SKU-1", 2)])
    demo_order_fulfil(order=order)
    demo_order_fulfil(order=order)  # a double submission changes nothing
    order.refresh_from_db()
    assert order.status == DemoOrder.Status.FULFILLED
    assert quantity_of("SKU-1") == 3
    assert InboxEvent.objects.filter(event_id="D-1001:fulfilled", type="order_fulfilled").count()
    assert InboxEvent.objects.count() == 2
    with pytest.raises(DemoStorefrontError, match="cannot be cancelled"):
        demo_order_cancel(order=order)
    assert quantity_of("SKU-1") == 3


def test_demo_return_open_delivers_return_opened_for_a_fulfilled_order(demo_level, no_processing):
    order = demo_order_place(lines=[("SKU-1", 2)], customer_name="Ada")
    with pytest.raises(DemoStorefrontError, match="only a fulfilled order"):
        demo_return_open(order=order)
    demo_order_fulfil(order=order)
    demo_return_open(order=order)
    demo_return_open(order=order)  # the same return again: nothing new
    row = InboxEvent.objects.get(event_id="D-1001:return-opened")
    assert row.type == "return_opened"
    assert (row.payload["return_ref"], row.payload["order_ref"]) == ("R-D-1001", "D-1001")
    assert row.payload["customer_name"] == "Ada"
    assert row.payload["lines"] == [
        {"sku": "SKU-1", "quantity": 2, "line_ref": "1", "reason": "customer return"}
    ]
    assert InboxEvent.objects.count() == 3
    assert quantity_of("SKU-1") == 3


def test_demo_return_open_refuses_more_than_was_ordered(demo_level, no_processing):
    order = demo_order_place(lines=[("SKU-1", 2)])
    demo_order_fulfil(order=order)
    with pytest.raises(DemoStorefrontError, match="cannot be returned"):
        demo_return_open(order=order, lines=[("SKU-1", 3, "too big")])
    assert not InboxEvent.objects.filter(type="return_opened").exists()


def test_demo_order_reaches_the_shelf_as_a_commitment(stocked_bin, sku, storefront):
    """The whole loop: the demo's order event, processed, commits shelf stock."""
    demo_storefront_seed()
    from inventory.tasks import process_inbox_task

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("inventory.services.inbound._enqueue", lambda task, pks: None)
        order = demo_order_place(lines=[("SKU-1", 4)])
    process_inbox_task([InboxEvent.objects.get(event_id="D-1001:placed").pk])
    commitment = Commitment.objects.get(order_ref=order.number)
    assert (commitment.sku, commitment.quantity, commitment.status) == (sku, 4, "open")
    assert quantity_of("SKU-1") == available_for_sku(sku=sku) == 6


@pytest.mark.django_db(transaction=True)
def test_demo_order_place_never_oversells_under_concurrency(postgres, monkeypatch):
    """Ten shoppers, five units: five orders, numbered in turn, and the number at zero."""
    monkeypatch.setattr("inventory.services.inbound._enqueue", lambda pks: None)
    level("SKU-1", 5)
    barrier = threading.Barrier(10)
    results: list = [None] * 10

    def shop(i: int) -> None:
        try:
            barrier.wait()
            results[i] = demo_order_place(lines=[("SKU-1", 1)])
        except Exception as error:  # noqa: BLE001 - each outcome is inspected below
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=shop, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(isinstance(r, DemoOrder) for r in results) == 5
    assert sum(isinstance(r, DemoStorefrontError) for r in results) == 5, results
    assert quantity_of("SKU-1") == 0
    numbers = sorted(DemoOrder.objects.values_list("number", flat=True))
    assert numbers == [f"D-{n}" for n in range(1001, 1006)]
    assert InboxEvent.objects.filter(type="order_placed").count() == 5


# --- the page ------------------------------------------------------------------------------


def test_demo_storefront_page_is_for_managers_and_admins(
    client, staff_user, manager_user, admin_user, demo_level
):
    client.force_login(staff_user)
    assert client.get(URL).status_code == 403
    assert (
        client.post(reverse("demo:level-set"), {"sku": "SKU-1", "quantity": 1}).status_code == 403
    )
    assert quantity_of("SKU-1") == 5
    for user in (manager_user, admin_user):
        client.force_login(user)
        response = client.get(URL)
        assert response.status_code == 200
        assert b'data-testid="demo-table"' in response.content
    assert reverse("demo:storefront").encode() in client.get("/").content


def test_demo_storefront_page_shows_the_demos_number_beside_the_shelfs(
    client, manager_user, stocked_bin, sku
):
    CommitmentFactory(sku=sku, quantity=3)
    level("SKU-1", 9)
    level("SKU-X", 2)  # not on the shelf
    client.force_login(manager_user)
    html = client.get(URL).content.decode()
    assert 'data-testid="demo-quantity">9<' in html
    assert 'data-testid="shelf-available">7<' in html
    assert "+2" in html and "not on the shelf" in html
    assert "every 1s" in html


def test_demo_storefront_page_filters_by_text_and_by_difference(client, manager_user, sku):
    level("SKU-1", 0)  # shelf available 0: in step
    level("SKU-2", 4)  # not on the shelf
    client.force_login(manager_user)
    only_gaps = client.get(URL, {"gaps": "1"}, **HTMX).content.decode()
    assert 'data-sku="SKU-2"' in only_gaps and 'data-sku="SKU-1"' not in only_gaps
    text = client.get(URL, {"q": "sku-1"}, **HTMX).content.decode()
    assert 'data-sku="SKU-1"' in text and 'data-sku="SKU-2"' not in text
    assert "<html" not in text  # the table partial only


@pytest.mark.parametrize("count", [10, 300])
@pytest.mark.parametrize("page_size", [50, 500])
def test_demo_storefront_page_runs_a_fixed_number_of_queries(
    client, manager_user, shelf, count, page_size, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(demo_views, "PAGE_SIZE", page_size)
    bin = BinFactory()
    skus = SkuFactory.create_batch(count)
    for s in skus[:5]:
        on_hand_adjust(
            bin=bin, sku=s, delta=3, kind=Kind.RECEIVE, source_system=shelf, source_event_id=s.code
        )
    demo_storefront_seed()
    for n, s in enumerate(skus[:3]):
        DemoOrder.objects.create(number=f"D-{2000 + n}", lines=[{"sku": s.code, "quantity": 1}])
    client.force_login(manager_user)
    with django_assert_max_num_queries(8):  # 7, and the breaker banner's one for managers
        response = client.get(URL)
    assert response.content.count(b"data-sku=") == min(count, page_size)
    with django_assert_max_num_queries(7):
        client.get(URL, {"page": "2"}, **HTMX)


def test_demo_level_set_changes_the_number_and_answers_with_the_row(
    client, manager_user, demo_level
):
    client.force_login(manager_user)
    response = client.post(reverse("demo:level-set"), {"sku": "SKU-1", "quantity": "2"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<tr") and 'data-testid="demo-quantity">2<' in html
    assert "HX-Trigger" not in response  # only the row changed: it is the answer
    assert quantity_of("SKU-1") == 2
    plain = client.post(reverse("demo:level-set"), {"sku": "SKU-1", "quantity": "3"})
    assert plain.status_code == 302 and quantity_of("SKU-1") == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sku": "SKU-1", "quantity": "-1"}, "greater than or equal to 0"),
        ({"sku": "SKU-1", "quantity": "many"}, "Enter a whole number"),
        ({"sku": "SKU-1", "quantity": "1000001"}, "less than or equal to 1000000"),
        ({"sku": "SKU-404", "quantity": "1"}, "has no SKU SKU-404"),
    ],
)
def test_demo_level_set_shows_bad_input_at_the_field_and_changes_nothing(
    client, manager_user, demo_level, data, message
):
    client.force_login(manager_user)
    response = client.post(reverse("demo:level-set"), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="errorlist"' in html and message in html
    assert "HX-Trigger" not in response
    assert quantity_of("SKU-1") == 5
    plain = client.post(reverse("demo:level-set"), data)
    assert plain.status_code == 200 and message in plain.content.decode()


def test_demo_order_new_places_a_one_line_order(client, manager_user, demo_level, no_processing):
    client.force_login(manager_user)
    url = reverse("demo:order-place")
    response = client.post(url, {"sku": "SKU-1", "quantity": "2"}, **HTMX)
    assert "demoOrdersChanged" in response["HX-Trigger"]
    assert 'data-testid="demo-quantity">3<' in response.content.decode()
    assert DemoOrder.objects.get().lines == [{"sku": "SKU-1", "quantity": 2}]
    short = client.post(url, {"sku": "SKU-1", "quantity": "4"}, **HTMX)
    assert "shows 3 of SKU-1; it cannot sell 4" in short.content.decode()
    assert DemoOrder.objects.count() == 1 and quantity_of("SKU-1") == 3


def test_demo_order_form_submitted_twice_places_one_order(
    client, manager_user, demo_level, no_processing
):
    client.force_login(manager_user)
    page = client.get(URL).content.decode()
    key = re.search(r'name="request_key" value="([^"]+-SKU-1)"', page).group(1)
    data = {"sku": "SKU-1", "quantity": "2", "request_key": key}
    first = client.post(reverse("demo:order-place"), data, **HTMX).content.decode()
    again = client.post(reverse("demo:order-place"), data, **HTMX).content.decode()
    number = DemoOrder.objects.get().number
    assert f"This form already placed order {number}; nothing was ordered twice." in again
    assert 'aria-invalid="true"' in again and quantity_of("SKU-1") == 3
    fresh = re.search(r'name="request_key" value="([^"]+)"', first).group(1)
    assert fresh != key  # the re-rendered row orders anew
    client.post(reverse("demo:order-place"), data | {"request_key": fresh}, **HTMX)
    assert DemoOrder.objects.count() == 2 and quantity_of("SKU-1") == 1


def test_demo_order_actions_answer_with_the_orders_list(
    client, manager_user, demo_level, no_processing
):
    order = demo_order_place(lines=[("SKU-1", 2)])
    client.force_login(manager_user)
    listing = client.get(URL, HTTP_HX_TARGET="demo-orders", **HTMX).content.decode()
    assert 'id="demo-orders"' in listing and 'id="demo-table"' not in listing
    cancel = client.post(reverse("demo:order-cancel", args=[order.number]), **HTMX)
    assert cancel.status_code == 200 and "demoLevelsChanged" in cancel["HX-Trigger"]
    assert 'data-status="cancelled"' in cancel.content.decode()
    assert quantity_of("SKU-1") == 5
    wrong = client.post(reverse("demo:order-fulfil", args=[order.number]), **HTMX)
    assert "is cancelled; it cannot be fulfilled" in wrong.content.decode()
    assert DemoOrder.objects.get().status == DemoOrder.Status.CANCELLED
    assert client.post(reverse("demo:order-return", args=["D-9999"]), **HTMX).status_code == 404


def test_demo_order_return_button_opens_a_return_once(
    client, manager_user, demo_level, no_processing
):
    order = demo_order_place(lines=[("SKU-1", 1)])
    demo_order_fulfil(order=order)
    client.force_login(manager_user)
    response = client.post(reverse("demo:order-return", args=[order.number]), **HTMX)
    assert "return R-D-1001 opened" in response.content.decode()
    assert InboxEvent.objects.filter(type="return_opened").count() == 1
