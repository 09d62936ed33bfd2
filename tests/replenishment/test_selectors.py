"""Coverage math against cases computed by hand (the numbers in each docstring)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import ShelfEvidence, StockMovement, System
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust
from replenishment.models import PurchaseOrder, ReorderPolicy
from replenishment.selectors import (
    coverage_for_sku,
    coverage_page,
    coverage_rows,
    coverage_window,
)
from replenishment.selectors.coverage import NOT_COUNTED_WHY
from tests.factories import BinFactory, CommitmentFactory, SkuFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    shelf_counted,
)

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db


class History:
    """Writes a SKU's past through the one write path, at the times it happened."""

    def __init__(self, *, now, days):
        self.now = now
        self.window = coverage_window(now=now, days=days)
        self.shelf = System.objects.get(name="shelf")
        self.storefront = System.objects.get(name="storefront")
        self.n = 0

    def at(self, day: float):
        """Day 0 is the window's first day; negative days are before the window."""
        return self.window.start + timedelta(days=day, hours=10)

    def move(self, bin, sku, delta, kind, day):
        self.n += 1
        source = self.storefront if kind == Kind.SHIP else self.shelf
        return on_hand_adjust(
            bin=bin,
            sku=sku,
            delta=delta,
            kind=kind,
            source_system=source,
            source_event_id=f"h-{self.n}",
            at=self.at(day),
        )

    def receive(self, bin, sku, units, day):
        return self.move(bin, sku, units, Kind.RECEIVE, day)

    def ship(self, bin, sku, units, day):
        return self.move(bin, sku, -units, Kind.SHIP, day)


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def history(now):
    return History(now=now, days=10)


def test_coverage_counts_only_in_stock_days_and_rounds_to_case_pack(history, now):
    """10-day window. 10 units arrive before it; ships 3, 3, 4 on days 0-2 empty the shelf;
    days 3, 4, 5 are stock-out days (no stock, no movement); 12 arrive on day 6; ships of 2
    on days 7 and 9. Shipped 14 over 7 in-stock days: rate 2/day.
    On-hand 8, committed 1, in transit 0: position 7, cover 3.5 days (< lead 5: urgent).
    Reorder point 2 × (5 + 2) + 4 units = 18; target 18 + 2 × 3 = 24; need 24 − 7 = 17,
    at least 10 → 17, whole cases of 6 → 18."""
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 10, -2)
    for day, units in [(0, 3), (1, 3), (2, 4)]:
        history.ship(bin, sku, units, day)
    history.receive(bin, sku, 12, 6)
    history.ship(bin, sku, 2, 7)
    history.ship(bin, sku, 2, 9)
    CommitmentFactory(sku=sku, quantity=1)
    ReorderPolicyFactory(
        sku=sku,
        lead_time_days=5,
        review_period_days=2,
        safety_stock_days=None,
        safety_stock_units=4,
        min_order_qty=10,
        case_pack=6,
        target_days=3,
    )

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.shipped, c.in_stock_days, c.rate) == (14, 7, 2.0)
    assert (c.on_hand, c.committed, c.in_transit, c.position) == (8, 1, 0, 7)
    assert c.days_of_cover == 3.5
    assert (c.safety_stock, c.reorder_point, c.target, c.raw_need) == (4, 18, 24, 17)
    assert (c.whole_need, c.suggested) == (17, 18)
    assert c.urgency_label == "urgent"
    why = "\n".join(c.why())
    assert "In stock on 7 of 10 days (3 stock-out days are not zero-demand days)." in why
    assert "Daily rate: 14 ÷ 7 = 2 units/day." in why
    assert "Reorder point: 2 × (5 + 2) + 4 = 18." in why
    assert "at least the minimum order 10 → 17; up to whole cases of 6 → 18." in why


def test_coverage_raises_a_small_need_to_the_minimum_order(history, now):
    """20 before the window, one shipped every day: rate 10 ÷ 10 = 1. On-hand 10,
    committed 4: position 6. Safety 2 d × 1 = 2; reorder point 1 × (3 + 2) + 2 = 7; target
    7 + 1 × 4 = 11; need 5, minimum 24 → 24, cases of 12 → 24. Cover 6 d ≥ lead 3: reorder."""
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 20, -3)
    for day in range(10):
        history.ship(bin, sku, 1, day)
    CommitmentFactory(sku=sku, quantity=4)
    ReorderPolicyFactory(
        sku=sku,
        lead_time_days=3,
        review_period_days=2,
        safety_stock_days=2,
        min_order_qty=24,
        case_pack=12,
        target_days=4,
    )

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.rate, c.position, c.reorder_point, c.target) == (1.0, 6, 7, 11)
    assert (c.whole_need, c.suggested, c.urgency_label) == (5, 24, "reorder")


def test_coverage_suggests_nothing_above_the_reorder_point(history, now):
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 20, -3)
    for day in range(10):
        history.ship(bin, sku, 1, day)
    ReorderPolicyFactory(sku=sku, lead_time_days=3, review_period_days=2, safety_stock_days=2)

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.position, c.reorder_point, c.suggested, c.urgency_label) == (10, 7, None, "ok")
    assert "Position 10 is above the reorder point 7: nothing to order yet." in c.why()


def test_coverage_counts_a_day_in_stock_when_any_bin_holds_the_sku(history, now):
    """Bin 1 empties on day 1 but bin 2 holds stock all along: all 10 days are in stock."""
    bin1, bin2, sku = BinFactory(), BinFactory(), SkuFactory()
    history.receive(bin1, sku, 2, -1)
    history.receive(bin2, sku, 3, -1)
    history.ship(bin1, sku, 2, 1)
    history.ship(bin2, sku, 1, 8)

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.shipped, c.in_stock_days, c.on_hand) == (3, 10, 2)


def test_coverage_nets_cancelled_put_backs_and_ignores_today(history, now):
    """Shipped 5, 2 put back on cancellation: 3 shipped. Today's ship is not in the window
    (today is not over) but it is in on-hand: 20 − 5 + 2 − 4 = 13."""
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 20, -1)
    history.ship(bin, sku, 5, 4)
    history.move(bin, sku, 2, Kind.SHIP, 5)  # a cancellation puts units back
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=-4,
        kind=Kind.SHIP,
        source_system=history.storefront,
        source_event_id="today",
    )

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.shipped, c.in_stock_days, c.on_hand) == (3, 10, 13)


def test_coverage_a_day_that_starts_empty_and_receives_is_in_stock(history, now):
    """Nothing before the window; 6 arrive on day 4: days 0-3 are stock-out days."""
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 6, 4)
    history.ship(bin, sku, 6, 5)

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    # Days 4 and 5 had movements; 6-9 empty and quiet: 2 in-stock days, 3 per day.
    assert (c.in_stock_days, c.shipped, c.rate) == (2, 6, 3.0)


def test_coverage_with_zero_demand_suggests_only_the_safety_units(history, now):
    """No sales: rate 0, no cover figure. Days-based safety is then 0 and a stocked SKU
    needs nothing; a units-based safety stock of 3 on an empty shelf orders 3 → cases of 5."""
    bin, stocked, empty = BinFactory(), SkuFactory(), SkuFactory()
    history.receive(bin, stocked, 5, -4)
    shelf_counted(empty)
    ReorderPolicyFactory(sku=stocked, safety_stock_days=3)
    ReorderPolicyFactory(
        sku=empty, safety_stock_days=None, safety_stock_units=3, case_pack=5, min_order_qty=1
    )

    rows = {c.sku_id: c for c in coverage_rows(now=now, window_days=10)}

    c = rows[stocked.pk]
    assert (c.rate, c.in_stock_days, c.days_of_cover, c.reorder_point, c.suggested) == (
        0.0,
        10,
        None,
        0,
        None,
    )
    assert "Days of cover: no demand, so it does not run out (∞)." in c.why()
    e = rows[empty.pk]
    assert (e.in_stock_days, e.reorder_point, e.target, e.suggested) == (0, 3, 3, 5)
    assert "In stock on 0 of 10 days: no demand data, daily rate 0." in e.why()


def test_coverage_uses_the_default_policy_and_says_when_there_is_none(history, now):
    bin, sku = BinFactory(), SkuFactory()
    history.receive(bin, sku, 3, -1)
    for day in range(3):
        history.ship(bin, sku, 1, day)

    c = coverage_for_sku(sku=sku, now=now, window_days=10)
    assert (c.policy_id, c.suggested, c.urgency_label) == (None, None, "no policy")
    assert any("No reorder policy for this SKU and no default policy" in line for line in c.why())

    default = ReorderPolicyFactory(
        sku=None,
        lead_time_days=2,
        review_period_days=1,
        safety_stock_days=1,
        target_days=2,
        case_pack=1,
    )
    c = coverage_for_sku(sku=sku, now=now, window_days=10)
    # 3 shipped over 3 in-stock days (empty from day 3): rate 1; ROP 1 × 3 + 1 = 4, target 6.
    assert (c.policy_id, c.own_policy, c.supplier_name) == (
        default.pk,
        False,
        default.supplier.name,
    )
    assert (c.in_stock_days, c.rate, c.reorder_point, c.suggested) == (3, 1.0, 4, 6)
    assert "Policy (the default policy)" in "\n".join(c.why())


def test_coverage_counts_open_purchase_orders_as_in_transit(history, now):
    """Sent: 10 ordered, 4 received → 6 in transit; a draft is on order only once sent;
    a cancelled or closed order is not in transit; an over-received line counts 0."""
    sku = SkuFactory()
    shelf_counted(sku)
    PurchaseOrderLineFactory(sku=sku, ordered=10, received=4)
    PurchaseOrderLineFactory(sku=sku, ordered=7, po=PurchaseOrderFactory(status="draft"))
    PurchaseOrderLineFactory(sku=sku, ordered=9, po=PurchaseOrderFactory(status="cancelled"))
    PurchaseOrderLineFactory(
        sku=sku,
        ordered=5,
        received=2,
        po=PurchaseOrderFactory(status=PurchaseOrder.Status.RECEIVED),
    )
    PurchaseOrderLineFactory(
        sku=sku, ordered=3, received=5, po=PurchaseOrderFactory(status="partially_received")
    )

    c = coverage_for_sku(sku=sku, now=now, window_days=10)

    assert (c.in_transit, c.on_draft, c.position) == (6, 7, 6)


def test_coverage_of_a_sku_the_shelf_has_not_counted_is_unknown_not_zero(history, now):
    """Two SKUs with the same past and the same policy: 6 returned before the window, 1
    shipped a day on days 0-4, 1 left: in stock all 10 days, 0.5/day. The counted one:
    position 1, cover 2 days (urgent: below 0.5 × 7 lead days), reorder point
    0.5 × (7 + 7) + 2 = 9, target 9 + 0.5 × 14 = 16, need 15 → 15. The one nobody has
    counted has the same ledger, but no position, cover, need, suggestion or urgency."""
    bin, counted, uncounted = BinFactory(), SkuFactory(code="KNOWN"), SkuFactory(code="NEW")
    for sku in (counted, uncounted):
        history.move(bin, sku, 6, Kind.RETURN_RESTOCK, -1)  # a return proves nothing
        for day in range(5):
            history.ship(bin, sku, 1, day)
        ReorderPolicyFactory(sku=sku, safety_stock_days=None, safety_stock_units=2)
    shelf_counted(counted, kind=ShelfEvidence.Kind.COUNT)

    rows = {c.code: c for c in coverage_rows(now=now, window_days=10)}

    known, unknown = rows["KNOWN"], rows["NEW"]
    assert known.known and not unknown.known
    for c in (known, unknown):  # the ledger's facts are the same for both
        assert (c.on_hand, c.shipped, c.in_stock_days, c.rate) == (1, 5, 10, 0.5)
        assert (c.reorder_point, c.target) == (9, 16)
    assert (known.position, known.days_of_cover, known.raw_need, known.suggested) == (1, 2, 15, 15)
    assert known.urgency_label == "urgent"
    assert (unknown.position, unknown.days_of_cover, unknown.raw_need) == (None, None, None)
    assert (unknown.whole_need, unknown.suggested) == (None, None)
    assert unknown.urgency_label == "not yet counted"
    why = unknown.why()
    assert NOT_COUNTED_WHY in why and not any(line.startswith("Position") for line in why)
    assert [c.code for c in coverage_rows(now=now, window_days=10, needed_only=True)] == ["KNOWN"]
    only = coverage_rows(now=now, window_days=10, uncounted_only=True)
    assert [c.code for c in only] == ["NEW"]
    assert ledger_mismatches() == []


def test_coverage_leaves_out_skus_the_catalog_no_longer_has(now):
    sku = SkuFactory(active=False)
    assert coverage_for_sku(sku=sku, now=now) is None


def test_coverage_rows_filter_by_supplier_sort_and_need(history, now):
    bin = BinFactory()
    fast, slow, idle = SkuFactory(code="FAST"), SkuFactory(code="SLOW"), SkuFactory(code="IDLE")
    history.receive(bin, fast, 30, -1)
    history.receive(bin, slow, 30, -1)
    history.receive(bin, idle, 30, -1)
    for day in range(10):
        history.ship(bin, fast, 2, day)  # 10 left, 2/day: 5 days of cover
    history.ship(bin, slow, 20, 0)  # 10 left, 2/day: 5 days of cover too, but…
    history.ship(bin, slow, 5, 1)  # …5 left at 2.5/day: 2 days
    a = ReorderPolicyFactory(sku=fast, lead_time_days=2, review_period_days=2, safety_stock_days=1)
    ReorderPolicyFactory(sku=slow, lead_time_days=3, review_period_days=1, safety_stock_days=1)
    ReorderPolicyFactory(sku=idle, supplier=a.supplier)

    by_cover = coverage_rows(now=now, window_days=10, sort="cover")
    assert [c.code for c in by_cover] == ["SLOW", "FAST", "IDLE"]
    needed = coverage_rows(now=now, window_days=10, needed_only=True)
    assert [(c.code, c.urgency_label) for c in needed] == [("SLOW", "urgent"), ("FAST", "reorder")]
    mine = coverage_rows(now=now, window_days=10, supplier_id=a.supplier_id, sort="code")
    assert [c.code for c in mine] == ["FAST", "IDLE"]


@pytest.mark.parametrize("sort", ["urgency", "cover", "code"])
def test_a_whole_catalog_sorted_here_is_in_the_servers_order(history, now, sort):
    """coverage_rows sorts every row in Python; paging and the CSV sort on the server."""
    from replenishment.selectors import coverage_iter

    bin = BinFactory()
    for n, (stock, sold) in enumerate([(30, 2), (30, 0), (9, 3), (40, 2), (5, 5), (12, 1)]):
        for twin in "AB":  # equal figures: the code decides
            sku = SkuFactory(code=f"{twin}-{n}")
            history.receive(bin, sku, stock, -1)
            for day in range(sold):
                history.ship(bin, sku, 1, day)
            if n % 2:
                ReorderPolicyFactory(sku=sku, lead_time_days=1 + n, safety_stock_days=1)
    for twin in "AB":  # never counted: no urgency, no cover, after every counted SKU
        sku = SkuFactory(code=f"{twin}-0-uncounted")
        history.move(bin, sku, 3, Kind.RETURN_RESTOCK, -1)
        ReorderPolicyFactory(sku=sku, safety_stock_days=1)
    rows = coverage_rows(now=now, sort=sort)  # the default window, as coverage_iter's
    served = list(coverage_iter(now=now, needed_only=False, sort=sort))
    assert [c.code for c in rows] == [c.code for c in served]
    assert len({c.urgency for c in rows}) > 1 and any(c.days_of_cover is None for c in rows)
    if sort != "code":
        assert [c.code for c in rows[-2:]] == ["A-0-uncounted", "B-0-uncounted"]
    page = coverage_page(now=now, needed_only=False, sort=sort, per_page=5)
    assert [c.code for c in page] == [c.code for c in rows[:5]]


def test_each_read_drops_its_staged_inputs(history, now):
    """The per-SKU inputs live in a temporary table for one read: reads in a row, in one
    transaction, each make their own; a CSV stream keeps its table while it is read and
    drops it at the end; none is left on the connection afterwards."""
    from django.db import connection

    from replenishment.selectors import coverage_iter, coverage_page
    from replenishment.selectors.coverage import INPUTS

    bin = BinFactory()
    for n in range(3):
        history.receive(bin, SkuFactory(code=f"S-{n}"), 5, 1)

    def staged() -> bool:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"pg_temp.{INPUTS}"])
            else:
                cursor.execute("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = %s", [INPUTS])
            return bool(cursor.fetchone()[0])

    assert len(coverage_rows(now=now)) == len(coverage_rows(now=now)) == 3
    assert coverage_page(now=now, needed_only=False).count == 3
    assert not staged()
    rows = coverage_iter(now=now, needed_only=False)
    assert next(rows).code
    assert staged()  # while the stream is open
    list(rows)
    assert not staged()


def test_coverage_window_is_the_whole_days_before_today(now):
    window = coverage_window(now=now, days=28)
    assert window.end == timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    assert window.start == window.end - timedelta(days=28)
    assert (window.last_day - window.first_day).days == 27


def test_coverage_rejects_two_default_policies(db):
    from django.db import IntegrityError, transaction

    ReorderPolicyFactory(sku=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReorderPolicyFactory(sku=None)
    assert ReorderPolicy.objects.filter(sku=None).count() == 1
