"""An order the shelf cannot cover is caught when it arrives, not at the next reconciliation.

The opening story, on the demo storefront: the shelf holds 2 in A-01, someone edits the
storefront to 4 by hand, a customer orders 3. The order names itself, the SKU, the units
short, the bin to count and the storefront's number, opens the count, and shows at the top
of the dashboard and of the SKU's page.
"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from driftwalks.models import CountTask, TaskTrigger
from inventory.models import (
    Commitment,
    Discrepancy,
    Fact,
    InboxEvent,
    Ownership,
    StockMovement,
    SyncState,
    System,
)
from inventory.selectors import availability_for_sku, ledger_mismatches, sku_is_known
from inventory.selectors.dashboard import ORDERS_AT_RISK_SHOWN
from inventory.services import (
    inbox_process,
    inbox_record,
    on_hand_adjust,
    orders_at_risk_check,
    ownership_change,
    shelf_evidence_record,
    storefront_mode_set,
    storefront_push,
    storefront_reconcile,
)
from inventory.storefront.demo.services import (
    demo_order_place,
    demo_storefront_drift,
    demo_storefront_seed,
)
from inventory.storefront.saleor import SaleorAdapter
from tests.factories import BinFactory, SkuFactory
from tests.storefront.fakes import (
    FakeSaleor,
    saleor_order_payload,
    shopify_inventory_level_payload,
    shopify_order_payload,
    shopify_webhook,
)

Kind = StockMovement.Kind
AT_RISK = Discrepancy.Kind.ORDERS_AT_RISK


@pytest.fixture(autouse=True)
def _ledger_clean(db):
    yield
    assert ledger_mismatches() == []


def _receive(sku, bin, quantity, shelf, ref):
    on_hand_adjust(bin=bin, sku=sku, delta=quantity, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id=ref)  # fmt: skip


def _process_all():
    pending = InboxEvent.objects.filter(status="pending").order_by("id")
    for pk in pending.values_list("pk", flat=True):
        inbox_process(pk=pk)


def _hhmm(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


def _deliver(client, shopify, topic, payload, **kw):
    body, headers = shopify_webhook(topic, payload, secret=shopify.fake.webhook_secret, **kw)
    return client.post(
        f"/webhooks/{shopify.name}/", body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


def _truth_moment_order(shopify, admin_user) -> None:
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=[shopify],
                     truth_moment="order", reason="ship on order", actor=admin_user)  # fmt: skip


@pytest.fixture
def counted(shelf):
    """SKU-0560: 2 in A-01, counted (the shelf's number is known)."""
    sku = SkuFactory(code="SKU-0560", title="Enamel mug")
    _receive(sku, BinFactory(code="A-01", walk_order=1), 2, shelf, "open-1")
    shelf_evidence_record(skus=[sku], kind="count", reference="opening count")
    return sku


@pytest.fixture
def demo(storefront, counted, django_capture_on_commit_callbacks):
    """The demo storefront holds the shelf's 2 of SKU-0560; inbox events wait to be processed
    (``_process_all``), as they would for a worker."""
    demo_storefront_seed()
    with django_capture_on_commit_callbacks(execute=False):
        yield storefront


@pytest.fixture
def mug(shopify, shelf):
    """MUG-1: 2 in A-01, counted, and 2 in the fake shop."""
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 2)])
    _receive(sku, BinFactory(code="A-01", walk_order=1), 2, shelf, "s1")
    shelf_evidence_record(skus=[sku], kind="count", reference="opening count")
    return sku


def test_order_risk_demo_story_names_the_order_the_bin_and_the_hand_edit(
    client, manager_user, demo, counted
):
    storefront_mode_set(storefront=demo, mode=System.SyncMode.OBSERVE, reason="adopting",
                        actor=manager_user)  # fmt: skip
    demo_storefront_drift(sku_code="SKU-0560", quantity=4)  # a hand edit: no event at all
    storefront_reconcile(storefront=demo)  # … until a reconciliation reads the storefront
    gap = Discrepancy.objects.get(kind=Discrepancy.Kind.STOREFRONT_GAP, sku=counted)
    assert gap.consumer_value == 4 and gap.status == "open"

    order = demo_order_place(lines=[("SKU-0560", 3)], customer_name="Ada")
    _process_all()

    risk = Discrepancy.objects.get(kind=AT_RISK)
    assert risk.detail == (
        f"order {order.number} wants 3 of SKU-0560; the shelf holds 2 in A-01; "
        f"the storefront showed 4 after a hand edit at {_hhmm(gap.created_at)}; "
        "1 short: count A-01 or contact the customer"
    )
    assert (risk.reference, risk.consumer, risk.fact) == ("D-1001", demo, Fact.ORDER)
    assert (risk.owner_value, risk.consumer_value, risk.units) == (2, 3, 1)
    assert risk.count_requested_at is not None
    task = CountTask.objects.get(sku=counted, status__in=CountTask.ACTIVE)
    assert task.bin.code == "A-01"
    assert TaskTrigger.objects.filter(task=task, discrepancy=risk).exists()

    client.force_login(manager_user)
    dashboard = client.get(reverse("inventory:dashboard")).content.decode()
    block = dashboard[dashboard.index('data-testid="orders-at-risk"') :]
    assert block.index(risk.detail) < block.index('data-testid="figures"')  # above the figures
    assert reverse("inventory:sku-detail", args=["SKU-0560"]) in block.split("</section>")[0]
    assert reverse("driftwalks:task-detail", args=[task.pk]) in block.split("</section>")[0]
    page = client.get(reverse("inventory:sku-detail", args=["SKU-0560"])).content.decode()
    assert 'data-testid="orders-at-risk"' in page and risk.detail in page


def test_order_risk_without_word_from_the_storefront_says_what_onefact_last_told_it(demo, counted):
    storefront_push(storefront=demo)  # the storefront is told the shelf's 2
    demo_storefront_drift(sku_code="SKU-0560", quantity=4)  # unseen: no event, no reconcile
    order = demo_order_place(lines=[("SKU-0560", 3)])
    told = demo.sync_states.get(sku=counted)
    assert told.pushed_value == 2
    _process_all()
    risk = Discrepancy.objects.get(kind=AT_RISK)
    assert risk.detail == (
        f"order {order.number} wants 3 of SKU-0560; the shelf holds 2 in A-01; "
        f"OneFact last told the storefront 2 at {_hhmm(told.pushed_at)}; "
        "1 short: count A-01 or contact the customer"
    )


def test_order_risk_shopify_order_names_the_edit_the_shop_announced(client, shopify, mug):
    item = shopify.fake.variant("MUG-1").inventory_item_gid.rsplit("/", 1)[1]
    shopify.fake.set_on_hand("MUG-1", 4)  # edited by hand in the shop admin, announced
    _deliver(client, shopify, "inventory_levels/update",
             shopify_inventory_level_payload(int(item), 1, 4))  # fmt: skip
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 3)]))
    _process_all()
    edit = Discrepancy.objects.get(kind=Discrepancy.Kind.NON_OWNER_WRITE)
    risk = Discrepancy.objects.get(kind=AT_RISK)
    order_ref = Commitment.objects.get().order_ref
    assert risk.detail == (
        f"order {order_ref} wants 3 of MUG-1; the shelf holds 2 in A-01; "
        f"the storefront showed 4 after a hand edit at {_hhmm(edit.created_at)}; "
        "1 short: count A-01 or contact the customer"
    )
    assert (risk.reference, risk.consumer) == (order_ref, shopify)
    assert CountTask.objects.get(sku=mug).bin.code == "A-01"


def test_order_risk_saleor_order_without_a_number_from_the_storefront_says_so(shelf, admin_user):
    with FakeSaleor() as fake:
        fake.add_product("Mug", [("MUG-1", 2)])
        payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 3)])
        with SaleorAdapter(api_url=fake.api_url, token=fake.token,
                           warehouse_id=fake.warehouse_id, timeout=2.0) as adapter:  # fmt: skip
            events = adapter.parse_events(*fake.webhook("ORDER_CREATED", payload))
    saleor = System.objects.create(name="saleor-1", kind=System.Kind.STOREFRONT,
                                   sync_mode=System.SyncMode.LIVE, adapter="saleor")  # fmt: skip
    orders = Ownership.objects.get(fact=Fact.ORDER)
    ownership_change(ownership=orders, owner=saleor, consumers=[], reason="orders from Saleor",
                     actor=admin_user)  # fmt: skip
    sku = SkuFactory(code="MUG-1")
    _receive(sku, BinFactory(code="A-01"), 2, shelf, "s1")
    shelf_evidence_record(skus=[sku], kind="count", reference="opening count")
    inbox_record(system=saleor, events=events)
    _process_all()
    risk = Discrepancy.objects.get(kind=AT_RISK)
    assert risk.detail == (
        f"order {events[0].order_ref} wants 3 of MUG-1; the shelf holds 2 in A-01; "
        "OneFact holds no number from the storefront for it; "
        "1 short: count A-01 or contact the customer"
    )
    assert risk.consumer == saleor


def test_order_risk_replayed_or_repeated_event_records_one_row(client, shopify, mug):
    payload = shopify_order_payload(1001, [(11, "MUG-1", 3)])
    _deliver(client, shopify, "orders/create", payload, webhook_id="wh-1")
    _deliver(client, shopify, "orders/create", payload, webhook_id="wh-1")  # a replay
    _deliver(client, shopify, "orders/create", payload, webhook_id="wh-2")  # a redelivery
    _process_all()
    assert InboxEvent.objects.count() == 2
    assert Discrepancy.objects.filter(kind=AT_RISK).count() == 1
    assert CountTask.objects.filter(sku=mug).count() == 1
    assert TaskTrigger.objects.filter(discrepancy__kind=AT_RISK).count() == 1


def test_order_risk_order_the_shelf_covers_records_nothing(client, shopify, mug):
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 2)]))
    _process_all()
    assert availability_for_sku(sku=mug).available == 0
    assert not Discrepancy.objects.filter(kind=AT_RISK).exists()
    assert not CountTask.objects.exists()


def test_order_risk_is_not_claimed_for_a_sku_the_shelf_has_not_counted(client, shopify, shelf):
    sku = SkuFactory(code="NEW-1")
    shopify.fake.add_product("New", [("NEW-1", 5)])
    SyncState.objects.create(storefront=shopify, sku=sku, pushed_value=5)  # seen holding 5
    _receive(sku, BinFactory(code="A-01"), 2, shelf, "r1")  # other units may sit elsewhere
    assert not sku_is_known(sku=sku)
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "NEW-1", 3)]))
    _process_all()
    assert Commitment.objects.get().quantity == 3
    assert not Discrepancy.objects.filter(kind=AT_RISK).exists()
    assert not CountTask.objects.exists()


def test_order_risk_counts_the_other_open_orders(client, shopify, mug, shelf):
    _receive(mug, BinFactory(code="B-02", walk_order=2), 2, shelf, "s2")  # 4 in all
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 2)]))
    _deliver(client, shopify, "orders/create", shopify_order_payload(1002, [(12, "MUG-1", 3)]))
    _process_all()
    risk = Discrepancy.objects.get(kind=AT_RISK)
    second = Commitment.objects.get(line_ref="12").order_ref
    assert risk.reference == second
    assert risk.detail.startswith(
        f"order {second} wants 3 of MUG-1; the shelf holds 4 in A-01 (2), B-02 (2), "
        "2 of them promised to other open orders; "
    )
    assert risk.detail.endswith("; 1 short: count A-01, B-02 or contact the customer")
    assert set(CountTask.objects.values_list("bin__code", flat=True)) == {"A-01", "B-02"}


def test_order_risk_truth_moment_order_records_the_pick_the_shelf_could_not_make(
    client, shopify, mug, admin_user
):
    _truth_moment_order(shopify, admin_user)
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 3)]))
    _process_all()
    assert not StockMovement.objects.filter(kind=Kind.SHIP).exists()  # refused: all or nothing
    risk = Discrepancy.objects.get(kind=AT_RISK)
    assert risk.fact == Fact.ON_HAND
    assert " wants 3 of MUG-1; the shelf holds 2 in A-01; " in risk.detail
    assert risk.detail.endswith("; 1 short: count A-01 or contact the customer")
    assert not Discrepancy.objects.filter(kind=Discrepancy.Kind.SHORT_FULFILMENT).exists()
    assert orders_at_risk_check() == 0  # no commitment to cover: only the count resolves it
    assert Discrepancy.objects.get(pk=risk.pk).status == "open"
    assert CountTask.objects.get(sku=mug).bin.code == "A-01"


def test_order_risk_truth_moment_order_covered_ships_and_records_nothing(
    client, shopify, mug, admin_user
):
    _truth_moment_order(shopify, admin_user)
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 2)]))
    _process_all()
    assert availability_for_sku(sku=mug).on_hand == 0
    assert not Discrepancy.objects.filter(kind=AT_RISK).exists()


def test_orders_at_risk_check_adds_no_second_row_and_resolves_once_covered(
    client, shopify, mug, shelf
):
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 3)]))
    _process_all()
    risk = Discrepancy.objects.get(kind=AT_RISK)
    assert orders_at_risk_check() == 0  # the order's own row already flags the SKU
    assert Discrepancy.objects.filter(kind=AT_RISK).count() == 1
    _receive(mug, BinFactory(code="B-02"), 1, shelf, "found-1")  # the shelf catches up
    orders_at_risk_check()
    risk.refresh_from_db()
    assert (risk.status, risk.resolution) == ("resolved", "correction")


def test_orders_at_risk_block_runs_a_fixed_number_of_queries(client, manager_user, shelf,
                                                             storefront):  # fmt: skip
    sku = SkuFactory(code="SKU-9")
    client.force_login(manager_user)
    counts = []
    for n in (2, 40):
        Discrepancy.objects.bulk_create([
            Discrepancy(kind=AT_RISK, fact=Fact.ORDER, sku=sku, owner=shelf, consumer=storefront,
                        owner_value=0, consumer_value=1, winner=shelf, reference=f"D-{n}-{i}",
                        detail=f"order D-{n}-{i} wants 1 of SKU-9") for i in range(n)
        ])  # fmt: skip
        with CaptureQueriesContext(connection) as dashboard:
            page = client.get(reverse("inventory:dashboard")).content.decode()
        assert page.count('data-testid="risk-sentence"') == min(n, ORDERS_AT_RISK_SHOWN)
        with CaptureQueriesContext(connection) as sku_page:
            page = client.get(reverse("inventory:sku-detail", args=["SKU-9"])).content.decode()
        assert f"order D-{n}-{n - 1} wants 1 of SKU-9" in page
        counts.append((len(dashboard), len(sku_page)))
    assert counts[0] == counts[1], counts


@pytest.mark.django_db(transaction=True)
def test_order_risk_shows_at_the_top_of_the_dashboard_in_a_browser(live_server, page, shelf):
    """A manager sees the order above the figures and follows it to the count task."""
    from inventory.roles import MANAGERS
    from inventory.services.orders import order_placed
    from inventory.storefront.base import EventLine, EventType, InboundEvent
    from tests.browser.conftest import log_in
    from tests.factories import UserFactory

    storefront = System.objects.get(name="storefront")
    sku = SkuFactory(code="SKU-0560", title="Enamel mug")
    _receive(sku, BinFactory(code="A-01", walk_order=1), 2, shelf, "open-1")
    shelf_evidence_record(skus=[sku], kind="count", reference="opening count")
    order_placed(system=storefront, event=InboundEvent(
        event_id="D-1001:placed", type=EventType.ORDER_PLACED, occurred_at=timezone.now(),
        order_ref="D-1001", lines=[EventLine(sku="SKU-0560", quantity=3, line_ref="1")],
    ))  # fmt: skip
    task = CountTask.objects.get(sku=sku)
    UserFactory(username="manager-b", group=MANAGERS)

    log_in(page, live_server, "manager-b", "pw-for-tests-only")
    page.goto(f"{live_server.url}{reverse('inventory:dashboard')}")
    block = page.get_by_test_id("orders-at-risk")
    assert (
        block.get_by_test_id("risk-sentence")
        .inner_text()
        .startswith("order D-1001 wants 3 of SKU-0560; the shelf holds 2 in A-01; ")
    )
    figures = page.get_by_test_id("figures").bounding_box()
    assert block.bounding_box()["y"] < figures["y"]
    block.get_by_role("link", name=f"count task {task.pk} for bin A-01", exact=False).click()
    page.wait_for_url(f"**{reverse('driftwalks:task-detail', args=[task.pk])}")


def test_the_open_orders_at_risk_are_read_off_their_own_index_not_every_open_row(
    postgres, shelf, storefront
):
    """The block atop the dashboard reads the open orders at risk (a handful) without walking
    the entries of every open discrepancy (tens of thousands on a big catalog)."""
    sku, bin = SkuFactory(), BinFactory()
    Discrepancy.objects.bulk_create([
        Discrepancy(kind="storefront_gap", fact="on_hand", sku=sku, bin=bin, owner=shelf,
                    consumer=storefront, owner_value=1, consumer_value=2, winner=shelf,
                    detail="x") for _ in range(5_000)
    ])  # fmt: skip
    Discrepancy.objects.create(kind=AT_RISK, fact="on_hand", sku=sku, bin=bin, owner=shelf,
                               owner_value=1, consumer_value=3, detail="3 wanted")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_discrepancy")
    from inventory.selectors import orders_at_risk_open

    with CaptureQueriesContext(connection) as captured:
        assert [d.kind for d, _ in orders_at_risk_open()] == [AT_RISK]
    sql = next(q["sql"] for q in captured.captured_queries if "orders_at_risk" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    assert "inventory_disc_open_risk_idx" in json.dumps(plan)
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 20
