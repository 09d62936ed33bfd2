"""Adoption: a storefront that already sells joins OneFact without losing a sale.

An owner that has never counted is a gap, not a zero: a new storefront is observed (read,
compared, never written); a SKU's shelf number is believed only once the shelf has evidence
for it; going live is a manager's decision on a preview; a circuit breaker holds any run
that would zero many SKUs or cut many units at once.
"""

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction

from inventory import hooks, selectors
from inventory.exceptions import InvalidMovement
from inventory.models import (
    CorrectionBatch,
    Discrepancy,
    InboxEvent,
    ShelfEvidence,
    Sku,
    StockMovement,
    SyncLog,
    SyncModeChange,
    System,
)
from inventory.services import (
    catalog_pull,
    correction_batch_cancel,
    correction_batch_release,
    inbox_process,
    on_hand_adjust,
    shelf_evidence_record,
    storefront_go_live,
    storefront_mode_set,
    storefront_push,
    storefront_reconcile,
)
from inventory.storefront.demo.adapter import DemoAdapter
from inventory.storefront.demo.models import DemoLevel
from tests.factories import BinFactory, SkuFactory

pytestmark = pytest.mark.usefixtures("ledger_clean")

Kind = StockMovement.Kind
Status = CorrectionBatch.Status

# A store that already sells: 50 SKUs, 647 units.
CODES = [f"SHOP-{i:03}" for i in range(50)]
STOCK = dict(zip(CODES, [(i * 7) % 23 + 2 for i in range(49)] + [0], strict=True))
STOCK[CODES[-1]] = 647 - sum(STOCK.values())


@pytest.fixture
def requested(monkeypatch):
    seen: list[hooks.CountRequest] = []
    monkeypatch.setattr(hooks, "_count_subscribers", [seen.append])
    return seen


@pytest.fixture
def writes(monkeypatch):
    """Every call the demo storefront's adapter gets to set levels (the real method runs)."""
    calls: list[list] = []
    real = DemoAdapter.set_levels

    def counted(self, batch):
        calls.append([(w.sku, w.quantity) for w in batch])
        return real(self, batch)

    monkeypatch.setattr(DemoAdapter, "set_levels", counted)
    return calls


def _observe(system: System) -> System:
    System.objects.filter(pk=system.pk).update(sync_mode=System.SyncMode.OBSERVE)
    system.refresh_from_db()
    return system


def _store(storefront: System) -> dict[str, Sku]:
    """The demo storefront already sells STOCK; OneFact's catalog is pulled from it."""
    DemoLevel.objects.bulk_create(
        [DemoLevel(sku_code=c, title=f"Item {c}", quantity=q) for c, q in STOCK.items()]
    )
    catalog_pull(storefront=storefront)
    return {s.code: s for s in Sku.objects.filter(code__in=CODES)}


def _demo_units() -> int:
    return sum(DemoLevel.objects.values_list("quantity", flat=True))


def _count(sku: Sku, bin, counted: int) -> None:
    """The shelf counts ``sku`` in ``bin``: a count adjustment to the counted number, and
    the evidence that makes the SKU known."""
    current = sum(sku.balances.filter(bin=bin).values_list("quantity", flat=True))
    if counted != current:
        on_hand_adjust(bin=bin, sku=sku, delta=counted - current, kind=Kind.COUNT_ADJUST,
                       source_system=System.objects.get(name="shelf"),
                       source_event_id=f"count-{sku.code}-{bin.code}-{counted}")  # fmt: skip
    shelf_evidence_record(
        skus=[sku],
        kind=ShelfEvidence.Kind.COUNT if counted else ShelfEvidence.Kind.ZERO,
        reference=f"count of {bin.code}",
    )


def _live_store(storefront, shelf, bin) -> dict[str, Sku]:
    """A live demo storefront whose 50 SKUs are all counted and in step with the shelf."""
    skus = _store(storefront)
    for code, quantity in STOCK.items():
        _count(skus[code], bin, quantity)
    storefront_push(storefront=storefront)
    assert _demo_units() == 647
    return skus


# --- observe mode ---------------------------------------------------------------------


def test_a_new_storefront_starts_in_observe_mode(db):
    system = System.objects.create(name="new-shop", kind=System.Kind.STOREFRONT, adapter="demo")
    assert system.sync_mode == System.SyncMode.OBSERVE


def test_observed_storefront_is_read_and_recorded_never_written(storefront, requested, writes):
    _observe(storefront)
    _store(storefront)
    for _ in range(3):
        report = storefront_reconcile(storefront=storefront)
    assert _demo_units() == 647 and writes == []
    assert report.not_yet_counted == 50 and report.corrected == 0
    uncounted = Discrepancy.objects.filter(kind=Discrepancy.Kind.NOT_YET_COUNTED)
    assert uncounted.count() == 50  # once per SKU, however many runs
    row = uncounted.get(sku__code="SHOP-001")
    assert row.detail == (
        f"storefront says {STOCK['SHOP-001']}, the shelf has not counted SHOP-001 yet; "
        "nothing is corrected until it is counted."
    )
    assert (row.consumer_value, row.owner_value, row.correction, row.winner) == (
        STOCK["SHOP-001"], 0, None, None
    )  # fmt: skip
    assert requested == []  # the opening stock-take asks for the counts, not every run


def test_observed_storefront_gap_of_a_known_sku_is_labelled_before_go_live(
    storefront, bin, requested, writes
):
    _observe(storefront)
    skus = _store(storefront)
    _count(skus["SHOP-001"], bin, STOCK["SHOP-001"] - 4)
    storefront_reconcile(storefront=storefront)
    gap = Discrepancy.objects.get(kind=Discrepancy.Kind.STOREFRONT_GAP)
    assert gap.detail.endswith("shelf owns on-hand. Before go-live: nothing is corrected yet.")
    assert gap.corrected_at is None and gap.count_requested_at is None
    assert writes == [] and requested == []
    assert DemoLevel.objects.get(sku_code="SHOP-001").quantity == STOCK["SHOP-001"]


def test_observed_storefront_orders_become_commitments_and_nothing_is_written_back(
    storefront, bin, writes, django_capture_on_commit_callbacks
):
    from inventory.storefront.demo.services import demo_order_place

    _observe(storefront)
    skus = _store(storefront)
    _count(skus["SHOP-002"], bin, 3)
    with django_capture_on_commit_callbacks(execute=False):
        demo_order_place(lines=[("SHOP-002", 2)])
    for event in InboxEvent.objects.filter(status=InboxEvent.Status.PENDING):
        inbox_process(pk=event.pk)  # what the worker does with the stored event
    assert selectors.availability_for_sku(sku=skus["SHOP-002"]).committed == 2
    report = storefront_push(storefront=storefront)
    assert report.error == "observe mode: nothing is written back" and writes == []


# --- authority is earned per SKU -------------------------------------------------------


def test_a_live_storefront_never_gets_an_uncounted_skus_number(
    storefront, shelf, bin, requested, writes
):
    skus = _store(storefront)  # live (the test world's default), nothing counted
    report = storefront_reconcile(storefront=storefront)
    assert report.counts_requested == 50 and report.corrected == 0
    assert {r.sku.code for r in requested} == set(CODES)
    row = Discrepancy.objects.get(kind=Discrepancy.Kind.NOT_YET_COUNTED, sku__code="SHOP-003")
    assert row.detail.endswith(
        "an opening count is asked for; nothing is corrected until it is counted."
    )
    on_hand_adjust(bin=bin, sku=skus["SHOP-003"], delta=1, kind=Kind.RECEIVE,
                   source_system=shelf, source_event_id="r-1")  # fmt: skip
    assert not selectors.sku_is_known(sku=skus["SHOP-003"])  # the store holds some
    storefront_push(storefront=storefront)
    storefront_reconcile(storefront=storefront)
    assert _demo_units() == 647 and writes == []
    row.refresh_from_db()
    assert (row.owner_value, row.consumer_value) == (1, STOCK["SHOP-003"])


def test_a_first_receipt_before_the_storefront_was_read_is_checked_at_the_storefront(
    storefront, shelf, bin, requested, writes
):
    skus = _store(storefront)  # never reconciled: OneFact has not seen the store's numbers
    on_hand_adjust(bin=bin, sku=skus["SHOP-003"], delta=1, kind=Kind.RECEIVE,
                   source_system=shelf, source_event_id="r-1")  # fmt: skip
    assert selectors.sku_is_known(sku=skus["SHOP-003"])  # assumed new to both sides
    storefront_push(storefront=storefront)  # compare-and-set against 0: the store says 23
    assert _demo_units() == 647 and writes == [[("SHOP-003", 1)]]
    assert not selectors.sku_is_known(sku=skus["SHOP-003"])
    row = Discrepancy.objects.get(kind=Discrepancy.Kind.NOT_YET_COUNTED)
    assert (row.owner_value, row.consumer_value) == (1, STOCK["SHOP-003"])
    assert "its first receipt (1) was taken for the whole stock" in row.detail
    assert [r.sku.code for r in requested] == ["SHOP-003"]
    storefront_reconcile(storefront=storefront)
    assert _demo_units() == 647 and len(writes) == 1


def test_counting_a_sku_makes_it_known_and_its_number_reaches_the_live_storefront(
    storefront, bin, writes
):
    skus = _store(storefront)
    storefront_reconcile(storefront=storefront)
    _count(skus["SHOP-004"], bin, 1)
    storefront_push(storefront=storefront)
    assert DemoLevel.objects.get(sku_code="SHOP-004").quantity == 1
    assert writes == [[("SHOP-004", 1)]]
    row = Discrepancy.objects.get(kind=Discrepancy.Kind.NOT_YET_COUNTED, sku__code="SHOP-004")
    assert (row.status, row.resolution) == ("resolved", "count")


def test_first_receipt_of_a_sku_new_to_both_sides_is_the_whole_truth(storefront, shelf, writes):
    sku = SkuFactory(code="NEW-1")
    on_hand_adjust(bin=BinFactory(), sku=sku, delta=6, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="po-1")  # fmt: skip
    assert ShelfEvidence.objects.get(sku=sku).kind == ShelfEvidence.Kind.FIRST_RECEIPT
    storefront_push(storefront=storefront)
    assert writes == [[("NEW-1", 6)]]


def test_receipts_into_a_sku_already_held_somewhere_do_not_make_it_known(db, shelf):
    sku = SkuFactory(code="OLD-1")
    first, second = BinFactory(), BinFactory()
    on_hand_adjust(bin=first, sku=sku, delta=2, kind=Kind.RETURN_RESTOCK, source_system=shelf,
                   source_event_id="ret-1")  # fmt: skip
    on_hand_adjust(bin=second, sku=sku, delta=5, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="po-2")  # fmt: skip
    assert not selectors.sku_is_known(sku=sku)


def test_a_receipt_of_a_sku_a_storefront_was_seen_holding_is_not_the_whole_truth(
    storefront, shelf, bin
):
    skus = _store(storefront)
    storefront_reconcile(storefront=storefront)  # the store was seen holding SHOP-005
    on_hand_adjust(bin=bin, sku=skus["SHOP-005"], delta=3, kind=Kind.RECEIVE,
                   source_system=shelf, source_event_id="po-3")  # fmt: skip
    assert not selectors.sku_is_known(sku=skus["SHOP-005"])


# --- the go-live switch ------------------------------------------------------------------


def _thirty_counted(skus, bin) -> dict[str, int]:
    """30 SKUs counted: some above the storefront's number, some below, one at zero."""
    counted = {}
    for i, code in enumerate(CODES[:30]):
        counted[code] = 0 if i == 0 else STOCK[code] + (2 if i % 2 else -1)
        counted[code] = max(counted[code], 0)
    counted[CODES[1]] = STOCK[CODES[1]] + 5
    for code, quantity in counted.items():
        _count(skus[code], bin, quantity)
    return counted


def test_go_live_preview_lists_exactly_the_counted_changes_and_confirming_sends_them(
    storefront, bin, manager_user, requested, writes
):
    _observe(storefront)
    skus = _store(storefront)
    for _ in range(3):
        storefront_reconcile(storefront=storefront)
    counted = {c: q for c, q in _thirty_counted(skus, bin).items() if q != STOCK[c]}
    assert len(counted) == 30 and _demo_units() == 647 and writes == []

    storefront_reconcile(storefront=storefront, preview=True)
    preview = selectors.preview_for(storefront=storefront)
    planned = {code: (value, expected) for _, code, value, expected in preview.writes}
    assert planned == {c: (q, STOCK[c]) for c, q in counted.items()}
    assert preview.skus_zeroed == 1
    assert preview.skus_raised + preview.skus_lowered == 30
    assert preview.units_up - preview.units_down == sum(counted.values()) - sum(
        STOCK[c] for c in counted
    )
    assert preview.figures["storefront_skus_known"] == 30

    report = storefront_go_live(storefront=storefront, preview=preview, actor=manager_user,
                                reason="opening count done")  # fmt: skip
    storefront.refresh_from_db()
    assert storefront.sync_mode == System.SyncMode.LIVE and report.applied == 30
    levels = dict(DemoLevel.objects.values_list("sku_code", "quantity"))
    assert {c: levels[c] for c in counted} == counted
    assert {c: levels[c] for c in CODES[30:]} == {c: STOCK[c] for c in CODES[30:]}
    gaps = Discrepancy.objects.filter(kind=Discrepancy.Kind.STOREFRONT_GAP)
    assert sorted(gaps.values_list("sku__code", flat=True)) == sorted(counted)
    assert all(g.correction == counted[g.sku.code] and g.corrected_at for g in gaps)
    waiting = Discrepancy.objects.open().filter(kind=Discrepancy.Kind.NOT_YET_COUNTED)
    assert sorted(waiting.values_list("sku__code", flat=True)) == CODES[30:]
    preview.refresh_from_db()
    assert (preview.status, preview.decided_by) == (Status.SENT, manager_user)
    change = SyncModeChange.objects.get(system=storefront)
    assert (change.before, change.after, change.changed_by, change.reason) == (
        "observe", "live", manager_user, "Go live: opening count done"
    )  # fmt: skip


def test_going_live_on_a_superseded_preview_is_refused(storefront, bin, manager_user):
    _observe(storefront)
    _store(storefront)
    storefront_reconcile(storefront=storefront, preview=True)
    old = selectors.preview_for(storefront=storefront)
    storefront_reconcile(storefront=storefront, preview=True)
    with pytest.raises(InvalidMovement, match="no longer current"):
        storefront_go_live(storefront=storefront, preview=old, actor=manager_user, reason="go")
    storefront.refresh_from_db()
    assert storefront.sync_mode == System.SyncMode.OBSERVE


def test_switching_mode_needs_a_reason_and_is_audited(storefront, admin_user):
    _observe(storefront)
    with pytest.raises(InvalidMovement, match="needs a reason"):
        storefront_mode_set(storefront=storefront, mode="live", reason=" ", actor=admin_user)
    assert not SyncModeChange.objects.exists()
    change = storefront_mode_set(storefront=storefront, mode="live", reason="checked by hand",
                                 actor=admin_user)  # fmt: skip
    assert (change.before, change.after, change.changed_by) == ("observe", "live", admin_user)
    assert storefront_mode_set(storefront=storefront, mode="live", reason="again",
                               actor=admin_user) is None  # fmt: skip


def test_only_storefronts_have_a_sync_mode(shelf, admin_user):
    with pytest.raises(InvalidMovement, match="not a storefront"):
        storefront_mode_set(storefront=shelf, mode="live", reason="why not", actor=admin_user)


# --- the circuit breaker -----------------------------------------------------------------


def test_breaker_holds_a_reconciliation_that_would_cut_the_storefront(
    storefront, shelf, bin, manager_user, requested, writes
):
    _live_store(storefront, shelf, bin)
    writes.clear()
    for code in CODES[:20]:  # a storefront-side bug: twenty numbers tripled
        DemoLevel.objects.filter(sku_code=code).update(quantity=3 * STOCK[code] + 3)
    report = storefront_reconcile(storefront=storefront)
    assert writes == [] and report.corrected == 0 and report.held == 20
    batch = selectors.held_batch_for(storefront=storefront)
    assert batch.origin == "reconcile" and len(batch.writes) == 20
    assert batch.reason.startswith("Corrections to storefront paused: this run would lower")
    assert batch.reason.endswith("Review, then release or cancel.")
    assert Discrepancy.objects.open().filter(kind="storefront_gap").count() == 20  # recorded

    again = storefront_reconcile(storefront=storefront)  # paused: still nothing sent
    assert writes == [] and again.held == 20
    assert CorrectionBatch.objects.filter(status=Status.HELD).count() == 1

    correction_batch_release(batch=batch, actor=manager_user, note="checked: storefront bug")
    assert writes == [[(c, STOCK[c]) for c in CODES[:20]]]  # exactly the batch, once
    released = SyncLog.objects.order_by("-id")[:20].values_list("kind", flat=True)
    assert set(released) == {SyncLog.Kind.BATCH}  # its wait for a manager is not a sync lag
    assert _demo_units() == 647
    with pytest.raises(InvalidMovement, match="sent already"):
        correction_batch_release(batch=batch, actor=manager_user, note="again")
    assert len(writes) == 1
    assert not Discrepancy.objects.open().filter(kind="storefront_gap", count_requested_at=None)


def test_breaker_trips_on_a_run_that_would_zero_many_skus(storefront, shelf, bin, writes):
    _live_store(storefront, shelf, bin)
    writes.clear()
    with transaction.atomic():  # a bad stock-take: 25 SKUs "counted" at zero in one go
        for code in CODES[:25]:
            _count(Sku.objects.get(code=code), bin, 0)
    report = storefront_push(storefront=storefront)
    assert writes == [] and report.error == "paused: the circuit breaker held this batch"
    batch = selectors.held_batch_for(storefront=storefront)
    assert (batch.origin, batch.skus_zeroed) == ("push", 25)
    assert "would zero 25 SKUs (50 %)" in batch.reason


def test_a_single_movement_is_never_held(storefront, shelf, bin, writes):
    skus = _live_store(storefront, shelf, bin)
    writes.clear()
    code = max(STOCK, key=STOCK.get)  # the largest: well over a fifth of the units? no matter
    on_hand_adjust(bin=bin, sku=skus[code], delta=-STOCK[code], kind=Kind.DAMAGE,
                   source_system=shelf, source_event_id="dmg-1")  # fmt: skip
    storefront_push(storefront=storefront)
    assert writes == [[(code, 0)]] and selectors.held_batch_for(storefront=storefront) is None


def test_release_sends_the_fresh_number_where_the_shelf_moved_since(
    storefront, shelf, bin, manager_user, writes
):
    skus = _live_store(storefront, shelf, bin)
    writes.clear()
    for code in CODES[:20]:
        DemoLevel.objects.filter(sku_code=code).update(quantity=3 * STOCK[code] + 3)
    storefront_reconcile(storefront=storefront)
    batch = selectors.held_batch_for(storefront=storefront)
    on_hand_adjust(bin=bin, sku=skus[CODES[1]], delta=1, kind=Kind.RECEIVE, source_system=shelf,
                   source_event_id="late-receipt")  # fmt: skip
    storefront_push(storefront=storefront)  # paused: the receipt waits too
    assert writes == []
    correction_batch_release(batch=batch, actor=manager_user, note="ok")
    sent = dict(writes[0])
    assert sent[CODES[1]] == STOCK[CODES[1]] + 1 and len(sent) == 20
    storefront_push(storefront=storefront)  # what waited while paused
    assert DemoLevel.objects.get(sku_code=CODES[1]).quantity == STOCK[CODES[1]] + 1


def test_cancel_sends_nothing_and_returns_the_storefront_to_observe(
    storefront, shelf, bin, manager_user, writes
):
    _live_store(storefront, shelf, bin)
    writes.clear()
    for code in CODES[:20]:
        DemoLevel.objects.filter(sku_code=code).update(quantity=3 * STOCK[code] + 3)
    storefront_reconcile(storefront=storefront)
    batch = selectors.held_batch_for(storefront=storefront)
    with pytest.raises(InvalidMovement, match="Say why"):
        correction_batch_cancel(batch=batch, actor=manager_user, note="")
    correction_batch_cancel(batch=batch, actor=manager_user, note="storefront import is wrong")
    storefront.refresh_from_db()
    assert storefront.sync_mode == System.SyncMode.OBSERVE and writes == []
    batch.refresh_from_db()
    assert (batch.status, batch.decided_by, batch.decision_note) == (
        Status.CANCELLED, manager_user, "storefront import is wrong"
    )  # fmt: skip
    assert Discrepancy.objects.open().filter(kind="storefront_gap").count() == 20
    assert SyncModeChange.objects.get(system=storefront).reason == (
        "Held corrections cancelled: storefront import is wrong"
    )


# --- the migration ------------------------------------------------------------------------


def _adopt():
    migration = importlib.import_module("inventory.migrations.0013_storefront_adoption")
    migration.adopt_existing(django_apps, connection.schema_editor())


def test_migration_keeps_a_database_with_shelf_history_live(storefront, stocked_bin, sku):
    _observe(storefront)
    ShelfEvidence.objects.all().delete()
    _adopt()
    storefront.refresh_from_db()
    assert storefront.sync_mode == System.SyncMode.LIVE
    assert ShelfEvidence.objects.get(sku=sku).kind == ShelfEvidence.Kind.ADOPTED
    assert SyncModeChange.objects.get(system=storefront).changed_by is None


def test_migration_leaves_a_database_without_history_observing(storefront, sku):
    _observe(storefront)
    _adopt()
    storefront.refresh_from_db()
    assert storefront.sync_mode == System.SyncMode.OBSERVE and not ShelfEvidence.objects.exists()
