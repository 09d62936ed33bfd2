"""Returns intake services: phone returns."""

import pytest

from inventory.models import StockMovement
from returns import services
from returns.exceptions import ReturnsError
from returns.models import ReturnAuthorisation
from tests.returns.factories import key

RESTOCK = StockMovement.Kind.RETURN_RESTOCK


def restocks() -> int:
    return StockMovement.objects.filter(kind=RESTOCK).count()


def test_return_create_by_hand_records_the_lines_once(sku, manager_user, storefront):
    creation_key = key()
    made = services.return_create_by_hand(
        order_ref="D-1001", customer_name="Grace", lines=[("sku-1", 2, "broken")],
        creation_key=creation_key, actor=manager_user,
    )  # fmt: skip
    again = services.return_create_by_hand(
        order_ref="D-1001", customer_name="Grace", lines=[("SKU-1", 2, "broken")],
        creation_key=creation_key, actor=manager_user,
    )  # fmt: skip
    assert made.pk == again.pk and made.number == f"PH-{made.pk}"
    assert (made.origin, made.storefront, made.created_by) == ("phone", storefront, manager_user)
    assert list(made.lines.values_list("sku_code", "expected", "reason")) == [
        ("SKU-1", 2, "broken")
    ]
    assert restocks() == 0


@pytest.mark.parametrize(
    ("order_ref", "lines", "message"),
    [
        ("", [("SKU-1", 1, "")], "Name the order"),
        ("D-1", [], "at least one line"),
        ("D-1", [("NOPE", 1, "")], "Not in the catalog: NOPE"),
        ("D-1", [("SKU-1", 0, "")], "from 1 to"),
    ],
)
def test_return_create_by_hand_refuses_bad_input(sku, manager_user, order_ref, lines, message):
    with pytest.raises(ReturnsError, match=message):
        services.return_create_by_hand(
            order_ref=order_ref, customer_name="", lines=lines, creation_key=key(),
            actor=manager_user,
        )  # fmt: skip
    assert not ReturnAuthorisation.objects.exists()
