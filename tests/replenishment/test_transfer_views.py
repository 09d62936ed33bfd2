"""Transfer pages: managers draft, dispatch and cancel; staff at the other warehouse scan the
units in. Bad input is answered at its field and changes nothing."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import selectors as inventory_selectors
from inventory.models import Bin, OnHand, StockMovement
from inventory.selectors import on_hand_total
from inventory.services import on_hand_adjust
from replenishment.models import Transfer, TransferLine, TransferReceipt
from replenishment.services.transfers import (
    LineDraft,
    transfer_create,
    transfer_dispatch,
    transfer_line_receive,
)
from tests.factories import BinFactory, SkuFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

NEW = "/replenishment/transfers/new/"
CREATE = "/replenishment/transfers/create/"


@pytest.fixture
def site(db, shelf):
    """MAIN's A-14 holds 10 of MUG-1; WH-2 has the empty bin B-01."""
    main = inventory_selectors.default_warehouse()
    wh2 = WarehouseFactory(code="WH-2", name="Shop")
    mug = SkuFactory(code="MUG-1")
    a14, b01 = BinFactory(code="A-14"), BinFactory(code="B-01", warehouse=wh2)
    on_hand_adjust(bin=a14, sku=mug, delta=10, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="seed")  # fmt: skip
    return {"main": main, "wh2": wh2, "mug": mug, "a14": a14, "b01": b01}


def _form(site, *rows, to=None, key=None):
    data = {
        "from_warehouse": site["main"].pk,
        "to_warehouse": (to or site["wh2"]).pk,
        "key": key or uuid.uuid4().hex,
        "lines-TOTAL_FORMS": "5",
        "lines-INITIAL_FORMS": "0",
    }
    for i, (sku, bin, quantity) in enumerate(rows):
        data |= {f"lines-{i}-sku": sku, f"lines-{i}-from_bin": bin, f"lines-{i}-quantity": quantity}
    return data


def _sent(site, units=4):
    transfer = transfer_create(
        from_warehouse=site["main"], to_warehouse=site["wh2"],
        lines=[LineDraft(sku=site["mug"], from_bin=site["a14"], quantity=units)],
    )  # fmt: skip
    return transfer_dispatch(transfer=transfer)


def test_staff_receive_transfers_but_do_not_draft_or_dispatch_them(client, staff_user, site):
    client.force_login(staff_user)
    assert client.get("/replenishment/receive-transfer/").status_code == 200
    assert client.get(NEW).status_code == 403
    assert client.get("/replenishment/transfers/").status_code == 403
    draft = transfer_create(
        from_warehouse=site["main"], to_warehouse=site["wh2"],
        lines=[LineDraft(sku=site["mug"], from_bin=site["a14"], quantity=4)],
    )  # fmt: skip
    url = f"/replenishment/transfers/{draft.number}/dispatch/"
    assert client.post(url).status_code == 403
    assert on_hand_total(sku=site["mug"]) == 10
    assert "/replenishment/receive-transfer/" in client.get("/").content.decode()


def test_manager_drafts_dispatches_and_the_staff_receive(client, manager_user, staff_user, site):
    client.force_login(manager_user)
    assert client.get(NEW).status_code == 200
    response = client.post(CREATE, _form(site, ("mug-1", "a-14", "4")))
    transfer = Transfer.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{transfer.number}/")
    assert f"Drafted {transfer.number}" in client.get(response.url).content.decode()

    response = client.post(f"/replenishment/transfers/{transfer.number}/dispatch/", follow=True)
    assert f"{transfer.number} is now in transit." in response.content.decode()
    assert on_hand_total(sku=site["mug"]) == 6
    assert transfer.number in client.get("/replenishment/transfers/?status=open").content.decode()

    client.force_login(staff_user)
    start = client.get("/replenishment/receive-transfer/", {"transfer": transfer.number.lower()})
    assert start.status_code == 302 and start.url.endswith(f"/receive-transfer/{transfer.number}/")
    url = f"/replenishment/receive-transfer/{transfer.number}/receipts/"
    response = client.post(url, {"bin": "b-01", "sku": "MUG-1", "units": "4", "key": "k" * 32},
                           HTTP_HX_REQUEST="true")  # fmt: skip
    body = response.content.decode()
    assert response.status_code == 200
    assert "Received 4 × MUG-1 into B-01: 4 of 4 now in." in body
    assert 'value="B-01"' in body  # the bin stays for the next scan
    assert on_hand_total(sku=site["mug"], warehouse=site["wh2"]) == 4
    assert Transfer.objects.get().status == "received"


def test_draft_with_the_same_warehouse_twice_is_refused_at_the_field(client, manager_user, site):
    client.force_login(manager_user)
    response = client.post(CREATE, _form(site, ("MUG-1", "A-14", "4"), to=site["main"]))

    assert response.status_code == 400
    form = response.context["form"]
    assert "goes to another warehouse" in " ".join(form.errors["to_warehouse"])
    assert not Transfer.objects.exists()


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (("MUG-1", "B-01", "4"), "from_bin", "Bin B-01 is not in MAIN"),
        (("NOPE-1", "A-14", "4"), "sku", "No SKU NOPE-1 in the catalog"),
        (("MUG-1", "NOWHERE", "4"), "from_bin", "No bin NOWHERE"),
        (("MUG-1", "A-14", "0"), "quantity", "greater than or equal to 1"),
        (("MUG-1", "A-14", "1.5"), "quantity", "whole number"),
        (("MUG-1", "A-14", ""), "quantity", "How many units go?"),
    ],
)
def test_draft_line_errors_are_shown_at_the_line_and_nothing_is_saved(
    client, manager_user, site, row, field, message
):
    client.force_login(manager_user)
    response = client.post(CREATE, _form(site, ("MUG-1", "A-14", "2"), row))

    assert response.status_code == 400
    line = response.context["lines"].forms[1]
    assert message in " ".join(line.errors[field]), line.errors
    assert not Transfer.objects.exists() and not TransferLine.objects.exists()


def test_draft_form_submitted_twice_drafts_once(client, manager_user, site):
    client.force_login(manager_user)
    data = _form(site, ("MUG-1", "A-14", "4"), key="same-form-key-1")
    client.post(CREATE, data)
    response = client.post(CREATE, data)
    assert response.status_code == 302 and Transfer.objects.count() == 1


def test_dispatch_short_of_units_says_which_line_and_moves_nothing(client, manager_user, site):
    client.force_login(manager_user)
    draft = transfer_create(
        from_warehouse=site["main"], to_warehouse=site["wh2"],
        lines=[LineDraft(sku=site["mug"], from_bin=site["a14"], quantity=12)],
    )  # fmt: skip
    response = client.post(f"/replenishment/transfers/{draft.number}/dispatch/", follow=True)

    assert "Nothing was dispatched: MUG-1 from bin A-14 needs 12, the bin holds 10" in (
        response.content.decode()
    )
    assert Transfer.objects.get().status == "draft" and on_hand_total(sku=site["mug"]) == 10


def test_cancel_a_dispatched_transfer_is_refused(client, manager_user, site):
    client.force_login(manager_user)
    sent = _sent(site)
    response = client.post(f"/replenishment/transfers/{sent.number}/cancel/", follow=True)
    assert "only a draft is cancelled" in response.content.decode()
    assert Transfer.objects.get().status == "in_transit"


def test_close_a_partly_received_transfer_records_the_shortfall(client, manager_user, site):
    client.force_login(manager_user)
    sent = _sent(site)
    transfer_line_receive(line=sent.lines.get(), bin=site["b01"], units=1, key="scan-close-1")
    page = client.get(f"/replenishment/transfers/{sent.number}/").content.decode()
    assert 'data-testid="close"' in page

    response = client.post(f"/replenishment/transfers/{sent.number}/close/", follow=True)

    body = response.content.decode()
    assert f"{sent.number} is now received. 1 short line(s) recorded" in body
    assert Transfer.objects.get().status == "received"


def _receive(client, transfer, **data):
    data.setdefault("key", uuid.uuid4().hex)
    url = f"/replenishment/receive-transfer/{transfer.number}/receipts/"
    return client.post(url, data, HTTP_HX_REQUEST="true")


def test_receive_into_a_bin_of_the_sending_warehouse_is_refused_at_the_bin(
    client, staff_user, site
):
    client.force_login(staff_user)
    sent = _sent(site)
    body = _receive(client, sent, bin="A-14", sku="MUG-1", units="4").content.decode()

    assert 'id="bin-error"' in body and "Bin A-14 is in MAIN, not WH-2" in body
    assert not TransferReceipt.objects.exists() and on_hand_total(sku=site["mug"]) == 6


def test_receive_a_sku_not_on_the_transfer_is_refused_at_the_sku(client, staff_user, site):
    client.force_login(staff_user)
    SkuFactory(code="CUP-1")
    sent = _sent(site)
    body = _receive(client, sent, bin="B-01", sku="CUP-1", units="1").content.decode()

    assert 'id="sku-error"' in body and "CUP-1 is not on" in body
    assert not TransferReceipt.objects.exists()


def test_receive_more_than_in_transit_asks_first(client, staff_user, site):
    client.force_login(staff_user)
    sent = _sent(site)
    body = _receive(client, sent, bin="B-01", sku="MUG-1", units="6").content.decode()
    assert 'data-testid="ask-confirm_units"' in body and "more than the 4" in body
    assert not TransferReceipt.objects.exists()

    body = _receive(client, sent, bin="B-01", sku="MUG-1", units="6", confirm_units="6")
    assert "Recorded for a manager" in body.content.decode()
    assert OnHand.objects.get(bin=site["b01"], sku=site["mug"]).quantity == 6


def test_receive_into_a_new_bin_asks_then_creates_it_in_the_receiving_warehouse(
    client, staff_user, site
):
    client.force_login(staff_user)
    sent = _sent(site)
    body = _receive(client, sent, bin="C-07", sku="MUG-1", units="4").content.decode()
    assert "There is no bin C-07 yet" in body and not Bin.objects.filter(code="C-07").exists()

    _receive(client, sent, bin="C-07", sku="MUG-1", units="4", create_bin="C-07")
    assert Bin.objects.get(code="C-07").warehouse == site["wh2"]
    assert on_hand_total(sku=site["mug"], warehouse=site["wh2"]) == 4


def test_receive_page_of_a_draft_offers_no_form(client, staff_user, site):
    client.force_login(staff_user)
    draft = transfer_create(
        from_warehouse=site["main"], to_warehouse=site["wh2"],
        lines=[LineDraft(sku=site["mug"], from_bin=site["a14"], quantity=4)],
    )  # fmt: skip
    body = client.get(f"/replenishment/receive-transfer/{draft.number}/").content.decode()
    assert "nothing can be received against it" in body and 'name="units"' not in body
    start = client.get("/replenishment/receive-transfer/", {"transfer": draft.number})
    assert start.status_code == 404


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _urls(transfer) -> list[str]:
    return [
        "/replenishment/transfers/",
        f"/replenishment/transfers/{transfer.number}/",
        f"/replenishment/receive-transfer/{transfer.number}/",
        "/replenishment/receive-transfer/",
    ]


def test_transfer_pages_run_a_fixed_number_of_queries(client, manager_user, site, shelf):
    client.force_login(manager_user)
    few = [_queries(client, url) for url in _urls(_sent(site, units=1))]

    skus = [SkuFactory() for _ in range(4)]  # a bigger transfer, and more of them
    for sku in skus:
        on_hand_adjust(bin=site["a14"], sku=sku, delta=5, kind=StockMovement.Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"seed-{sku.code}")  # fmt: skip
    big = transfer_dispatch(transfer=transfer_create(
        from_warehouse=site["main"], to_warehouse=site["wh2"],
        lines=[LineDraft(sku=sku, from_bin=site["a14"], quantity=2) for sku in skus],
    ))  # fmt: skip
    for line in big.lines.all():
        transfer_line_receive(line=line, bin=site["b01"], units=1, key=f"scan-{line.pk:08}")
    _sent(site, units=1)

    assert [_queries(client, url) for url in _urls(big)] == few
    assert max(few) <= 10, few


def test_the_admin_reads_transfers_and_never_changes_their_units(client, admin_user, site):
    client.force_login(admin_user)
    sent = _sent(site)
    transfer_line_receive(line=sent.lines.get(), bin=site["b01"], units=1, key="scan-admin-1")

    assert sent.number in client.get("/admin/replenishment/transfer/").content.decode()
    page = client.get(f"/admin/replenishment/transfer/{sent.pk}/change/")
    assert page.status_code == 200 and 'name="lines-0-quantity"' not in page.content.decode()
    assert client.get("/admin/replenishment/transferreceipt/").status_code == 200
    assert client.get("/admin/replenishment/transfer/add/").status_code == 403
    assert client.post(f"/admin/replenishment/transfer/{sent.pk}/delete/").status_code == 403
    assert Transfer.objects.filter(pk=sent.pk).exists()
