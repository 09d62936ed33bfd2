import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import hooks
from inventory.models import Discrepancy, Fact, OnHand, ShelfEvidence, StockMovement, System
from inventory.selectors import ledger_mismatches, on_hand_total
from inventory.services import on_hand_adjust
from replenishment.exceptions import ReceiptRefused, ReplenishmentError
from replenishment.models import PurchaseOrder, PurchaseOrderLine, Receipt, ReorderPolicy
from replenishment.selectors import coverage_for_sku, coverage_window
from replenishment.services import (
    ghost_rows_detect,
    purchase_order_cancel,
    purchase_order_close,
    purchase_order_draft,
    purchase_order_line_receive,
    purchase_order_line_set,
    purchase_order_send,
)
from replenishment.tasks import detect_ghost_rows_task
from tests.factories import BinFactory, OnHandFactory, SkuFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    SupplierFactory,
    shelf_counted,
)

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db

# Names that would mean a replenishment model keeps its own copy of on-hand. "stock" is
# allowed only inside "safety_stock_*": a policy input in days or units of demand.
ON_HAND_NAMES = re.compile(
    r"on_?hand|qoh|balance|available|(^|_)stock(_|$)|(^|_)level(_|$)|quantity_in"
)


def test_no_replenishment_model_has_an_on_hand_field():
    models = list(apps.get_app_config("replenishment").get_models())
    assert len(models) >= 5
    for model in models:
        for field in model._meta.get_fields():
            name = field.name.replace("safety_stock_", "safety_")
            assert not ON_HAND_NAMES.search(name), f"{model.__name__}.{field.name}"
            related = getattr(field, "related_model", None)
            assert related is not OnHand, f"{model.__name__}.{field.name} points at OnHand"


def _open_line(sku=None, ordered=10, **po):
    po = PurchaseOrderFactory(**({"status": PurchaseOrder.Status.SENT} | po))
    return PurchaseOrderLineFactory(po=po, sku=sku or SkuFactory(), ordered=ordered)


def test_receiving_adds_on_hand_through_the_ledger_and_reduces_in_transit(bin, sku, staff_user):
    line = _open_line(sku, ordered=10)
    assert coverage_for_sku(sku=sku).in_transit == 10

    outcome = purchase_order_line_receive(
        line=line, bin=bin, units=4, key="k-00000001", actor=staff_user
    )

    move = outcome.receipt.movement
    assert (move.kind, move.quantity, move.reference, move.actor) == (
        Kind.RECEIVE,
        4,
        line.po.number,
        staff_user,
    )
    assert move.source_system.name == "shelf"
    assert move.source_event_id == "po-receipt:k-00000001"
    assert on_hand_total(sku=sku) == 4
    line.refresh_from_db()
    line.po.refresh_from_db()
    assert (line.received, line.po.status) == (4, PurchaseOrder.Status.PARTIALLY_RECEIVED)
    c = coverage_for_sku(sku=sku)
    assert (c.on_hand, c.in_transit, c.position) == (4, 6, 10)
    assert ledger_mismatches() == []


def test_receiving_a_sku_new_to_both_sides_makes_its_number_known(bin, staff_user):
    """No bin ever held it and no storefront holds any: the first delivery is the whole
    truth, so the write path records it as the shelf's evidence and coverage believes it."""
    line = _open_line(ordered=10)
    sku = line.sku
    assert not coverage_for_sku(sku=sku).known

    purchase_order_line_receive(line=line, bin=bin, units=4, key="k-00000031", actor=staff_user)

    evidence = ShelfEvidence.objects.get(sku=sku)
    assert (evidence.kind, evidence.reference) == (ShelfEvidence.Kind.FIRST_RECEIPT, line.po.number)
    c = coverage_for_sku(sku=sku)
    assert c.known and (c.on_hand, c.in_transit, c.position) == (4, 6, 10)
    assert ledger_mismatches() == []


def test_receiving_into_a_sku_never_counted_leaves_it_unknown(bin, staff_user):
    """Units came back into it before (a return): other units may sit in bins nobody has
    counted, so a delivery proves nothing about the total; it is listed as not yet counted
    and gets no figure worked out from the ledger's number."""
    line = _open_line(ordered=10)
    sku = line.sku
    ReorderPolicyFactory(sku=sku, safety_stock_days=None, safety_stock_units=20)
    on_hand_adjust(
        bin=BinFactory(),
        sku=sku,
        delta=2,
        kind=Kind.RETURN_RESTOCK,
        source_system=System.objects.get(name="shelf"),
        source_event_id="return-1",
    )

    purchase_order_line_receive(line=line, bin=bin, units=4, key="k-00000032", actor=staff_user)

    assert not ShelfEvidence.objects.filter(sku=sku).exists()
    c = coverage_for_sku(sku=sku)
    assert (c.on_hand, c.in_transit) == (6, 6)
    assert (c.known, c.position, c.days_of_cover, c.suggested) == (False, None, None, None)
    assert c.urgency_label == "not yet counted"
    shelf_counted(sku, kind=ShelfEvidence.Kind.COUNT)  # the opening count: known at once
    c = coverage_for_sku(sku=sku)
    assert c.known and (c.position, c.suggested) == (12, 8)
    assert ledger_mismatches() == []


def test_receiving_the_same_submission_twice_changes_nothing(bin, sku):
    line = _open_line(sku, ordered=10)
    first = purchase_order_line_receive(line=line, bin=bin, units=4, key="k-00000002")
    again = purchase_order_line_receive(line=line, bin=bin, units=4, key="k-00000002")

    assert again.replayed and again.receipt.pk == first.receipt.pk
    assert on_hand_total(sku=sku) == 4
    assert PurchaseOrderLine.objects.get(pk=line.pk).received == 4
    assert Receipt.objects.count() == 1
    assert StockMovement.objects.filter(sku=sku).count() == 1


def test_receiving_the_whole_order_closes_it(bin, sku):
    line = _open_line(sku, ordered=5)
    purchase_order_line_receive(line=line, bin=bin, units=5, key="k-00000003")
    po = PurchaseOrder.objects.get(pk=line.po_id)
    assert po.status == PurchaseOrder.Status.RECEIVED and po.closed_at is not None
    assert not Discrepancy.objects.exists()
    assert coverage_for_sku(sku=sku).in_transit == 0


def test_an_mismatch_is_booked_and_recorded_as_a_discrepancy(bin, sku):
    line = _open_line(sku, ordered=10)
    purchase_order_line_receive(line=line, bin=bin, units=8, key="k-00000004")
    outcome = purchase_order_line_receive(line=line, bin=bin, units=4, key="k-00000005")

    d = outcome.mismatch
    assert (d.kind, d.fact, d.owner.name) == (
        Discrepancy.Kind.RECEIPT_MISMATCH,
        Fact.IN_TRANSIT,
        "replenishment",
    )
    assert (d.owner_value, d.consumer_value, d.sku, d.bin) == (10, 12, sku, bin)
    assert "ordered 10, received 12 (2 more than ordered" in d.detail
    assert on_hand_total(sku=sku) == 12
    assert coverage_for_sku(sku=sku).in_transit == 0
    assert PurchaseOrder.objects.get(pk=line.po_id).status == PurchaseOrder.Status.RECEIVED


def test_units_arriving_after_an_order_is_complete_or_closed_are_booked_and_recorded(bin, sku):
    line = _open_line(sku, ordered=5)
    purchase_order_line_receive(line=line, bin=bin, units=5, key="k-00000012")
    late = purchase_order_line_receive(line=line, bin=bin, units=1, key="k-00000013")
    assert "ordered 5, received 6 (1 more than ordered" in late.mismatch.detail
    short = _open_line(SkuFactory(), ordered=8)
    purchase_order_line_receive(line=short, bin=bin, units=3, key="k-00000014")
    purchase_order_close(po=short.po)
    after = purchase_order_line_receive(line=short, bin=bin, units=2, key="k-00000015")
    assert "was closed short, yet 2 of" in after.mismatch.detail
    assert ": 5 of 8 received." in after.mismatch.detail
    assert PurchaseOrder.objects.get(pk=short.po_id).status == "received"  # stays closed
    assert on_hand_total(sku=sku) == 6 and on_hand_total(sku=short.sku) == 5
    assert coverage_for_sku(sku=short.sku).in_transit == 0


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_receiving_against_an_order_not_on_its_way_is_refused(bin, sku, status):
    line = _open_line(sku, status=status)
    with pytest.raises(ReceiptRefused, match="nothing can be received"):
        purchase_order_line_receive(line=line, bin=bin, units=1, key="k-00000006")
    assert not StockMovement.objects.exists() and not Receipt.objects.exists()


def test_receiving_into_an_inactive_bin_or_for_a_retired_sku_changes_nothing(sku):
    line = _open_line(sku)
    with pytest.raises(ReceiptRefused, match="inactive") as refused:
        purchase_order_line_receive(
            line=line, bin=BinFactory(active=False), units=1, key="k-00000007"
        )
    assert refused.value.field == "bin"
    retired = _open_line(SkuFactory(active=False))
    with pytest.raises(ReceiptRefused, match="no longer in the catalog") as refused:
        purchase_order_line_receive(line=retired, bin=BinFactory(), units=1, key="k-00000008")
    assert refused.value.field == "sku"
    assert not StockMovement.objects.exists() and not Receipt.objects.exists()
    assert PurchaseOrderLine.objects.filter(received__gt=0).count() == 0


def test_closing_short_records_each_missing_line(bin, staff_user):
    po = PurchaseOrderFactory(status=PurchaseOrder.Status.SENT)
    short = PurchaseOrderLineFactory(po=po, ordered=10)
    full = PurchaseOrderLineFactory(po=po, ordered=3)
    purchase_order_line_receive(line=short, bin=bin, units=6, key="k-00000009")
    purchase_order_line_receive(line=full, bin=bin, units=3, key="k-00000010")

    po, recorded = purchase_order_close(po=po, actor=staff_user)

    assert po.status == PurchaseOrder.Status.RECEIVED
    assert [(d.sku, d.owner_value, d.consumer_value) for d in recorded] == [(short.sku, 10, 6)]
    assert recorded[0].kind == Discrepancy.Kind.RECEIPT_MISMATCH
    assert "closed short" in recorded[0].detail and "(4 never arrived)" in recorded[0].detail
    assert coverage_for_sku(sku=short.sku).in_transit == 0
    assert purchase_order_close(po=po) == (po, [])  # closing again records nothing more
    assert Discrepancy.objects.count() == 1


def test_purchase_order_send_cancel_and_edit_follow_the_status():
    draft = PurchaseOrderFactory(status="draft")
    line = PurchaseOrderLineFactory(po=draft, ordered=6)
    assert purchase_order_line_set(line=line, ordered=12).ordered == 12
    sent = purchase_order_send(po=draft)
    assert sent.status == "sent" and sent.sent_at is not None
    assert purchase_order_send(po=draft).sent_at == sent.sent_at  # twice: nothing changes
    with pytest.raises(ReplenishmentError, match="no longer edited"):
        purchase_order_line_set(line=line, ordered=1)
    assert purchase_order_cancel(po=draft).status == "cancelled"
    with pytest.raises(ReplenishmentError, match="only a draft is sent"):
        purchase_order_send(po=draft)
    with pytest.raises(ReplenishmentError, match="no lines"):
        purchase_order_send(po=PurchaseOrderFactory(status="draft"))


def test_an_order_with_receipts_is_closed_not_cancelled(bin):
    line = _open_line()
    purchase_order_line_receive(line=line, bin=bin, units=1, key="k-00000011")
    with pytest.raises(ReplenishmentError, match="close it instead"):
        purchase_order_cancel(po=line.po)
    assert PurchaseOrder.objects.get(pk=line.po_id).status == "partially_received"


def _empty_shelf_sku(policy_supplier, *, counted=True, **policy):
    sku = SkuFactory()
    if counted:
        shelf_counted(sku)
    ReorderPolicyFactory(
        sku=sku, supplier=policy_supplier, safety_stock_days=None, safety_stock_units=5, **policy
    )
    return sku


def test_purchase_order_draft_makes_one_order_per_supplier_from_fresh_numbers(manager_user):
    north, south = SupplierFactory(name="North"), SupplierFactory(name="South")
    a = _empty_shelf_sku(north, case_pack=4, lead_time_days=3)
    b = _empty_shelf_sku(north, lead_time_days=9)
    c = _empty_shelf_sku(south)
    stocked = _empty_shelf_sku(south)
    uncounted = _empty_shelf_sku(south, counted=False)
    on_hand_adjust(
        bin=BinFactory(),
        sku=stocked,
        delta=50,
        kind=Kind.RECEIVE,
        source_system=System.objects.get(name="shelf"),
        source_event_id="s",
    )

    result = purchase_order_draft(
        sku_ids=[a.pk, b.pk, c.pk, stocked.pk, uncounted.pk, 999999],
        request_key="draft-0001",
        actor=manager_user,
    )

    orders = {po.supplier.name: po for po in result.orders}
    assert sorted(orders) == ["North", "South"]
    lines = {
        (line.po.supplier.name, line.sku, line.ordered) for line in PurchaseOrderLine.objects.all()
    }
    assert lines == {("North", a, 8), ("North", b, 5), ("South", c, 5)}
    assert all(po.status == "draft" and po.number.startswith("PO-") for po in result.orders)
    assert orders["North"].expected_at == timezone.localdate() + timedelta(days=9)
    assert result.skipped == [stocked.code, "(unknown or inactive SKU)"]
    assert result.uncounted == [uncounted.code]  # its empty shelf is not a known 0

    again = purchase_order_draft(sku_ids=[a.pk], request_key="draft-0001", actor=manager_user)
    assert again.replayed and {po.pk for po in again.orders} == {po.pk for po in result.orders}
    assert PurchaseOrder.objects.count() == 2
    # A draft is not in transit, so the suggestion stands (and shows what is on the draft).
    cov = coverage_for_sku(sku=a)
    assert (cov.in_transit, cov.on_draft, cov.suggested) == (0, 8, 8)


def test_count_correction_on_the_shelf_changes_the_next_suggestion(bin, sku, shelf):
    """A count finds 6 of the 30 units missing: position drops 30 → 24, below the reorder
    point 26, and the very next read suggests an order — no refresh step in between."""
    window = coverage_window(now=timezone.now(), days=10)
    storefront = System.objects.get(name="storefront")
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=50,
        kind=Kind.RECEIVE,
        source_system=shelf,
        source_event_id="r",
        at=window.start - timedelta(days=1),
    )
    for day in range(10):
        on_hand_adjust(
            bin=bin,
            sku=sku,
            delta=-2,
            kind=Kind.SHIP,
            source_system=storefront,
            source_event_id=f"o-{day}",
            at=window.start + timedelta(days=day, hours=12),
        )
    ReorderPolicyFactory(
        sku=sku,
        lead_time_days=5,
        review_period_days=5,
        safety_stock_units=6,
        safety_stock_days=None,
        target_days=5,
        case_pack=10,
    )
    before = coverage_for_sku(sku=sku, window_days=10)
    assert (before.rate, before.position, before.reorder_point, before.suggested) == (
        2,
        30,
        26,
        None,
    )

    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=-6,
        kind=Kind.COUNT_ADJUST,
        source_system=shelf,
        source_event_id="count-1",
        note="counted 24",
    )

    after = coverage_for_sku(sku=sku, window_days=10)
    # Target 26 + 2 × 5 = 36; need 36 − 24 = 12 → cases of 10 → 20.
    assert (after.on_hand, after.position, after.suggested) == (24, 24, 20)


# --- ghost rows ---------------------------------------------------------------------------


@pytest.fixture
def count_requests(monkeypatch):
    """Count requests announced through inventory's hook (reconciliation's own)."""
    received: list[hooks.CountRequest] = []
    monkeypatch.setattr(hooks, "_count_subscribers", [received.append])
    return received


def _stock(bin, sku, units, event):
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=units,
        kind=Kind.RECEIVE,
        source_system=System.objects.get(name="shelf"),
        source_event_id=event,
    )


def test_ghost_rows_a_clean_shelf_yields_none(stocked_bin, sku, count_requests):
    ReorderPolicyFactory(sku=sku)
    _open_line(sku)
    report = ghost_rows_detect()
    assert (report.found, report.recorded) == (0, 0)
    assert not Discrepancy.objects.exists() and count_requests == []


def test_ghost_rows_stock_in_an_inactive_bin(count_requests):
    bin, sku = BinFactory(code="Z-01"), SkuFactory()
    _stock(bin, sku, 5, "g1")
    bin.active = False
    bin.save()

    report = ghost_rows_detect()

    d = Discrepancy.objects.get()
    assert (report.recorded, report.counts_requested) == (1, 1)
    assert (d.kind, d.fact, d.bin, d.sku, d.owner_value) == ("ghost_row", "on_hand", bin, sku, 5)
    assert "bin Z-01 is inactive" in d.detail and d.count_requested_at is not None
    assert [(r.sku, r.bins, r.trigger) for r in count_requests] == [(sku, [bin], "ghost_row")]


def test_ghost_rows_stock_for_a_sku_the_catalog_no_longer_has(bin, count_requests):
    sku = SkuFactory()
    _stock(bin, sku, 3, "g2")
    sku.active = False
    sku.save()

    ghost_rows_detect()

    d = Discrepancy.objects.get()
    assert (d.sku, d.bin) == (sku, bin)
    assert f"{sku.code} is no longer in the catalog" in d.detail
    assert len(count_requests) == 1


@pytest.mark.ledger_broken
def test_ghost_rows_a_balance_with_no_ledger_behind_it(bin, sku, count_requests):
    row = OnHandFactory(bin=bin, sku=sku)
    OnHand.objects.filter(pk=row.pk).update(quantity=7)  # written behind the ledger's back

    ghost_rows_detect()

    d = Discrepancy.objects.get()
    assert "no ledger movement put it there" in d.detail and d.owner_value == 7
    assert len(count_requests) == 1


def test_ghost_rows_po_lines_and_policies_for_retired_skus(count_requests):
    sku = SkuFactory(active=False)
    ReorderPolicyFactory(sku=sku)
    line = _open_line(sku, status="draft")
    _open_line(SkuFactory(active=False), status="received")  # finished: not a ghost

    report = ghost_rows_detect()

    rows = {d.reference: d for d in Discrepancy.objects.all()}
    assert sorted(rows) == [
        f"ghost:po-line:{line.po.number}:{sku.code}",
        f"ghost:policy:{sku.code}",
    ]
    assert all(d.fact == Fact.CATALOG and d.consumer.name == "replenishment" for d in rows.values())
    assert all(d.count_requested_at is None for d in rows.values())
    assert (report.found, report.counts_requested, count_requests) == (2, 0, [])


def test_ghost_rows_are_recorded_once_while_open(bin, count_requests):
    sku = SkuFactory()
    _stock(bin, sku, 2, "g3")
    sku.active = False
    sku.save()
    assert ghost_rows_detect().recorded == 1
    second = ghost_rows_detect()
    assert (second.found, second.recorded, second.already_open) == (1, 0, 1)
    assert Discrepancy.objects.count() == 1 and len(count_requests) == 1


def test_detect_ghost_rows_task_runs_the_detection(bin, count_requests):
    sku = SkuFactory(active=False)
    ReorderPolicyFactory(sku=sku)
    assert detect_ghost_rows_task() == {
        "found": 1,
        "recorded": 1,
        "counts_requested": 0,
        "already_open": 0,
    }
    assert Discrepancy.objects.filter(kind="ghost_row").count() == 1


def test_reorder_policy_needs_exactly_one_kind_of_safety_stock():
    for days, units in [(None, None), (3, 5)]:
        with pytest.raises(IntegrityError), transaction.atomic():
            ReorderPolicyFactory(safety_stock_days=days, safety_stock_units=units)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReorderPolicyFactory(case_pack=0)
    assert not ReorderPolicy.objects.exists()
