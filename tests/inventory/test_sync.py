"""Outbox and push: the storefront mirrors the shelf (against the local Shopify fake)."""

import pytest
from django.db import transaction

from inventory.models import Discrepancy, OutboxEntry, StockMovement, SyncLog, SyncState
from inventory.services import on_hand_adjust, outbox_prune, storefront_push
from inventory.services.outbox import _kick
from inventory.storefront.base import StorefrontUnavailable
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind


def _move(bin, sku, system, delta, event):
    return on_hand_adjust(bin=bin, sku=sku, delta=delta, kind=Kind.RECEIVE if delta > 0 else
                          Kind.SHIP, source_system=system, source_event_id=event)  # fmt: skip


@pytest.fixture
def mug(shopify):
    sku = SkuFactory(code="MUG-1")
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    return sku


def test_on_hand_adjust_writes_an_outbox_row_in_the_same_transaction(stocked_bin, sku, shelf):
    assert OutboxEntry.objects.filter(sku=sku).count() == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        _move(stocked_bin, sku, shelf, 1, "rolled-back")
        raise RuntimeError
    assert OutboxEntry.objects.filter(sku=sku).count() == 1


def test_on_hand_adjust_schedules_one_push_per_transaction(
    bin, sku, shelf, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for n in range(5):
            _move(bin, sku, shelf, 1, f"burst-{n}")
    assert callbacks == [_kick]


def test_storefront_push_coalesces_many_movements_into_one_write(shopify, mug, shelf, bin):
    for n in range(6):
        _move(bin, mug, shelf, 2, f"r-{n}")
    _move(bin, mug, shelf, -3, "s-1")
    newest = OutboxEntry.objects.latest("id").pk
    report = storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 9
    assert (report.skus, report.applied, report.stale) == (1, 1, 0)
    assert len(shopify.fake.operations("OneFactSetOnHand")) == 1
    state = SyncState.objects.get(storefront=shopify, sku=mug)
    assert (state.pushed_value, state.pushed_version) == (9, newest)
    assert SyncLog.objects.get(sku=mug).value == 9


def test_storefront_push_batches_many_skus_into_few_calls(shopify, shelf, bin):
    codes = [f"B-{n:03}" for n in range(300)]
    shopify.fake.add_product("Bulk", [(code, 0) for code in codes])
    for code in codes:
        _move(bin, SkuFactory(code=code), shelf, 3, f"bulk-{code}")
    report = storefront_push(storefront=shopify)
    assert report.applied == 300
    assert len(shopify.fake.operations("OneFactSetOnHand")) == 2  # 250 per call
    assert {shopify.fake.on_hand(code) for code in codes} == {3}


def test_storefront_push_with_nothing_pending_calls_nothing(shopify, mug, shelf, bin):
    _move(bin, mug, shelf, 1, "r")
    storefront_push(storefront=shopify)
    again = storefront_push(storefront=shopify)
    assert (again.skus, again.adapter_calls) == (0, 0)


def test_storefront_push_stale_compare_records_a_discrepancy_and_the_shelf_wins(
    shopify, mug, shelf, bin
):
    _move(bin, mug, shelf, 5, "r-1")
    storefront_push(storefront=shopify)
    shopify.fake.set_on_hand("MUG-1", 42)  # someone edits the storefront's number
    _move(bin, mug, shelf, 1, "r-2")
    report = storefront_push(storefront=shopify)
    assert report.stale == 1
    assert shopify.fake.on_hand("MUG-1") == 6
    discrepancy = Discrepancy.objects.get(kind=Discrepancy.Kind.STALE_PUSH)
    assert (discrepancy.owner.name, discrepancy.consumer, discrepancy.winner.name) == (
        "shelf", shopify, "shelf"
    )  # fmt: skip
    assert (discrepancy.owner_value, discrepancy.consumer_value) == (6, 42)
    assert (discrepancy.status, discrepancy.resolution, discrepancy.correction) == (
        "resolved", "correction", 6
    )  # fmt: skip


def test_storefront_push_transient_failure_raises_and_loses_nothing(shopify, mug, shelf, bin):
    _move(bin, mug, shelf, 4, "r-1")
    shopify.fake.fail_next(1, status=503)
    with pytest.raises(StorefrontUnavailable):
        storefront_push(storefront=shopify)
    state = SyncState.objects.get(storefront=shopify, sku=mug)
    assert state.pushed_version == 0 and "StorefrontUnavailable" in state.last_error
    storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 4
    assert SyncState.objects.get(storefront=shopify, sku=mug).last_error == ""


def test_storefront_push_unknown_sku_is_surfaced_once_not_retried(shopify, shelf, bin):
    ghost = SkuFactory(code="NOT-IN-SHOP")
    _move(bin, ghost, shelf, 2, "r-1")
    storefront_push(storefront=shopify)
    _move(bin, ghost, shelf, 1, "r-2")
    storefront_push(storefront=shopify)
    failed = Discrepancy.objects.filter(kind=Discrepancy.Kind.PUSH_FAILED, sku=ghost)
    assert failed.count() == 1 and failed.get().status == "open"
    assert "not_found" in SyncState.objects.get(sku=ghost).last_error


def test_a_push_prunes_what_it_acknowledged_and_keeps_the_rest(shopify, mug, shelf, bin):
    _move(bin, mug, shelf, 1, "r-1")
    storefront_push(storefront=shopify)
    assert not OutboxEntry.objects.exists()  # the outbox stays as small as what is in flight
    _move(bin, mug, shelf, 1, "r-2")
    assert outbox_prune() == 0 and OutboxEntry.objects.count() == 1
    storefront_push(storefront=shopify)
    assert shopify.fake.on_hand("MUG-1") == 2 and not OutboxEntry.objects.exists()


def test_outbox_prune_keeps_what_a_storefront_has_not_acknowledged(shopify, mug, shelf, bin):
    first = _move(bin, mug, shelf, 1, "r-1")
    _move(bin, mug, shelf, 1, "r-2")
    acknowledged = OutboxEntry.objects.order_by("id").first().pk
    SyncState.objects.create(storefront=shopify, sku=mug, pushed_value=first.balance_after,
                             pushed_version=acknowledged)  # fmt: skip
    assert outbox_prune() == 1
    assert list(OutboxEntry.objects.values_list("id", flat=True)) == [acknowledged + 1]


def test_storefront_push_older_version_never_overwrites_newer(shopify, mug, shelf, bin):
    _move(bin, mug, shelf, 5, "r-1")
    storefront_push(storefront=shopify)
    newest = SyncState.objects.get(sku=mug).pushed_version
    # A late duplicate drain finds nothing newer than what was acknowledged.
    SyncState.objects.filter(sku=mug).update(pushed_version=newest + 1000)
    _move(bin, mug, shelf, 1, "r-2")
    assert storefront_push(storefront=shopify).skus == 0
    assert shopify.fake.on_hand("MUG-1") == 5


def test_push_mirrors_available_for_a_single_number_storefront(storefront, shelf, bin):
    """The demo storefront keeps one number: it is sent on-hand minus open commitments."""
    from inventory.storefront.demo.models import DemoLevel
    from tests.factories import CommitmentFactory

    sku = SkuFactory(code="ONE-NUM")
    DemoLevel.objects.create(sku_code="ONE-NUM", quantity=0)
    _move(bin, sku, shelf, 10, "r-1")
    CommitmentFactory(sku=sku, source_system=storefront, quantity=3)
    BinFactory()
    storefront_push(storefront=storefront)
    assert DemoLevel.objects.get(sku_code="ONE-NUM").quantity == 7


@pytest.mark.parametrize("committed_only", [True, False])
def test_a_kicked_drain_stops_at_what_was_committed_when_it_started(
    shopify, mug, shelf, bin, monkeypatch, committed_only
):
    from inventory.services import push

    cup = SkuFactory(code="CUP-1")
    shopify.fake.add_product("Cup", [("CUP-1", 0)])
    _move(bin, mug, shelf, 2, "before")
    send, landed = push._send, []

    def send_while_the_shelf_moves(*args, **kwargs):
        if not landed:  # a commit landing while the drain is under way
            landed.append(_move(bin, cup, shelf, 5, "during"))
        return send(*args, **kwargs)

    monkeypatch.setattr(push, "_send", send_while_the_shelf_moves)
    report = storefront_push(storefront=shopify, committed_only=committed_only)
    assert shopify.fake.on_hand("MUG-1") == 2
    if committed_only:  # the change after the start kicked its own drain: left for it
        assert (report.skus, shopify.fake.on_hand("CUP-1")) == (1, 0)
        assert storefront_push(storefront=shopify, committed_only=True).skus == 1
    else:  # the sweep drains everything it finds
        assert report.skus == 2
    assert shopify.fake.on_hand("CUP-1") == 5


def test_a_push_prunes_only_what_every_pushing_storefront_acknowledged(
    shopify, mug, shelf, bin, storefront, admin_user
):
    from inventory.models import Fact, Ownership
    from inventory.services import ownership_change
    from inventory.storefront.demo.models import DemoLevel

    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    ownership_change(ownership=on_hand, owner=on_hand.owner, consumers=[shopify, storefront],
                     truth_moment=on_hand.truth_moment, reason="two storefronts mirror the shelf",
                     actor=admin_user)  # fmt: skip
    DemoLevel.objects.create(sku_code="MUG-1", quantity=0)
    _move(bin, mug, shelf, 4, "r-1")
    storefront_push(storefront=shopify)
    assert OutboxEntry.objects.count() == 1  # the demo storefront has not been told yet
    storefront_push(storefront=storefront)
    assert not OutboxEntry.objects.exists()
    assert (shopify.fake.on_hand("MUG-1"), DemoLevel.objects.get(sku_code="MUG-1").quantity) == (
        4,
        4,
    )
