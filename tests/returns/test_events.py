"""Returns and refunds arriving from storefronts: through the signed webhook and the inbox."""

import pytest
from django.utils import timezone

from inventory.models import Discrepancy, InboxEvent, OnHand, StockMovement
from inventory.services import inbox_process, inbox_record, on_hand_adjust
from inventory.storefront.base import EventLine, EventType, InboundEvent
from inventory.storefront.demo.models import DemoLevel
from inventory.storefront.demo.services import demo_order_fulfil, demo_order_place, demo_return_open
from returns.models import RefundMirror, ReturnAuthorisation
from tests.factories import BinFactory, SkuFactory
from tests.storefront.fakes import (
    shopify_order_payload,
    shopify_refund_payload,
    shopify_return_payload,
    shopify_webhook,
)


def process_inbox() -> list[str]:
    results = []
    for pk in (
        InboxEvent.objects.filter(status="pending").order_by("id").values_list("pk", flat=True)
    ):
        row = inbox_process(pk=pk)
        results.append(f"{row.type}: {row.status}: {row.result}")
    return results


def shelf_total() -> int:
    return sum(OnHand.objects.values_list("quantity", flat=True))


# --- the demo storefront -------------------------------------------------------------------------


@pytest.fixture
def demo_order(stocked_bin, sku):
    DemoLevel.objects.create(sku_code="SKU-1", title="Blue mug", quantity=10)
    order = demo_order_place(lines=[("SKU-1", 2)], customer_name="Ada Lovelace")
    demo_order_fulfil(order=order)
    process_inbox()
    return order


def test_demo_return_opened_records_a_return_and_nothing_on_hand(demo_order, sku):
    before = (shelf_total(), StockMovement.objects.count())
    demo_return_open(order=demo_order)
    (result,) = process_inbox()

    assert "return R-D-1001 recorded: 2 unit(s) expected on 1 line(s)" in result
    rma = ReturnAuthorisation.objects.get()
    assert (rma.number, rma.order_ref, rma.customer_name, rma.storefront.name) == (
        "R-D-1001",
        "D-1001",
        "Ada Lovelace",
        "storefront",
    )
    assert (rma.origin, rma.status, rma.refund_status) == ("storefront", "awaiting", "none")
    assert list(rma.lines.values_list("line_ref", "sku", "expected", "reason")) == [
        ("1", sku.pk, 2, "customer return")
    ]
    assert (shelf_total(), StockMovement.objects.count()) == before


def test_a_replayed_or_repeated_return_event_changes_nothing(demo_order):
    demo_return_open(order=demo_order)
    process_inbox()
    event = InboundEvent(
        event_id="another-delivery", type=EventType.RETURN_OPENED, occurred_at=timezone.now(),
        order_ref="D-1001", return_ref="R-D-1001", lines=[EventLine("SKU-1", 5, "1")],
    )  # fmt: skip
    inbox_record(system=demo_order_storefront(), events=[event])
    (result,) = process_inbox()
    assert "already recorded; nothing changed" in result
    assert ReturnAuthorisation.objects.get().lines.get().expected == 2


def demo_order_storefront():
    from inventory.models import System

    return System.objects.get(name="storefront")


def test_a_return_event_without_lines_records_nothing(storefront, db):
    event = InboundEvent(
        event_id="e-1", type=EventType.RETURN_OPENED, occurred_at=None, order_ref="D-1",
        return_ref="R-1", lines=[EventLine("SKU-1", 0, "1")],
    )  # fmt: skip
    inbox_record(system=storefront, events=[event])
    (result,) = process_inbox()
    assert "names no returned units" in result
    assert not ReturnAuthorisation.objects.exists()


def test_a_refund_event_alone_changes_nothing_on_hand(stocked_bin, sku, storefront):
    event = InboundEvent(
        event_id="refund-1", type=EventType.REFUND_ISSUED, occurred_at=timezone.now(),
        order_ref="D-1001", lines=[EventLine("SKU-1", 2, "1", reason="restock")],
    )  # fmt: skip
    inbox_record(system=storefront, events=[event])
    (result,) = process_inbox()

    assert "on-hand unchanged" in result
    assert OnHand.objects.get().quantity == 10
    assert StockMovement.objects.count() == 1  # the seed only
    assert RefundMirror.objects.get().units == 2
    # inventory refuses the restock claim as a non-owner write of the shelf's fact
    assert Discrepancy.objects.filter(kind="non_owner_write", fact="restock").exists()


def test_refund_events_update_only_the_mirrored_refund_status(demo_order):
    demo_return_open(order=demo_order)
    process_inbox()
    storefront = demo_order_storefront()
    for n in (1, 2):
        inbox_record(
            system=storefront,
            events=[
                InboundEvent(
                    event_id=f"refund-{n}",
                    type=EventType.REFUND_ISSUED,
                    occurred_at=timezone.now(),
                    order_ref="D-1001",
                    lines=[EventLine("SKU-1", 1, "1")],
                )  # fmt: skip
            ],
        )
        process_inbox()
        rma = ReturnAuthorisation.objects.get()
        assert (rma.refund_status, rma.refunded_units) == (
            ["partial", "refunded"][n - 1],
            n,
        )
    assert not StockMovement.objects.filter(kind="return_restock").exists()


def test_a_refund_before_the_return_is_mirrored_when_the_return_arrives(demo_order):
    inbox_record(
        system=demo_order_storefront(),
        events=[
            InboundEvent(
                event_id="early-refund",
                type=EventType.REFUND_ISSUED,
                occurred_at=None,
                order_ref="D-1001",
                lines=[EventLine("SKU-1", 2, "1")],
            )  # fmt: skip
        ],
    )
    process_inbox()
    demo_return_open(order=demo_order)
    process_inbox()
    assert ReturnAuthorisation.objects.get().refund_status == "refunded"


# --- Shopify -------------------------------------------------------------------------------------


def deliver(client, shopify, topic, payload, **kwargs):
    body, headers = shopify_webhook(topic, payload, secret=shopify.fake.webhook_secret, **kwargs)
    return client.post(
        f"/webhooks/{shopify.name}/", body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


@pytest.fixture
def mug(shopify, shelf):
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 5)])
    on_hand_adjust(bin=BinFactory(code="A-14"), sku=sku, delta=5, kind="receive",
                   source_system=shelf, source_event_id="s-1")  # fmt: skip
    return sku


def test_shopify_returns_request_and_approve_record_one_return_with_skus_from_the_order(
    client, shopify, mug
):
    deliver(client, shopify, "orders/create", shopify_order_payload(7001, [(11, "MUG-1", 2)]))
    payload = shopify_return_payload(9001, 7001, [(11, 2, "unwanted")])
    deliver(client, shopify, "returns/request", payload, webhook_id="wh-request")
    deliver(client, shopify, "returns/approve", payload | {"status": "open"}, webhook_id="wh-ok")
    deliver(client, shopify, "returns/approve", payload | {"status": "open"}, webhook_id="wh-ok")
    results = process_inbox()

    assert len(results) == 3  # the replayed delivery was never stored twice
    assert "already recorded" in results[-1]
    rma = ReturnAuthorisation.objects.get()
    assert (rma.number, rma.return_ref, rma.order_ref, rma.storefront) == (
        "9001",
        "9001",
        "7001",
        shopify,
    )
    assert list(rma.lines.values_list("line_ref", "sku_code", "sku", "expected", "reason")) == [
        ("11", "MUG-1", mug.pk, 2, "unwanted")
    ]


def test_shopify_refund_with_restock_never_restocks_the_shelf(client, shopify, mug):
    deliver(client, shopify, "orders/create", shopify_order_payload(7001, [(11, "MUG-1", 2)]))
    deliver(client, shopify, "returns/request", shopify_return_payload(9001, 7001, [(11, 2, "x")]))
    deliver(client, shopify, "refunds/create",
            shopify_refund_payload(5001, 7001, [(11, "MUG-1", 2, "return")]))  # fmt: skip
    process_inbox()

    rma = ReturnAuthorisation.objects.get()
    assert (rma.refund_status, rma.refunded_units) == ("refunded", 2)
    assert OnHand.objects.get(sku=mug).quantity == 5
    assert not StockMovement.objects.filter(kind="return_restock").exists()
