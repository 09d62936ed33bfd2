"""What a confirmed box tells the storefronts: the restock (through the outbox, as on-hand)
and the outcome per returned line (through the adapter, for the refund decision)."""

from datetime import timedelta
from functools import partial

import pytest
from django.conf import settings
from django.utils import timezone

from inventory.models import Discrepancy, System
from inventory.services import on_hand_adjust, storefront_push
from inventory.storefront import adapter_for
from inventory.storefront.base import Disposition, ReturnDisposition
from inventory.storefront.demo.models import DemoLevel, DemoOrder
from returns import services
from returns.exceptions import ReturnsError
from returns.models import ReturnOutcome
from returns.tasks import send_return_outcomes_task
from tests.factories import BinFactory, SkuFactory
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory
from tests.returns.steps import confirm, grade, scan


def received_one_sellable_one_damaged(rma, user=None):
    grade(scan(rma, "SKU-1", user).unit, "sellable", "A-14", user)
    grade(scan(rma, "SKU-1", user).unit, "damaged", user=user)
    return confirm(rma, user)


# --- the demo storefront -------------------------------------------------------------------------


@pytest.fixture
def demo_order(db, storefront, sku):
    from inventory.models import ShelfEvidence
    from inventory.services import shelf_evidence_record

    DemoLevel.objects.create(sku_code="SKU-1", title="Blue mug", quantity=3)
    shelf_evidence_record(skus=[sku], kind=ShelfEvidence.Kind.COUNT)  # the shelf has counted
    return DemoOrder.objects.create(
        number="D-1001", lines=[{"sku": "SKU-1", "quantity": 2}], status="fulfilled"
    )


def test_restock_reaches_the_demo_storefront_through_the_outbox(stocked_bin, rma, demo_order):
    received_one_sellable_one_damaged(rma)
    storefront_push(storefront=System.objects.get(name="storefront"))
    # the demo mirrors available: the shelf's 11 on-hand, no open commitments
    assert DemoLevel.objects.get(sku_code="SKU-1").quantity == 11


def test_outcome_per_line_reaches_the_demo_storefront(stocked_bin, rma, demo_order):
    received_one_sellable_one_damaged(rma)
    report = services.return_outcomes_send(rma=rma)

    assert (report.sent, report.failed, report.error) == (2, 0, "")
    demo_order.refresh_from_db()
    assert [
        (d["line"], d["disposition"], d["quantity"]) for d in demo_order.return_dispositions
    ] == [
        ("1", "processing_required", 1),
        ("1", "restocked", 1),
    ]
    assert set(ReturnOutcome.objects.values_list("status", flat=True)) == {"sent"}
    assert services.return_outcomes_send(rma=rma).sent == 0  # nothing due any more
    assert DemoLevel.objects.get(sku_code="SKU-1").quantity == 3  # a report moves no stock


def test_outcomes_wait_while_the_storefront_is_observed_and_go_once_it_is_live(
    stocked_bin, rma, demo_order, admin_user
):
    from inventory.services import storefront_mode_set

    storefront = System.objects.get(name="storefront")
    System.objects.filter(pk=storefront.pk).update(sync_mode=System.SyncMode.OBSERVE)
    received_one_sellable_one_damaged(rma)
    report = services.return_outcomes_send(rma=rma)
    assert (report.sent, report.error) == (
        0,
        "storefront is observed: outcomes wait until it goes live",
    )
    assert services.return_outcomes_send_due() == []  # the sweep passes them over
    assert set(ReturnOutcome.objects.values_list("status", flat=True)) == {"pending"}
    demo_order.refresh_from_db()
    assert demo_order.return_dispositions == []
    storefront_mode_set(storefront=storefront, mode="live", reason="counted", actor=admin_user)
    assert [r["sent"] for r in services.return_outcomes_send_due()] == [2]


def test_outcomes_of_later_boxes_are_reported_as_totals(stocked_bin, rma, demo_order):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)
    services.return_outcomes_send(rma=rma)
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)
    services.return_outcomes_send(rma=rma)

    demo_order.refresh_from_db()
    assert [(d["disposition"], d["quantity"]) for d in demo_order.return_dispositions] == [
        ("restocked", 2)
    ]


def test_the_demo_adapter_keeps_a_repeated_report_unchanged(demo_order):
    adapter = adapter_for(System.objects.get(name="storefront"))
    report = [ReturnDisposition("1", "SKU-1", 2, Disposition.MISSING)]
    adapter.report_return_dispositions(return_ref="R-1", order_ref="D-1001", dispositions=report)
    adapter.report_return_dispositions(return_ref="R-1", order_ref="D-1001", dispositions=report)
    demo_order.refresh_from_db()
    assert demo_order.return_dispositions == [
        {"return": "R-1", "line": "1", "sku": "SKU-1", "disposition": "missing", "quantity": 2}
    ]


def test_an_outcome_the_storefront_cannot_place_is_kept_with_the_reason(stocked_bin, rma):
    received_one_sellable_one_damaged(rma)  # no demo order D-1001 exists
    report = services.return_outcomes_send(rma=rma)
    assert report.failed == 2
    rows = list(ReturnOutcome.objects.values_list("status", "last_error"))
    assert {status for status, _ in rows} == {"failed"}
    assert all("has no order D-1001" in error for _, error in rows)


def test_a_storefront_without_dispositions_keeps_them_not_sent_with_the_reason(stocked_bin, sku):
    saleor = System.objects.create(
        name="saleor-1", kind="storefront", adapter="saleor", sync_mode="live",
        config={"api_url": "http://127.0.0.1:9/graphql/", "warehouse_id": "W"},
    )  # fmt: skip
    rma = ReturnAuthorisationFactory(storefront=saleor)
    ReturnLineFactory(rma=rma, sku=sku, expected=1)
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)

    report = services.return_outcomes_send(rma=rma)

    assert report.failed == 1
    outcome = ReturnOutcome.objects.get()
    assert outcome.status == "failed"
    assert "does not take return dispositions" in outcome.last_error


def test_a_phone_return_with_no_storefront_keeps_its_outcome_with_the_reason(stocked_bin, sku):
    rma = ReturnAuthorisationFactory(storefront=None, origin="phone")
    ReturnLineFactory(rma=rma, sku=sku, expected=1)
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    confirm(rma)
    outcome = ReturnOutcome.objects.get()
    assert outcome.status == "failed" and "No storefront to tell" in outcome.last_error
    with pytest.raises(ReturnsError, match="no storefront"):
        services.return_outcomes_retry(rma=rma)


def test_confirmation_enqueues_the_outcomes_after_commit(
    stocked_bin, rma, demo_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        received_one_sellable_one_damaged(rma)
    enqueued = [c for c in callbacks if isinstance(c, partial)]
    assert [(c.func.__name__, c.args) for c in enqueued] == [("_enqueue_outcomes", (rma.pk,))]
    assert send_return_outcomes_task(rma.pk)["sent"] == 2


def test_the_beat_sends_every_return_whose_outcomes_are_due(stocked_bin, rma, demo_order):
    received_one_sellable_one_damaged(rma)
    reports = send_return_outcomes_task()
    assert [r["sent"] for r in reports] == [2]
    assert send_return_outcomes_task() == []


# --- Shopify -------------------------------------------------------------------------------------


@pytest.fixture
def shopify_return(shopify, shelf):
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 5)])
    bin = BinFactory(code="A-14")
    on_hand_adjust(bin=bin, sku=sku, delta=5, kind="receive", source_system=shelf,
                   source_event_id="s-1")  # fmt: skip
    storefront_push(storefront=shopify)
    shopify.fake.add_return(9001, 7001, [(11, "MUG-1", 2)])
    rma = ReturnAuthorisationFactory(number="9001", return_ref="9001", order_ref="7001",
                                     storefront=shopify)  # fmt: skip
    ReturnLineFactory(rma=rma, line_ref="11", sku=sku, expected=2)
    return rma


def test_restock_and_outcome_reach_shopify_and_shopify_ends_on_the_shelfs_number(
    shopify, shopify_return
):
    grade(scan(shopify_return, "MUG-1").unit, "sellable", "A-14")
    grade(scan(shopify_return, "MUG-1").unit, "damaged")
    confirm(shopify_return)
    storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 6  # the restock, through the outbox

    report = services.return_outcomes_send(rma=shopify_return)

    assert report.sent == 2 and report.skus_pushed == ["MUG-1"]
    assert shopify.fake.dispositions(9001) == {(11, "RESTOCKED"): 1, (11, "PROCESSING_REQUIRED"): 1}
    assert shopify.fake.on_hand("MUG-1") == 7  # Shopify restocked on its side too…
    storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 6  # …and the shelf's number wins again
    stale = Discrepancy.objects.get(kind="stale_push")
    assert (stale.status, stale.owner_value, stale.consumer_value) == ("resolved", 6, 7)


def test_shopify_transient_failure_is_retried_with_backoff_then_sent(shopify, shopify_return):
    grade(scan(shopify_return, "MUG-1").unit, "sellable", "A-14")
    confirm(shopify_return)
    shopify.fake.fail_next(1, status=503, operation="OneFactReturnLines")

    report = services.return_outcomes_send(rma=shopify_return)

    assert report.retry_in == 30.0 and "503" in report.error
    outcome = ReturnOutcome.objects.get()
    assert (outcome.status, outcome.attempts) == ("pending", 1)
    assert outcome.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert services.return_outcomes_send(rma=shopify_return).sent == 0  # waiting out the backoff
    later = timezone.now() + timedelta(seconds=31)
    assert services.return_outcomes_send(rma=shopify_return, now=later).sent == 1
    assert shopify.fake.dispositions(9001) == {(11, "RESTOCKED"): 1}


def test_shopify_failures_past_the_limit_are_kept_not_sent(shopify, shopify_return, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS", 2)
    grade(scan(shopify_return, "MUG-1").unit, "sellable", "A-14")
    confirm(shopify_return)
    shopify.fake.fail_next(2, status=503, operation="OneFactReturnLines")
    services.return_outcomes_send(rma=shopify_return)
    report = services.return_outcomes_send(rma=shopify_return, now=timezone.now() + timedelta(1))
    assert report.failed == 1
    outcome = ReturnOutcome.objects.get()
    assert (outcome.status, outcome.attempts) == ("failed", 2)
    assert services.return_outcomes_retry(rma=shopify_return) == 1
    assert services.return_outcomes_send(rma=shopify_return).sent == 1
