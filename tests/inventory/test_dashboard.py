"""The managers' dashboard: figures, sentences, CSV, fixed queries, permissions."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import hooks
from inventory.models import AuthorityConflict, Discrepancy, SyncLog
from inventory.selectors import (
    dashboard_breakdowns,
    dashboard_rows,
    discrepancy_sentence,
    inventory_figures,
    sync_lag_figures,
)
from inventory.services import discrepancies_create
from tests.factories import BinFactory, SkuFactory


def _gap(sku, bin, shelf, storefront, owner_value, consumer_value, **kw):
    [gap] = discrepancies_create([Discrepancy(
        kind=kw.pop("kind", "storefront_gap"), fact=kw.pop("fact", "on_hand"), sku=sku, bin=bin,
        owner=shelf, consumer=storefront, owner_value=owner_value, consumer_value=consumer_value,
        winner=shelf, detail=kw.pop("detail", f"storefront says {consumer_value}, shelf says "
                                              f"{owner_value}; the shelf owns on-hand and wins"),
        **kw,
    )])  # fmt: skip
    return gap


@pytest.fixture
def data(shelf, storefront):
    """Three open gaps (units 2, 5, 1 at cost 2.50) and one resolved."""
    a14, b02 = BinFactory(code="A-14"), BinFactory(code="B-02")
    mug, cap = SkuFactory(code="MUG"), SkuFactory(code="CAP")
    rows = [
        _gap(mug, a14, shelf, storefront, 2, 4),
        _gap(cap, b02, shelf, storefront, 10, 5),
        _gap(mug, None, shelf, storefront, 3, 4, kind="non_owner_write"),
        _gap(cap, None, shelf, storefront, 1, 9, status="resolved", resolution="correction",
             resolved_at=timezone.now()),
    ]  # fmt: skip
    Discrepancy.objects.filter(pk=rows[1].pk).update(created_at=timezone.now() - timedelta(days=9))
    return rows


def test_inventory_figures_against_a_hand_built_set(data, shelf, storefront):
    for lag in (10, 20, 30, 40, 1000):
        SyncLog.objects.create(storefront=storefront, sku=data[0].sku, value=1, version=1,
                               result="applied", lag_ms=lag)  # fmt: skip
    AuthorityConflict.objects.create(system=storefront, fact="on_hand", owner=shelf)
    old = AuthorityConflict.objects.create(system=storefront, fact="on_hand", owner=shelf)
    AuthorityConflict.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(8))
    figures = {f.key: f for f in inventory_figures()}
    assert figures["open_gaps"].value == "3"
    assert figures["open_gaps"].note == "8 units, 20.00 at cost"
    assert figures["sync_lag"].value == "30 ms"
    assert figures["sync_lag"].note == "95th percentile 1 s"
    assert figures["conflicts_7d"].value == "1"


def test_sync_lag_percentiles(storefront, db):
    sku = SkuFactory()
    lag = sync_lag_figures(since=timezone.now() - timedelta(1))
    assert (lag.p50, lag.p95, lag.live) == (None, None, 0)
    for lag in range(1, 101):
        SyncLog.objects.create(storefront=storefront, sku=sku, value=1, version=lag,
                               result="applied", lag_ms=lag)  # fmt: skip
    lag = sync_lag_figures(since=timezone.now() - timedelta(1))
    assert (lag.p50, lag.p95, lag.live) == (50, 95, 100)


def test_breakdowns_by_fact_pair_age_sku_and_bin(data):
    b = dashboard_breakdowns(rows=dashboard_rows(status="open"))
    assert [(r["fact"], r["n"], r["total_units"]) for r in b["fact"]] == [("on_hand", 3, 8)]
    assert [(r["owner_name"], r["consumer_name"], r["n"]) for r in b["pair"]] == [
        ("shelf", "storefront", 3)
    ]
    assert [r["n"] for r in b["age"]] == [2, 0, 1]
    assert [(r["code"], r["total_units"]) for r in b["sku"]] == [("CAP", 5), ("MUG", 3)]
    assert [(r["code"], r["total_units"]) for r in b["bin"]] == [("B-02", 5), ("A-14", 2)]


def test_a_discrepancy_is_valued_at_the_cost_its_sku_had_when_found(shelf, storefront):
    from decimal import Decimal

    mug, cap = SkuFactory(code="MUG", unit_cost="2.50"), SkuFactory(code="CAP", unit_cost="4.00")
    [one] = discrepancies_create([Discrepancy(
        kind="storefront_gap", fact="on_hand", sku=mug, owner=shelf, consumer=storefront,
        owner_value=2, consumer_value=5, winner=shelf, detail="storefront says 5, shelf says 2",
    )])  # fmt: skip
    many = discrepancies_create([
        Discrepancy(kind="storefront_gap", fact="on_hand", sku=cap, consumer_value=-2),
        Discrepancy(kind="ledger_mismatch", fact="on_hand"),  # no SKU: no cost, no value
    ])  # fmt: skip
    type(mug).objects.filter(pk=mug.pk).update(unit_cost="99.00")  # a cost edited later
    rows = {d.pk: d for d in Discrepancy.objects.all()}
    measured = [(rows[d.pk].unit_cost, rows[d.pk].units, rows[d.pk].value) for d in [one, *many]]
    assert measured == [
        (Decimal("2.50"), 3, Decimal("7.50")),
        (Decimal("4.00"), 2, Decimal("8.00")),
        (None, 0, Decimal("0.00")),
    ]


def test_rows_filter_and_sort(data):
    assert [d.sku.code for d in dashboard_rows(bin_code="a-14")] == ["MUG"]
    assert [d.units for d in dashboard_rows(sort="units")] == [5, 2, 1]
    assert [d.pk for d in dashboard_rows(older_than_days=7)] == [data[1].pk]
    assert len(dashboard_rows(status="")) == 4


@pytest.mark.parametrize(
    ("kind", "detail", "extra", "sentence"),
    [
        ("storefront_gap", "storefront says 4, shelf says 2; the shelf owns on-hand and wins",
         {"correction": 2, "corrected_at": "10:42"},
         "storefront says 4, shelf says 2; the shelf owns on-hand and wins; corrected to 2 at "
         "10:42."),
        ("short_fulfilment", "storefront shipped 3, the shelf holds 2.", {"count": True},
         "storefront shipped 3, the shelf holds 2; a count was asked for."),
        ("non_owner_write", "storefront says 9, shelf says 5; shelf owns on-hand and wins.",
         {"resolved": "correction"},
         "storefront says 9, shelf says 5; shelf owns on-hand and wins; resolved by a "
         "correction."),
        ("ledger_mismatch", "Bin A-14 holds 4 but its ledger adds up to 10: count the bin.",
         {"resolved": "count", "ref": "count task 381"},
         "Bin A-14 holds 4 but its ledger adds up to 10: count the bin; resolved by a count "
         "(count task 381)."),
        ("orders_at_risk", "Open orders want 3 of MUG, the shelf holds 2.",
         {"resolved": "decision", "note": "supplier delivers today"},
         "Open orders want 3 of MUG, the shelf holds 2; resolved by a manager's decision: "
         "supplier delivers today."),
    ],
)  # fmt: skip
def test_discrepancy_sentence_for_each_kind(db, kind, detail, extra, sentence):
    d = Discrepancy(kind=kind, fact="on_hand", detail=detail)
    if "corrected_at" in extra:
        now = timezone.localtime()
        d.correction = extra["correction"]
        d.corrected_at = now.replace(hour=10, minute=42)
    if extra.get("count"):
        d.count_requested_at = timezone.now()
    if "resolved" in extra:
        d.status, d.resolution = "resolved", extra["resolved"]
        d.resolution_reference = extra.get("ref", "")
        d.resolution_note = extra.get("note", "")
    assert discrepancy_sentence(d) == sentence


def test_sentence_takes_the_notes_apps_add(db, data, monkeypatch):
    monkeypatch.setattr(hooks, "_dashboard_providers", {})
    hooks.subscribe_dashboard(hooks.DashboardProvider(
        name="t", notes=lambda ids: {data[0].pk: [("count task 381 for bin A-14 is open, due today",
                                                 "/walks/tasks/381/")]}
    ))  # fmt: skip
    from inventory.selectors import discrepancy_notes

    notes = discrepancy_notes(ids=[data[0].pk])
    assert discrepancy_sentence(data[0], notes[data[0].pk]).endswith(
        "wins; count task 381 for bin A-14 is open, due today."
    )


def test_dashboard_csv_exports_every_matching_row(client, manager_user, data):
    client.force_login(manager_user)
    response = client.get("/dashboard/?status=&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    mug = next(r for r in rows if r["bin"] == "A-14")
    assert (mug["sku"], mug["owner_value"], mug["consumer_value"], mug["units"]) == (
        "MUG", "2", "4", "2"
    )  # fmt: skip
    assert mug["sentence"].startswith("storefront says 4, shelf says 2")


@pytest.mark.parametrize("n", [3, 120])
def test_dashboard_runs_a_fixed_number_of_queries(
    client, manager_user, shelf, storefront, n, django_assert_num_queries
):
    sku, bin = SkuFactory(), BinFactory()
    Discrepancy.objects.bulk_create([
        Discrepancy(kind="storefront_gap", fact="on_hand", sku=sku, bin=bin, owner=shelf,
                    consumer=storefront, owner_value=i, consumer_value=i + 2, winner=shelf,
                    detail="x") for i in range(n)
    ])  # fmt: skip
    SyncLog.objects.bulk_create([
        SyncLog(storefront=storefront, sku=sku, value=1, version=i, result="applied", lag_ms=i)
        for i in range(n)
    ])  # live pushes: their percentiles are read with their counts  # fmt: skip
    client.force_login(manager_user)
    # 4 for the session, the user and their permissions; 8 for the page (the breakdowns 3,
    # the table 2, orders at risk 1, every figure 1, every chart 1): the open-gaps figure and
    # the table's count come from the breakdowns, the apps' figures and the breaker banner's
    # check are read with the shelf's figures, the apps' charts with the shelf's.
    with django_assert_num_queries(4 + 8):
        assert client.get("/dashboard/").status_code == 200
    with django_assert_num_queries(4 + 3):  # the fragment: count, page, notes
        assert client.get("/dashboard/?page=2", headers={"HX-Request": "true"}).status_code == 200


def test_the_tables_count_is_the_open_gaps_figure_only_when_it_shows_every_open_row(
    client, manager_user, shelf, storefront
):
    sku, bin = SkuFactory(), BinFactory()
    rows = [Discrepancy(kind="storefront_gap", fact="on_hand", sku=sku, bin=bin, owner=shelf,
                        consumer=storefront, owner_value=1, consumer_value=3, winner=shelf,
                        detail="x", **({"status": "resolved", "resolution": "correction",
                                        "resolved_at": timezone.now()} if i >= 60 else {}))
            for i in range(110)]  # fmt: skip
    Discrepancy.objects.bulk_create(rows)
    client.force_login(manager_user)
    assert "page 1 of 2" in client.get("/dashboard/").content.decode()  # 60 open
    assert "page 1 of 3" in client.get("/dashboard/?status=").content.decode()  # all 110


def test_dashboard_is_for_managers_not_staff(client, staff_user, manager_user):
    client.force_login(staff_user)
    assert client.get("/dashboard/").status_code == 403
    client.force_login(manager_user)
    body = client.get("/dashboard/").content.decode()
    assert 'data-chart="corrections"' in body and 'data-chart="sync_lag"' in body
    assert "cdn" not in body.lower()


def test_discrepancy_page_reads_as_a_sentence_and_a_manager_decides_it(
    client, manager_user, staff_user, data
):
    gap = data[0]
    client.force_login(manager_user)
    body = client.get(f"/discrepancies/{gap.pk}/").content.decode()
    assert "storefront says 4, shelf says 2; the shelf owns on-hand and wins." in body
    refused = client.post(f"/discrepancies/{gap.pk}/", {"reason": "   "})
    assert "This field is required" in refused.content.decode()
    assert Discrepancy.objects.get(pk=gap.pk).is_open
    client.post(f"/discrepancies/{gap.pk}/", {"reason": "storefront rebuilt from backup"})
    decided = Discrepancy.objects.get(pk=gap.pk)
    assert (decided.resolution, decided.resolved_by, decided.resolution_note) == (
        "decision", manager_user, "storefront rebuilt from backup"
    )  # fmt: skip
    client.force_login(staff_user)
    assert client.get(f"/discrepancies/{gap.pk}/").status_code == 403
