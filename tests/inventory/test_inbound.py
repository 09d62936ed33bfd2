"""Webhooks, the inbox, and the storefront's orders at the truth moment."""

import pytest

from inventory.models import (
    AuthorityConflict,
    Commitment,
    Discrepancy,
    Fact,
    InboxEvent,
    OnHand,
    Ownership,
    Sku,
    StockMovement,
)
from inventory.selectors import availability_for_sku, ledger_mismatches
from inventory.services import inbox_process, on_hand_adjust, ownership_change, storefront_push
from inventory.tasks import process_inbox_task
from tests.factories import BinFactory, SkuFactory
from tests.storefront.fakes import (
    shopify_inventory_level_payload,
    shopify_order_payload,
    shopify_product_payload,
    shopify_refund_payload,
    shopify_webhook,
)

Kind = StockMovement.Kind


@pytest.fixture
def stock(shopify, shelf):
    """MUG-1: 3 in A-01 and 5 in A-02 (walk order), known to the fake shop."""
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 8)])
    for n, qty in ((1, 3), (2, 5)):
        on_hand_adjust(bin=BinFactory(code=f"A-0{n}", walk_order=n), sku=sku, delta=qty,
                       kind=Kind.RECEIVE, source_system=shelf, source_event_id=f"s{n}")  # fmt: skip
    return sku


def _deliver(client, shopify, topic, payload, **kw):
    body, headers = shopify_webhook(topic, payload, secret=shopify.fake.webhook_secret, **kw)
    return client.post(
        f"/webhooks/{shopify.name}/", body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


def _process_all():
    pending = InboxEvent.objects.filter(status="pending").order_by("id")
    for pk in pending.values_list("pk", flat=True):
        inbox_process(pk=pk)


def _bins(sku):
    return dict(OnHand.objects.filter(sku=sku).values_list("bin__code", "quantity"))


def test_webhook_bad_signature_is_401_and_stores_nothing(client, shopify, stock):
    body, headers = shopify_webhook("orders/create", shopify_order_payload(1, [(11, "MUG-1", 1)]),
                                    secret="not-the-secret")  # fmt: skip
    response = client.post(f"/webhooks/{shopify.name}/", body, content_type="application/json",
                           headers={"X-Shopify-Hmac-Sha256": headers["X-Shopify-Hmac-Sha256"],
                                    "X-Shopify-Topic": "orders/create",
                                    "X-Shopify-Webhook-Id": "w-1"})  # fmt: skip
    assert response.status_code == 401
    assert "signature" in response.json()["detail"]
    assert not InboxEvent.objects.exists()


def test_webhook_unsigned_is_401(client, shopify):
    response = client.post(f"/webhooks/{shopify.name}/", b"{}", content_type="application/json")
    assert response.status_code == 401


def test_webhook_for_an_unknown_system_is_404(client, db):
    assert client.post("/webhooks/nope/", b"{}", content_type="application/json").status_code == 404


def test_webhook_stores_once_and_answers_quickly(
    client, shopify, stock, django_capture_on_commit_callbacks
):
    payload = shopify_order_payload(1001, [(11, "MUG-1", 2)])
    with django_capture_on_commit_callbacks() as callbacks:
        first = _deliver(client, shopify, "orders/create", payload, webhook_id="wh-1")
    again = _deliver(client, shopify, "orders/create", payload, webhook_id="wh-1")
    assert first.status_code == again.status_code == 200
    assert (first.json()["new"], again.json()["new"]) == (1, 0)
    assert InboxEvent.objects.count() == 1
    assert len(callbacks) == 1  # processing is enqueued after commit, not done inline


def test_order_placed_under_ship_is_a_commitment_not_a_movement(client, shopify, stock):
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 2)]))
    _process_all()
    assert Commitment.objects.get(order_ref="1001").quantity == 2
    availability = availability_for_sku(sku=stock)
    assert (availability.on_hand, availability.available) == (8, 6)
    assert not StockMovement.objects.filter(kind=Kind.SHIP).exists()


def test_order_fulfilled_ships_from_bins_in_walk_order_and_releases(client, shopify, stock):
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 4)]))
    _deliver(
        client,
        shopify,
        "orders/fulfilled",
        shopify_order_payload(1001, [(11, "MUG-1", 4)], fulfillment_status="fulfilled"),
    )
    _process_all()
    assert _bins(stock) == {"A-01": 0, "A-02": 4}
    assert Commitment.objects.get(order_ref="1001").status == "released"
    assert availability_for_sku(sku=stock).available == 4
    assert ledger_mismatches() == []


def test_order_cancelled_releases_the_commitment(client, shopify, stock):
    _deliver(client, shopify, "orders/create", shopify_order_payload(1001, [(11, "MUG-1", 4)]))
    _deliver(
        client,
        shopify,
        "orders/cancelled",
        shopify_order_payload(1001, [(11, "MUG-1", 4)], cancelled_at="2026-03-02T00:00:00Z"),
    )
    _process_all()
    assert availability_for_sku(sku=stock).available == 8
    assert not StockMovement.objects.filter(kind=Kind.SHIP).exists()


def test_fulfilment_the_bins_cannot_cover_is_refused_and_becomes_a_discrepancy(
    client, shopify, stock
):
    _deliver(
        client,
        shopify,
        "orders/fulfilled",
        shopify_order_payload(7, [(11, "MUG-1", 9)], fulfillment_status="fulfilled"),
    )
    _process_all()
    assert _bins(stock) == {"A-01": 3, "A-02": 5}
    short = Discrepancy.objects.get(kind=Discrepancy.Kind.SHORT_FULFILMENT)
    assert short.detail == "shopify-1 shipped 9, the shelf holds 8."
    assert short.count_requested_at is not None and short.status == "open"


def test_replayed_order_events_change_nothing(client, shopify, stock):
    payload = shopify_order_payload(1001, [(11, "MUG-1", 4)], fulfillment_status="fulfilled")
    _deliver(client, shopify, "orders/fulfilled", payload, webhook_id="a")
    _deliver(client, shopify, "orders/fulfilled", payload, webhook_id="b")  # a second delivery
    _process_all()
    process_inbox_task([e.pk for e in InboxEvent.objects.all()])  # a redelivered task
    assert _bins(stock) == {"A-01": 0, "A-02": 4}
    assert StockMovement.objects.filter(kind=Kind.SHIP).count() == 2  # two bins, one order


@pytest.mark.parametrize("moment", ["ship", "order"])
def test_truth_moment_same_stream_same_end_state(client, shopify, stock, admin_user, moment):
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=[shopify],
                     truth_moment=moment, reason="test", actor=admin_user)  # fmt: skip
    _deliver(client, shopify, "orders/create", shopify_order_payload(1, [(11, "MUG-1", 2)]))
    _deliver(client, shopify, "orders/create", shopify_order_payload(2, [(12, "MUG-1", 1)]))
    _process_all()
    between = availability_for_sku(sku=stock)
    if moment == "ship":
        assert (between.on_hand, between.committed) == (8, 3)
    else:
        assert (between.on_hand, between.committed) == (5, 0)
    _deliver(
        client,
        shopify,
        "orders/fulfilled",
        shopify_order_payload(1, [(11, "MUG-1", 2)], fulfillment_status="fulfilled"),
    )
    _deliver(
        client,
        shopify,
        "orders/cancelled",
        shopify_order_payload(2, [(12, "MUG-1", 1)], cancelled_at="2026-03-02T00:00:00Z"),
    )
    _process_all()
    end = availability_for_sku(sku=stock)
    assert (end.on_hand, end.committed, end.available) == (6, 0, 6)
    assert ledger_mismatches() == []


def test_storefront_edit_of_on_hand_is_refused_recorded_and_corrected(client, shopify, stock):
    storefront_push(storefront=shopify)  # the shop holds the shelf's 8
    item = shopify.fake.variant("MUG-1").inventory_item_gid.rsplit("/", 1)[1]
    shopify.fake.set_on_hand("MUG-1", 20)  # edited by hand in the shop admin …
    _deliver(
        client,
        shopify,
        "inventory_levels/update",
        shopify_inventory_level_payload(int(item), 1, 20),
    )  # fmt: skip  … which it announces
    _process_all()
    assert InboxEvent.objects.get().status == "refused"
    conflict = AuthorityConflict.objects.get()
    assert (conflict.system, conflict.fact) == (shopify, "on_hand")
    discrepancy = Discrepancy.objects.get(kind=Discrepancy.Kind.NON_OWNER_WRITE)
    assert (discrepancy.owner_value, discrepancy.consumer_value) == (8, 20)
    assert "shelf owns on-hand and wins" in discrepancy.detail
    assert sum(_bins(stock).values()) == 8  # nothing applied
    storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 8
    assert Discrepancy.objects.get(pk=discrepancy.pk).resolution == "correction"


def test_order_event_from_a_non_owner_is_refused_and_changes_nothing(client, shopify, stock):
    orders = Ownership.objects.get(fact=Fact.ORDER)
    # The ownership table refuses a gap; one left behind by hand is still refused.
    Ownership.objects.filter(pk=orders.pk).update(owner=None)
    _deliver(client, shopify, "orders/create", shopify_order_payload(5, [(11, "MUG-1", 2)]))
    _process_all()
    assert InboxEvent.objects.get().status == "refused"
    assert not Commitment.objects.exists()
    assert AuthorityConflict.objects.filter(fact="order").count() == 1


def test_refund_with_restock_never_changes_on_hand(client, shopify, stock):
    _deliver(client, shopify, "refunds/create",
             shopify_refund_payload(9, 1001, [(11, "MUG-1", 1, "return")]))  # fmt: skip
    _process_all()
    assert sum(_bins(stock).values()) == 8
    refused = Discrepancy.objects.get(fact=Fact.RESTOCK)
    assert refused.kind == Discrepancy.Kind.NON_OWNER_WRITE
    assert AuthorityConflict.objects.filter(fact="restock").exists()


def test_catalog_change_event_mirrors_titles(client, shopify, stock):
    product = shopify.fake.add_product("Tea towel", [("TOWEL-1", 0)])
    _deliver(client, shopify, "products/update", shopify_product_payload(product))
    _process_all()
    assert Sku.objects.get(code="TOWEL-1").title.startswith("Tea towel")


def test_order_events_out_of_order_end_as_in_order(client, shopify, stock):
    _deliver(
        client,
        shopify,
        "orders/cancelled",
        shopify_order_payload(3, [(11, "MUG-1", 2)], cancelled_at="2026-03-02T00:00:00Z"),
    )
    _process_all()
    _deliver(client, shopify, "orders/create", shopify_order_payload(3, [(11, "MUG-1", 2)]))
    _process_all()
    assert not Commitment.objects.filter(status="open").exists()
    assert availability_for_sku(sku=stock).available == 8
