"""Labels for a purchase order: one per unit received, read back as a scanner would."""

import uuid

import pytest
from django.urls import reverse

from inventory.labels import LABELS_MAX
from replenishment.services import purchase_order_line_receive
from tests.factories import BinFactory, SkuFactory
from tests.labels import decoded
from tests.replenishment.factories import PurchaseOrderFactory, PurchaseOrderLineFactory


@pytest.fixture
def po(db):
    """PO-00007: 3 of 5 mugs received, 2 of 2 tees, none of 4 caps."""
    bin = BinFactory(code="A-14")
    order = PurchaseOrderFactory(number="PO-00007")
    for code, ordered, received in (("MUG-1", 5, 3), ("tee blue-m", 2, 2), ("CAP-9", 4, 0)):
        line = PurchaseOrderLineFactory(po=order, sku=SkuFactory(code=code), ordered=ordered)
        if received:
            purchase_order_line_receive(line=line, bin=bin, units=received, key=uuid.uuid4().hex)
    return order


def _url(po):
    return reverse("replenishment:purchase-order-labels", args=[po.number])


def test_purchase_order_labels_one_per_unit_received(client, staff_user, po):
    client.force_login(staff_user)
    response = client.get(_url(po), {"format": "a4-3x8"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="PO-00007-a4-3x8.pdf"'
    assert decoded(response.content) == ["MUG-1"] * 3 + ["tee blue-m"] * 2


def test_purchase_order_labels_page_lists_what_prints_before_the_format(client, staff_user, po):
    client.force_login(staff_user)
    response = client.get(_url(po))

    assert response.status_code == 200
    assert response.context["total"] == 5
    assert [row[0] for row in response.context["rows"]] == ["MUG-1", "tee blue-m"]


def test_purchase_order_labels_refuse_nothing_received_and_too_many(client, staff_user, db):
    empty = PurchaseOrderFactory(number="PO-00008")
    PurchaseOrderLineFactory(po=empty, sku=SkuFactory(code="CAP-1"), ordered=3)
    big = PurchaseOrderFactory(number="PO-00009")
    line = PurchaseOrderLineFactory(po=big, sku=SkuFactory(code="BOX-1"), ordered=LABELS_MAX + 1)
    purchase_order_line_receive(
        line=line, bin=BinFactory(), units=LABELS_MAX + 1, key=uuid.uuid4().hex
    )
    client.force_login(staff_user)

    nothing = client.get(_url(empty), {"format": "a4-3x8"})
    too_many = client.get(_url(big), {"format": "a4-3x8"})

    assert nothing.status_code == too_many.status_code == 400
    assert nothing.context["form"].non_field_errors() == ["There is nothing to label yet."]
    assert "5,001 labels" in too_many.context["form"].non_field_errors()[0]


def test_purchase_order_page_links_to_its_labels(client, manager_user, po):
    client.force_login(manager_user)
    page = client.get(reverse("replenishment:purchase-order-detail", args=[po.number]))
    assert _url(po) in page.text


def test_receive_page_links_staff_to_the_labels(client, staff_user, po):
    client.force_login(staff_user)
    page = client.get(reverse("replenishment:receive", args=[po.number]))
    assert _url(po) in page.text
