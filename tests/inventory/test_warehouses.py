"""Warehouses: every bin is in one, every sum of on-hand can be taken per warehouse or in
total, and a database from before warehouses migrates to one default warehouse with no
number changed."""

import random

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from inventory import selectors
from inventory.admin import BinAdminForm, WarehouseAdminForm
from inventory.exceptions import BinCodeInvalid, MovementRefused
from inventory.models import Bin, OwnershipChange, StockMovement, System, Warehouse
from inventory.services import bin_create, on_hand_adjust, warehouse_owner_set
from inventory.services.imports import REJECT, SKIP, ImportRejected, bins_import
from tests.factories import BinFactory, SkuFactory, WarehouseFactory

Kind = StockMovement.Kind
BEFORE_WAREHOUSES = ("inventory", "0019_discrepancy_dashboard_indexes")


def _receive(bin, sku, units, shelf, event):
    return on_hand_adjust(
        bin=bin, sku=sku, delta=units, kind=Kind.RECEIVE, source_system=shelf, source_event_id=event
    )


@pytest.fixture
def two_warehouses(db, shelf):
    """SKU-1: 10 in MAIN's A-14 and 2 in MAIN's A-15, 5 in WH-2's B-01; SKU-2 only in WH-2."""
    wh2 = WarehouseFactory(code="WH-2", name="Back room")
    one, two = SkuFactory(code="SKU-1"), SkuFactory(code="SKU-2")
    a14, a15 = BinFactory(code="A-14"), BinFactory(code="A-15")
    b01 = BinFactory(code="B-01", warehouse=wh2)
    _receive(a14, one, 10, shelf, "r1")
    _receive(a15, one, 2, shelf, "r2")
    _receive(b01, one, 5, shelf, "r3")
    _receive(b01, two, 7, shelf, "r4")
    return selectors.default_warehouse(), wh2, one, two


def test_a_new_bin_goes_to_the_default_warehouse(db):
    main = Warehouse.objects.get(is_default=True)
    assert main.code == "MAIN"
    assert BinFactory().warehouse == main
    assert bin_create(code="Z-01").warehouse == main
    elsewhere = WarehouseFactory(code="WH-9")
    assert bin_create(code="Z-02", warehouse=elsewhere).warehouse == elsewhere


def test_without_a_default_warehouse_a_bin_must_name_one(db):
    Warehouse.objects.filter(is_default=True).update(is_default=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Bin.objects.create(code="Z-01", zone="Z")
    assert not Bin.objects.filter(code="Z-01").exists()


def test_only_one_warehouse_is_the_default(db):
    second = Warehouse(code="WH-2", name="Back room", is_default=True)
    with pytest.raises(ValidationError, match="default already"):
        second.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()


def test_sums_per_warehouse_and_in_total(two_warehouses):
    main, wh2, one, two = two_warehouses
    assert selectors.on_hand_total(sku=one) == 17
    assert selectors.on_hand_total(sku=one, warehouse=main) == 12
    assert selectors.on_hand_total(sku=one, warehouse=wh2) == 5
    assert selectors.on_hand_total(sku=two, warehouse=main) == 0
    assert [r.bin.code for r in selectors.on_hand_for_sku(sku=one, warehouse=wh2)] == ["B-01"]
    assert {r["sku_id"]: r["on_hand"] for r in selectors.on_hand_by_sku()} == {
        one.pk: 17,
        two.pk: 7,
    }
    assert {r["sku_id"]: r["on_hand"] for r in selectors.on_hand_by_sku(warehouse=wh2)} == {
        one.pk: 5,
        two.pk: 7,
    }
    stock = {s.code: s.on_hand for s in selectors.skus_with_stock(warehouse=main)}
    assert stock == {"SKU-1": 12, "SKU-2": 0}
    assert {s.code: s.on_hand for s in selectors.skus_with_stock()} == {"SKU-1": 17, "SKU-2": 7}
    split = selectors.on_hand_split_by_warehouse(selectors.on_hand_for_sku(sku=one))
    assert [(w.code, w.on_hand) for w in split] == [("MAIN", 12), ("WH-2", 5)]


def test_sku_page_shows_each_warehouse_only_when_there_are_several(
    client, manager_user, two_warehouses, django_assert_max_num_queries
):
    client.force_login(manager_user)
    page = client.get("/skus/SKU-1/").text
    assert 'data-warehouse="MAIN">12<' in page and 'data-warehouse="WH-2">5<' in page
    assert ">Warehouse</th>" in page
    single = SkuFactory(code="SKU-3")
    _receive(Bin.objects.get(code="A-14"), single, 4, selectors.shelf_system(), "r5")
    page = client.get("/skus/SKU-3/").text
    assert "data-warehouse=" not in page and ">Warehouse</th>" not in page
    with django_assert_max_num_queries(20) as several:
        client.get("/skus/SKU-1/")
    with django_assert_max_num_queries(20) as one:
        client.get("/skus/SKU-3/")
    assert len(several.captured_queries) == len(one.captured_queries)


def test_bin_page_names_its_warehouse(client, manager_user, two_warehouses):
    client.force_login(manager_user)
    page = client.get("/bins/B-01/").text
    assert "WH-2 · zone T" in page


def test_bins_import_places_bins_and_refuses_unknown_warehouses(db, two_warehouses):
    report = bins_import(
        text="code,zone,warehouse\nC-01,C,wh-2\nC-02,C,\nB-02,B,MAIN\n", mode=REJECT
    )
    assert report.created == 3
    placed = dict(Bin.objects.filter(code__startswith="C-").values_list("code", "warehouse__code"))
    assert placed == {"C-01": "WH-2", "C-02": "MAIN"}
    with pytest.raises(ImportRejected) as rejected:
        bins_import(text="code,zone,warehouse\nC-03,C,NOWHERE\n", mode=REJECT)
    assert "no warehouse 'NOWHERE'" in rejected.value.errors[0]["reason"]
    assert not Bin.objects.filter(code="C-03").exists()


def test_a_bin_holding_units_stays_in_its_warehouse(db, two_warehouses):
    main, wh2, one, _ = two_warehouses
    report = bins_import(text="code,zone,warehouse\nA-14,A,WH-2\nC-02,C,WH-2\n", mode=SKIP)
    assert report.skipped == [
        {
            "row": 2,
            "reason": "bin A-14 still holds 10 units; move or count them before moving it to "
            "another warehouse",
        }
    ]
    assert Bin.objects.get(code="A-14").warehouse == main
    assert selectors.on_hand_total(sku=one, warehouse=main) == 12
    empty = BinFactory(code="E-01")
    assert bins_import(text="code,zone,warehouse\nE-01,E,WH-2\n", mode=REJECT).updated == 1
    empty.refresh_from_db()
    assert empty.warehouse == wh2


def test_admin_refuses_moving_a_bin_that_holds_units(db, two_warehouses):
    main, wh2, _, _ = two_warehouses
    a14 = Bin.objects.get(code="A-14")
    data = {"code": "A-14", "zone": "A", "walk_order": 0, "active": True, "warehouse": wh2.pk}
    form = BinAdminForm(data=data, instance=a14)
    assert not form.is_valid()
    assert "holds 12 units" not in str(form.errors) and "holds 10 units" in str(form.errors)
    empty = BinFactory(code="E-01")
    form = BinAdminForm(data={**data, "code": "E-01"}, instance=empty)
    assert form.is_valid(), form.errors


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_warehouses_migrates_with_no_number_changed():
    """Roll the schema back to before warehouses, write a shelf there (its ledger and
    balances, as the old code wrote them), migrate forward: every bin is in the default
    warehouse, every figure is as it was, and the ledger verifies."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_WAREHOUSES])
    old = executor.loader.project_state([BEFORE_WAREHOUSES]).apps
    OldBin, OldSku, OldOnHand, OldMovement, OldSystem = (
        old.get_model("inventory", name)
        for name in ("Bin", "Sku", "OnHand", "StockMovement", "System")
    )
    shelf = OldSystem.objects.get(name="shelf")
    bins = [OldBin.objects.create(code=f"A-{n:02}", zone="A", walk_order=n) for n in range(6)]
    skus = [OldSku.objects.create(code=f"SKU-{n:03}", title=f"Item {n}") for n in range(25)]
    rng = random.Random(22)
    balances: dict[tuple[int, int], int] = {}
    for event in range(300):
        bin, sku = rng.choice(bins), rng.choice(skus)
        held = balances.get((bin.pk, sku.pk), 0)
        delta = rng.randint(1, 9) if held == 0 or rng.random() < 0.6 else -rng.randint(1, held)
        balances[(bin.pk, sku.pk)] = held + delta
        OldMovement.objects.create(
            kind="receive" if delta > 0 else "ship",
            bin=bin,
            sku=sku,
            quantity=delta,
            balance_after=held + delta,
            source_system=shelf,
            source_event_id=f"old-{event}",
        )
    for (bin_id, sku_id), quantity in balances.items():
        OldOnHand.objects.create(bin_id=bin_id, sku_id=sku_id, quantity=quantity)
    totals = {}
    for (_, sku_id), quantity in balances.items():
        totals[sku_id] = totals.get(sku_id, 0) + quantity

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    main = Warehouse.objects.get()
    assert (main.code, main.is_default) == ("MAIN", True)
    assert set(Bin.objects.values_list("warehouse", flat=True)) == {main.pk}
    assert {r["sku_id"]: r["on_hand"] for r in selectors.on_hand_by_sku()} == totals
    assert {r["sku_id"]: r["on_hand"] for r in selectors.on_hand_by_sku(warehouse=main)} == totals
    in_stock = {s.pk: s.on_hand for s in selectors.skus_with_stock()}
    assert in_stock == {sku.pk: totals.get(sku.pk, 0) for sku in skus}
    call_command("verify_ledger", "--no-record")


# An owner per warehouse ---------------------------------------------------------------------


@pytest.fixture
def three_pl(db):
    return System.objects.create(name="acme-3pl", kind=System.Kind.THIRD_PARTY)


def _give(warehouse, owner, reason="Acme counts WH-3 from today", actor=None):
    return warehouse_owner_set(warehouse=warehouse, owner=owner, reason=reason, actor=actor)


def test_a_3pl_owns_on_hand_at_its_warehouse_and_onefact_keeps_no_bins_there(
    db, three_pl, shelf, admin_user
):
    wh3 = WarehouseFactory(code="WH-3", name="Acme Logistics")
    empty = BinFactory(code="C-01", warehouse=wh3)
    change = _give(wh3, three_pl, actor=admin_user)
    wh3.refresh_from_db()
    empty.refresh_from_db()
    assert wh3.owner == three_pl and wh3.is_external and not empty.active
    assert change.sentence().startswith("On-hand: at WH-3 owner shelf → acme-3pl; by admin-t")
    assert change.after["owner"] == "shelf"
    with pytest.raises(MovementRefused, match="inactive"):
        _receive(empty, SkuFactory(), 3, shelf, "into-3pl")
    with pytest.raises(BinCodeInvalid, match="acme-3pl owns on-hand at WH-3"):
        bin_create(code="C-02", warehouse=wh3)
    report = bins_import(text="code,zone,warehouse\nC-03,C,WH-3\nC-01,C,\n", mode=SKIP)
    reasons = {e["row"]: e["reason"] for e in report.skipped}
    assert reasons == {
        2: "acme-3pl owns on-hand at WH-3: OneFact keeps no active bins there",
        3: "acme-3pl owns on-hand at WH-3: OneFact keeps no active bins there",
    }
    assert not Bin.objects.filter(code="C-03").exists()
    form = BinAdminForm(
        data={"code": "C-01", "zone": "C", "walk_order": 0, "active": "on", "warehouse": wh3.pk},
        instance=empty,
    )
    assert not form.is_valid() and "keeps no active bins" in str(form.errors["active"])
    assert _give(wh3, three_pl) is None  # nothing changes, nothing recorded
    back = _give(wh3, None, reason="Acme contract ended")
    wh3.refresh_from_db()
    assert wh3.owner is None
    assert "at WH-3 owner acme-3pl → shelf" in back.sentence()


def test_handing_a_warehouse_to_a_3pl_is_refused_when_it_would_leave_units_unowned(
    db, two_warehouses, three_pl
):
    main, wh2, _, _ = two_warehouses
    with pytest.raises(ValidationError, match="still hold 12 units"):
        _give(wh2, three_pl)
    with pytest.raises(ValidationError, match="default warehouse"):
        _give(main, three_pl)
    storefront = System.objects.get(name="storefront")
    with pytest.raises(ValidationError, match="not a 3PL's system"):
        _give(WarehouseFactory(code="WH-4"), storefront)
    with pytest.raises(ValidationError, match="needs a reason"):
        _give(WarehouseFactory(code="WH-5"), three_pl, reason=" ")
    wh2.refresh_from_db()
    assert wh2.owner is None and Bin.objects.get(code="B-01").active
    assert not OwnershipChange.objects.filter(reason__contains="Acme").exists()


def test_warehouse_admin_form_puts_each_refusal_at_its_field(db, two_warehouses, three_pl):
    _, wh2, _, _ = two_warehouses
    data = {"code": "WH-2", "name": "Back room", "address": "", "active": "on"}
    form = WarehouseAdminForm(data={**data, "on_hand_owner": three_pl.pk}, instance=wh2)
    assert not form.is_valid()
    assert "needs a reason" in str(form.errors["reason"])
    assert "still hold 12 units" in str(form.errors)
    wh4 = WarehouseFactory(code="WH-4")
    data = {"code": "WH-4", "name": "Acme", "address": "", "active": "on"}
    form = WarehouseAdminForm(
        data={**data, "on_hand_owner": three_pl.pk, "reason": "x"}, instance=wh4
    )
    assert form.is_valid(), form.errors


def test_authority_page_names_the_warehouses_a_3pl_owns(client, admin_user, three_pl):
    _give(WarehouseFactory(code="WH-3"), three_pl)
    client.force_login(admin_user)
    page = client.get("/authority/").text
    assert 'data-testid="owned-elsewhere">at WH-3: acme-3pl<' in page
    assert "On-hand: at WH-3 owner shelf → acme-3pl" in page


def test_sku_list_sums_one_warehouse_or_all(client, staff_user, two_warehouses):
    client.force_login(staff_user)
    every = client.get("/skus/").text
    assert 'data-testid="warehouse-filter"' in every and '<td class="num">17</td>' in every
    one = client.get("/skus/?warehouse=WH-2").text
    assert "On-hand at WH-2" in one and "Committed" not in one
    assert '<td class="num">5</td>' in one and '<td class="num">7</td>' in one
    unknown = client.get("/skus/?warehouse=NOPE").text
    assert '<td class="num">17</td>' in unknown  # an unknown code filters nothing


def test_sku_list_shows_no_warehouse_filter_with_one_warehouse(client, staff_user, sku):
    client.force_login(staff_user)
    assert 'data-testid="warehouse-filter"' not in client.get("/skus/").text


def test_admin_hands_a_warehouse_to_a_3pl_with_its_reason(client, admin_user, three_pl):
    wh4 = WarehouseFactory(code="WH-4", name="Acme")
    client.force_login(admin_user)
    url = f"/admin/inventory/warehouse/{wh4.pk}/change/"
    assert client.get(url).status_code == 200
    assert client.get("/admin/inventory/warehouse/add/").status_code == 200
    data = {"code": "WH-4", "name": "Acme", "address": "", "active": "on"}
    refused = client.post(url, {**data, "on_hand_owner": three_pl.pk})
    assert refused.status_code == 200 and "needs a reason" in refused.text
    wh4.refresh_from_db()
    assert wh4.owner is None
    done = client.post(url, {**data, "on_hand_owner": three_pl.pk, "reason": "Acme counts it"})
    assert done.status_code == 302
    wh4.refresh_from_db()
    assert wh4.owner == three_pl
    assert OwnershipChange.objects.filter(reason="Acme counts it").exists()
