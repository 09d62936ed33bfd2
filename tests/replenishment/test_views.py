import csv
import io
import uuid

import pytest
from django.urls import reverse

from inventory.models import Bin, Discrepancy, OnHand, Sku, StockMovement, System
from inventory.selectors import on_hand_total
from inventory.services import on_hand_adjust
from replenishment.models import PurchaseOrder, PurchaseOrderLine, Receipt
from tests.factories import BinFactory, SkuFactory
from tests.replenishment.factories import (
    PurchaseOrderFactory,
    PurchaseOrderLineFactory,
    ReorderPolicyFactory,
    SupplierFactory,
    shelf_counted,
)

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db

SUGGESTIONS = "/replenishment/suggestions/"


@pytest.mark.parametrize(
    "url",
    [
        SUGGESTIONS,
        "/replenishment/suggestions.csv",
        "/replenishment/purchase-orders/",
        "/replenishment/receive/",
    ],
)
def test_every_replenishment_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_staff_receive_but_do_not_read_suggestions(client, staff_user, manager_user):
    client.force_login(staff_user)
    assert client.get("/replenishment/receive/").status_code == 200
    for url in (SUGGESTIONS, "/replenishment/suggestions.csv", "/replenishment/purchase-orders/"):
        assert client.get(url).status_code == 403
    assert client.post("/replenishment/ghost-rows/detect/").status_code == 403
    home = client.get("/").content.decode()
    assert "/replenishment/receive/" in home and SUGGESTIONS not in home
    client.force_login(manager_user)
    assert client.get(SUGGESTIONS).status_code == 200
    home = client.get("/").content.decode()
    assert "/replenishment/receive/" in home and SUGGESTIONS in home


def _catalog(n: int, supplier) -> list[Sku]:
    """n SKUs, all counted, with a little stock each (the first 30), under the default
    policy; every third stocked one and every empty one needs ordering."""
    skus = Sku.objects.bulk_create([Sku(code=f"Q-{i:05}", title=f"Item {i}") for i in range(n)])
    shelf_counted(*skus[30:])
    ReorderPolicyFactory(sku=None, supplier=supplier, safety_stock_days=None, safety_stock_units=4)
    shelf, bin = System.objects.get(name="shelf"), BinFactory()
    for i, sku in enumerate(skus[: min(n, 30)]):
        on_hand_adjust(
            bin=bin,
            sku=sku,
            delta=1 + (i % 3) * 5,
            kind=Kind.RECEIVE,
            source_system=shelf,
            source_event_id=f"q-{i}",
        )
    return skus


@pytest.mark.parametrize("n", [10, 1000])
def test_suggestions_page_runs_a_fixed_number_of_queries(
    client, manager_user, n, django_assert_max_num_queries
):
    supplier = SupplierFactory()
    _catalog(n, supplier)
    client.force_login(manager_user)
    # session, user, permissions (2), the chosen supplier, the supplier options, the coverage
    # read (stage the per-SKU inputs, the page, drop them; on PostgreSQL also SET LOCAL
    # jit = off and ANALYZE the staged inputs), and the breaker banner's held batches.
    with django_assert_max_num_queries(12):
        response = client.get(f"{SUGGESTIONS}?show=all&sort=cover&supplier={supplier.pk}")
    assert response.status_code == 200
    assert response.context["page"].count == n
    assert len(response.context["page"].rows) == min(n, 50)
    # The partial: no filter form; page 2 of 10 SKUs is past the end, so the last page is
    # fetched instead (two statements more), still the same number for 10 or 1,000 SKUs.
    with django_assert_max_num_queries(11):
        assert (
            client.get(f"{SUGGESTIONS}?page=2", headers={"HX-Request": "true"}).status_code == 200
        )


def test_suggestions_page_filters_sorts_and_pages(client, manager_user):
    north, south = SupplierFactory(name="North"), SupplierFactory(name="South")
    _catalog(70, north)  # 70 SKUs: empty or below 4 units need ordering under the default
    south_1 = SkuFactory(code="SOUTH-1")
    shelf_counted(south_1)
    ReorderPolicyFactory(sku=south_1, supplier=south, safety_stock_days=None, safety_stock_units=2)
    client.force_login(manager_user)

    page = client.get(SUGGESTIONS).context["page"]
    assert page.count == 71 - 20  # the 20 stocked with 6 or 11 units are above the point
    assert page.num_pages == 2 and len(page.rows) == 50

    body = client.get(f"{SUGGESTIONS}?supplier={south.pk}").content.decode()
    assert 'data-sku="SOUTH-1"' in body and 'data-sku="Q-00000"' not in body
    assert "why 2 for SOUTH-1?</summary>" in body and "Safety stock: 2 units." in body

    last = client.get(f"{SUGGESTIONS}?page=99").context["page"]  # past the end: last page
    assert (last.number, len(last.rows)) == (2, 1)
    partial = client.get(SUGGESTIONS, headers={"HX-Request": "true"}).content.decode()
    assert 'id="suggestion-table"' in partial and "<html" not in partial
    bad = client.get(f"{SUGGESTIONS}?supplier=abc&sort=drop&page=-3")
    assert bad.status_code == 200 and bad.context["page"].number == 1


def test_suggestions_csv_has_every_row_and_its_inputs(client, manager_user):
    north = SupplierFactory(name="North")
    _catalog(70, north)
    shelf_counted(SkuFactory(code="=CMD", title="+evil"))  # the default policy applies
    client.force_login(manager_user)

    response = client.get("/replenishment/suggestions.csv?show=all")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 71
    evil = next(r for r in rows if r["title"] == "'+evil")
    assert evil["sku"] == "'=CMD" and evil["suggested"] == "4"
    assert "Reorder point: 0 × (7 + 7) + 4 = 4." in evil["why"]
    needed = client.get(f"/replenishment/suggestions.csv?supplier={north.pk}")
    # The 50 Q- SKUs that need ordering and =CMD, all under North's default policy; a header.
    assert len(list(csv.reader(io.StringIO(b"".join(needed.streaming_content).decode())))) == 52


@pytest.fixture
def known_and_uncounted():
    """Two empty SKUs under a policy of 4 safety units: the shelf counted one (none there)
    and has never counted the other."""
    known, uncounted = SkuFactory(code="KNOWN-1"), SkuFactory(code="NEW-1")
    for sku in (known, uncounted):
        ReorderPolicyFactory(sku=sku, safety_stock_days=None, safety_stock_units=4)
    shelf_counted(known)
    return known, uncounted


def test_suggestions_page_says_not_yet_counted_instead_of_zero_or_a_suggestion(
    client, manager_user, known_and_uncounted
):
    known, uncounted = known_and_uncounted
    client.force_login(manager_user)

    needed = client.get(SUGGESTIONS).content.decode()
    assert 'data-sku="KNOWN-1"' in needed and 'data-sku="NEW-1"' not in needed
    every = client.get(f"{SUGGESTIONS}?show=all&sort=code")
    assert [c.code for c in every.context["page"]] == ["KNOWN-1", "NEW-1"]
    body = every.content.decode()
    row = body[body.index('data-sku="NEW-1"') : body.index('data-why="NEW-1"')]
    assert "not yet counted" in row and "not counted" in row and "count first" in row
    assert "the shelf has not counted this SKU; count it before ordering on its number" in row
    assert 'type="checkbox"' not in row and "urgent" not in row and "reorder" not in row
    assert "∞" not in row  # no demand, but its cover is unknown, not endless
    assert '<td class="num" data-testid="on-hand"><span class="muted">not counted</span>' in row
    assert '<td class="num" data-testid="cover"><span class="muted">unknown</span>' in row
    known_row = body[body.index('data-sku="KNOWN-1"') : body.index('data-why="KNOWN-1"')]
    assert 'type="checkbox"' in known_row and "<strong>4</strong>" in known_row
    assert "why nothing for NEW-1?" in body and "Not yet counted: the shelf has not" in body
    only = client.get(f"{SUGGESTIONS}?show=uncounted").context["page"]
    assert [c.code for c in only] == ["NEW-1"]
    shelf_counted(uncounted)
    after = client.get(f"{SUGGESTIONS}?show=uncounted").content.decode()
    assert "Every SKU has been counted." in after


def test_suggestions_csv_leaves_the_figures_of_a_sku_not_yet_counted_empty(
    client, manager_user, known_and_uncounted
):
    client.force_login(manager_user)

    response = client.get("/replenishment/suggestions.csv?show=all&sort=code")

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    known, uncounted = rows
    assert (known["sku"], known["known"], known["urgency"]) == ("KNOWN-1", "yes", "reorder")
    assert (known["on_hand"], known["days_of_cover"], known["suggested"]) == ("0", "", "4")
    assert (uncounted["sku"], uncounted["known"]) == ("NEW-1", "no")
    assert uncounted["urgency"] == "not yet counted"
    for column in ("on_hand", "days_of_cover", "raw_need", "suggested"):
        assert uncounted[column] == "", column
    assert (uncounted["committed"], uncounted["reorder_point"]) == ("0", "4.0")
    assert "count it before ordering on its number" in uncounted["why"]
    needed = client.get("/replenishment/suggestions.csv")
    assert [
        r["sku"] for r in csv.DictReader(io.StringIO(b"".join(needed.streaming_content).decode()))
    ] == ["KNOWN-1"]


def test_drafting_an_uncounted_sku_orders_nothing_and_says_why(
    client, manager_user, known_and_uncounted
):
    known, uncounted = known_and_uncounted
    client.force_login(manager_user)
    data = {"sku": [known.pk, uncounted.pk], "key": uuid.uuid4().hex}

    response = client.post("/replenishment/purchase-orders/draft/", data, follow=True)

    assert "Not yet counted, so not ordered: NEW-1. Count them first." in response.content.decode()
    assert list(PurchaseOrderLine.objects.values_list("sku__code", "ordered")) == [("KNOWN-1", 4)]


def test_drafting_from_suggestions_makes_one_draft_per_submission(client, manager_user):
    supplier = SupplierFactory(name="North")
    skus = _catalog(6, supplier)
    client.force_login(manager_user)
    key = uuid.uuid4().hex
    data = {"sku": [skus[0].pk, skus[3].pk], "key": key, "sort": "cover"}

    first = client.post("/replenishment/purchase-orders/draft/", data)
    again = client.post("/replenishment/purchase-orders/draft/", data)

    po = PurchaseOrder.objects.get()
    assert first.url == again.url == f"/replenishment/purchase-orders/{po.number}/"
    assert (po.status, po.supplier, po.created_by) == ("draft", supplier, manager_user)
    assert sorted(PurchaseOrderLine.objects.values_list("sku__code", "ordered")) == [
        (skus[0].code, 3),
        (skus[3].code, 3),
    ]  # 4 safety units − 1 on hand
    detail = client.get(first.url).content.decode()
    assert "Already drafted" in detail and skus[3].code in detail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "k" * 10}, "Tick at least one suggestion"),
        ({"sku": ["x"], "key": "k" * 10}, "Select a valid choice"),
        ({"sku": ["1"], "key": "bad key!"}, "This form has expired"),
    ],
)
def test_drafting_bad_input_drafts_nothing(client, manager_user, data, message):
    client.force_login(manager_user)
    response = client.post("/replenishment/purchase-orders/draft/", data, follow=True)
    assert message in response.content.decode()
    assert not PurchaseOrder.objects.exists()


def test_purchase_order_pages_send_receive_and_close(client, manager_user, bin):
    line = PurchaseOrderLineFactory(po=PurchaseOrderFactory(status="draft"), ordered=10)
    po = line.po
    client.force_login(manager_user)
    url = f"/replenishment/purchase-orders/{po.number}/"
    assert client.get("/replenishment/purchase-orders/?status=draft").context["page"][0] == po

    client.post(f"/replenishment/purchase-orders/{po.number}/lines/{line.pk}/", {"ordered": 12})
    client.post(f"{url}send/")
    po.refresh_from_db()
    assert (po.status, PurchaseOrderLine.objects.get().ordered) == ("sent", 12)
    response = client.post(
        f"/replenishment/receive/{po.number}/receipts/",
        {"sku": line.sku.code, "units": 5, "bin": bin.code, "key": "a" * 32},
    )
    assert response.status_code == 302
    response = client.post(f"{url}close/", follow=True)
    assert "1 short line(s) recorded" in response.content.decode()
    assert Discrepancy.objects.get().consumer_value == 5
    assert client.post(f"{url}explode/").status_code == 400
    assert client.get("/replenishment/purchase-orders/PO-NOPE/").status_code == 404


@pytest.fixture
def open_po(sku):
    po = PurchaseOrderFactory(number="PO-00042", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=10)
    return po


def _receive(client, po, htmx=False, **data):
    data = {"sku": "SKU-1", "units": "4", "bin": "A-14", "key": "b" * 32} | data
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/replenishment/receive/{po.number}/receipts/", data, headers=headers)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"sku": "NOPE-9"}, "sku", "No SKU NOPE-9 in the catalog"),
        ({"sku": "OTHER-1"}, "sku", "OTHER-1 is not on PO-00042"),
        ({"bin": "Q 99"}, "bin", "No bin Q 99, and it cannot be one"),
        ({"bin": "OLD-1"}, "bin", "Bin OLD-1 is inactive"),
        ({"units": "0"}, "units", "greater than or equal to 1"),
        ({"units": "many"}, "units", "Enter a whole number"),
        ({"key": ""}, "key", "This field is required"),
    ],
)
def test_receiving_bad_input_says_so_at_the_field_and_changes_nothing(
    client, staff_user, open_po, bin, data, field, message
):
    SkuFactory(code="OTHER-1")
    BinFactory(code="OLD-1", active=False)
    client.force_login(staff_user)
    for htmx in (False, True):
        response = _receive(client, open_po, htmx=htmx, **data)
        assert response.status_code == (200 if htmx else 400)
        if not htmx:  # the partial's context is not captured by the test client
            assert message in " ".join(response.context["form"].errors[field])
        assert message.replace("'", "&#x27;") in response.content.decode()
    assert not StockMovement.objects.exists() and not Receipt.objects.exists()


def test_receiving_in_the_browser_shape_books_once(client, staff_user, open_po, bin, sku):
    client.force_login(staff_user)
    first = _receive(client, open_po, htmx=True, sku="sku-1 ", bin="a-14")
    assert first.status_code == 200 and "onHandChanged" in first.headers["HX-Trigger"]
    assert "Received 4 × SKU-1 into A-14: 4 of 10 now in." in first.content.decode()
    assert "<html" not in first.content.decode()  # the panel only
    again = _receive(client, open_po, htmx=True)
    assert "Already recorded: 4 × SKU-1 into A-14." in again.content.decode()
    assert on_hand_total(sku=sku) == 4 and Receipt.objects.count() == 1
    page = client.get(f"/replenishment/receive/{open_po.number}/").content.decode()
    assert 'inputmode="numeric"' in page and "autofocus" in page and 'enterkeyhint="next"' in page


def test_receive_start_opens_a_scanned_order_or_says_why_not(client, staff_user, open_po):
    client.force_login(staff_user)
    response = client.get("/replenishment/receive/?po=po-00042")
    assert response.url == "/replenishment/receive/PO-00042/"
    missing = client.get("/replenishment/receive/?po=PO-404")
    assert missing.status_code == 404 and "No purchase order PO-404" in missing.content.decode()
    PurchaseOrderFactory(number="PO-GONE", status="cancelled")
    closed = client.get("/replenishment/receive/?po=PO-GONE").content.decode()
    assert "PO-GONE is cancelled: nothing can be received" in closed
    assert "PO-00042" in client.get("/replenishment/receive/").content.decode()


def test_receive_page_of_a_closed_order_offers_no_form(client, staff_user, open_po, bin):
    open_po.status = "cancelled"
    open_po.save()
    client.force_login(staff_user)
    body = client.get(f"/replenishment/receive/{open_po.number}/").content.decode()
    assert "nothing more can be received" in body and 'name="units"' not in body
    response = _receive(client, open_po)
    assert response.status_code == 400 and "nothing can be received" in response.content.decode()
    assert not StockMovement.objects.exists()


def test_ghost_rows_button_records_and_lists_them(client, manager_user):
    sku = SkuFactory(active=False)
    ReorderPolicyFactory(sku=sku)
    client.force_login(manager_user)
    response = client.post("/replenishment/ghost-rows/detect/", follow=True)
    assert response.redirect_chain[-1][0] == "/discrepancies/?status=open&kind=ghost_row"
    assert "1 ghost rows found: 1 new discrepancies" in response.content.decode()
    assert Discrepancy.objects.filter(kind="ghost_row", sku=sku).count() == 1


def test_receiving_more_than_is_due_asks_first_and_books_only_the_confirmed_count(
    client, staff_user, open_po, bin, sku
):
    client.force_login(staff_user)
    for htmx in (False, True):
        asked = _receive(client, open_po, htmx=htmx, units="13")
        assert asked.status_code == 200
        body = asked.content.decode()
        assert "13 is more than the 10 of SKU-1 still due on PO-00042" in body
        assert 'name="confirm_units" value="13"' in body
    assert not Receipt.objects.exists() and not Discrepancy.objects.exists()
    # The confirmation carries the count: another count is asked about again.
    assert (
        "14 is more than"
        in _receive(client, open_po, units="14", confirm_units="13").content.decode()
    )
    assert not Receipt.objects.exists()

    done = _receive(client, open_po, htmx=True, units="13", confirm_units="13")
    assert "Received 13 × SKU-1 into A-14: 13 of 10 now in." in done.content.decode()
    assert 'data-level="warning"' in done.content.decode()
    assert on_hand_total(sku=sku) == 13
    assert Discrepancy.objects.get().kind == "receipt_mismatch"


def test_a_bin_nobody_knows_is_created_only_when_confirmed(client, staff_user, open_po, sku):
    client.force_login(staff_user)
    asked = _receive(client, open_po, htmx=True, bin="Z-99")
    assert "There is no bin Z-99 yet. Create bin Z-99" in asked.content.decode()
    assert not Bin.objects.filter(code="Z-99").exists() and not Receipt.objects.exists()
    assert (
        "There is no bin Z-98"
        in _receive(client, open_po, bin="Z-98", create_bin="Z-99").content.decode()
    )

    _receive(client, open_po, htmx=True, bin="Z-99", create_bin="z-99")
    created = Bin.objects.get(code="Z-99")
    assert (created.zone, created.active) == ("Z", True)
    assert OnHand.objects.get(bin=created, sku=sku).quantity == 4


def test_the_receive_page_shows_where_the_scanned_sku_lives(client, staff_user, open_po, sku):
    client.force_login(staff_user)
    shelf = System.objects.get(name="shelf")
    for code, walk, units in (("B-02", 2, 5), ("B-01", 1, 2)):
        on_hand_adjust(bin=BinFactory(code=code, walk_order=walk), sku=sku, delta=units,
                       kind="receive", source_system=shelf, source_event_id=code)  # fmt: skip
    body = client.get(f"/replenishment/receive/{open_po.number}/bins/?sku=sku-1").content.decode()
    assert "SKU-1 is in: <strong>B-01</strong> (2), <strong>B-02</strong> (5)" in body
    assert (
        "is in"
        not in client.get(
            f"/replenishment/receive/{open_po.number}/bins/?sku=NOPE"
        ).content.decode()
    )
