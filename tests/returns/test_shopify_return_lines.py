"""Shopify returns whose webhook lists no lines: the lines are read from Shopify's Admin API.

Shopify's documented returns/request and returns/approve payloads carry
``total_return_line_items`` with an empty ``return_line_items``. The inbox's worker reads the
return's line items (``return(id:) { returnLineItems }``) from the Shopify fake, which charges
each request Shopify's cost, and records the return with them; a storefront that cannot answer
leaves the event pending for the sweep, never an empty return.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from inventory.models import InboxEvent
from inventory.services import inbox_process
from inventory.storefront import adapter_for
from inventory.storefront.base import EventType, InboundEvent
from inventory.storefront.shopify_documents import RETURN_LINE_ITEMS_PAGE_SIZE
from inventory.tasks import sweep_inbox_task
from returns.models import ReturnAuthorisation
from returns.services import return_open_from_event
from tests.factories import SkuFactory
from tests.storefront.fakes import SHOPIFY_MAX_QUERY_COST, shopify_webhook

PAYLOADS = Path(__file__).parents[1] / "storefront" / "payloads" / "shopify"
DOCUMENTED_RETURN = 123134564567890
DOCUMENTED_ORDER = 4783296544821


def documented(topic: str) -> dict:
    """Shopify's documented example payload of ``topic`` (API 2026-04)."""
    return json.loads((PAYLOADS / "2026-04" / f"{topic}.json").read_text())["response"]


def deliver(client, system, topic: str, payload: dict, **kwargs):
    body, headers = shopify_webhook(topic, payload, secret=system.fake.webhook_secret, **kwargs)
    return client.post(
        f"/webhooks/{system.name}/", body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


def process_inbox() -> list[tuple[str, str]]:
    """Process the pending events in order: (status, result) of each."""
    pks = InboxEvent.objects.filter(status="pending").order_by("id").values_list("pk", flat=True)
    return [(row.status, row.result) for pk in pks if (row := inbox_process(pk=pk))]


def expected_lines(rma: ReturnAuthorisation) -> list[tuple]:
    return list(rma.lines.order_by("pk").values_list("line_ref", "sku_code", "expected", "reason"))


@pytest.fixture
def documented_return(shopify):
    """The documented return, two lines, only requested (no reverse fulfillment order yet)."""
    SkuFactory(code="MUG-1")
    SkuFactory(code="CUP-1")
    return shopify.fake.add_return(
        DOCUMENTED_RETURN,
        DOCUMENTED_ORDER,
        [(11, "MUG-1", 2), (12, "CUP-1", 1)],
        approved=False,
        reason="size-too-small",
    )


def test_return_open_from_event_records_documented_shopify_return_with_lines_read_from_shopify(
    client, shopify, documented_return
):
    payload = documented("returns/request")
    assert payload["return_line_items"] == [] and payload["total_return_line_items"] == 2

    response = deliver(client, shopify, "returns/request", payload)
    ((status, result),) = process_inbox()

    assert response.status_code == 200
    assert (status, result) == (
        "processed",
        f"return {DOCUMENTED_RETURN} recorded: 3 unit(s) expected on 2 line(s)",
    )
    rma = ReturnAuthorisation.objects.get()
    assert (rma.return_ref, rma.order_ref, rma.storefront) == (
        str(DOCUMENTED_RETURN),
        str(DOCUMENTED_ORDER),
        shopify,
    )
    assert expected_lines(rma) == [
        ("11", "MUG-1", 2, "size-too-small"),
        ("12", "CUP-1", 1, "size-too-small"),
    ]
    assert sorted(rma.lines.values_list("sku__code", flat=True)) == ["CUP-1", "MUG-1"]
    (read,) = shopify.fake.operations("OneFactReturnLineItems")
    assert read.json["variables"]["id"] == f"gid://shopify/Return/{DOCUMENTED_RETURN}"
    assert ("OneFactReturnLineItems", 803) in shopify.fake.requested_costs


def test_return_open_from_event_reads_nothing_for_a_return_already_recorded(
    client, shopify, documented_return
):
    deliver(client, shopify, "returns/request", documented("returns/request"))
    deliver(client, shopify, "returns/approve", documented("returns/approve"))

    results = process_inbox()

    assert results[-1] == (
        "processed",
        f"return {DOCUMENTED_RETURN} already recorded; nothing changed",
    )
    assert ReturnAuthorisation.objects.count() == 1
    assert len(shopify.fake.operations("OneFactReturnLineItems")) == 1


def test_return_open_from_event_pages_through_a_return_longer_than_a_page(
    client, shopify, documented_return
):
    count = RETURN_LINE_ITEMS_PAGE_SIZE * 2 + 1
    shopify.fake.returns.clear()
    shopify.fake.add_return(
        DOCUMENTED_RETURN,
        DOCUMENTED_ORDER,
        [(1000 + n, f"SKU-{n:03}", 1) for n in range(count)],
        approved=False,
    )

    deliver(client, shopify, "returns/request", documented("returns/request"))
    ((status, result),) = process_inbox()

    assert (status, result) == (
        "processed",
        f"return {DOCUMENTED_RETURN} recorded: {count} unit(s) expected on {count} line(s)",
    )
    rma = ReturnAuthorisation.objects.get()
    assert rma.lines.count() == count
    assert expected_lines(rma)[-1] == (str(1000 + count - 1), f"SKU-{count - 1:03}", 1, "unwanted")
    reads = shopify.fake.operations("OneFactReturnLineItems")
    assert [r.json["variables"]["after"] is None for r in reads] == [True, False, False]
    costs = [
        cost for name, cost in shopify.fake.requested_costs if name == "OneFactReturnLineItems"
    ]
    assert costs == [803, 803, 803] and max(costs) <= SHOPIFY_MAX_QUERY_COST


def test_return_open_from_event_waits_for_an_unavailable_shopify_and_records_no_empty_return(
    client, shopify, documented_return
):
    deliver(client, shopify, "returns/request", documented("returns/request"))
    shopify.fake.fail_next(1, status=503, operation="OneFactReturnLineItems")

    ((status, result),) = process_inbox()

    assert status == "pending"
    assert result.startswith("waiting to retry: StorefrontUnavailable: Shopify answered 503")
    assert not ReturnAuthorisation.objects.exists()

    InboxEvent.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    assert sweep_inbox_task() == 0  # its retry waits out the backoff
    InboxEvent.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sweep_inbox_task() == 1

    row = InboxEvent.objects.get()
    assert (row.status, row.result) == (
        "processed",
        f"return {DOCUMENTED_RETURN} recorded: 3 unit(s) expected on 2 line(s)",
    )
    assert expected_lines(ReturnAuthorisation.objects.get())[0] == (
        "11",
        "MUG-1",
        2,
        "size-too-small",
    )


def test_return_open_from_event_fails_a_return_shopify_does_not_know(client, shopify):
    deliver(client, shopify, "returns/request", documented("returns/request"))

    ((status, result),) = process_inbox()

    assert status == "failed"
    assert result == (
        f"MappingError: Shopify knows no return gid://shopify/Return/{DOCUMENTED_RETURN}"
    )
    assert not ReturnAuthorisation.objects.exists()


def test_read_return_lines_keeps_an_unverified_line_without_a_sku(shopify):
    found = shopify.fake.add_return(
        DOCUMENTED_RETURN, DOCUMENTED_ORDER, [(11, "MUG-1", 2), (None, "", 1)], approved=False
    )

    with adapter_for(shopify) as adapter:
        lines = adapter.read_return_lines(str(DOCUMENTED_RETURN))

    assert [(line.sku, line.quantity, line.line_ref) for line in lines] == [
        ("MUG-1", 2, "11"),
        ("", 1, f"gid://shopify/UnverifiedReturnLineItem/{found.lines[1].id}"),
    ]


def test_return_open_from_event_of_a_storefront_without_return_reads_records_nothing(storefront):
    event = InboundEvent(
        event_id="demo-return-1", type=EventType.RETURN_OPENED, occurred_at=None, return_ref="R-1"
    )

    result = return_open_from_event(system=storefront, event=event)

    assert result == "return R-1 names no returned units; nothing recorded"
    assert adapter_for(storefront).read_return_lines("R-1") == []
    assert not ReturnAuthorisation.objects.exists()
