"""What only PostgreSQL shows: two phones confirming the same box at once restock once."""

import pytest

from inventory.models import OnHand, StockMovement
from inventory.selectors import ledger_mismatches
from returns import services
from returns.models import QuarantineItem, ReceiptUnit, ReturnAuthorisation, ReturnReceipt
from tests.returns.factories import key
from tests.returns.steps import confirm, grade, scan
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def restocks() -> int:
    return StockMovement.objects.filter(kind="return_restock").count()


@pytest.mark.parametrize("same_key", [False, True], ids=["two-phones", "double-submit"])
def test_concurrent_confirmations_of_one_box_restock_once(
    postgres, stocked_bin, sku, rma, same_key
):
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    receipt_pk = ReturnReceipt.objects.get().pk
    shared = key()

    def confirm_box(i):
        return services.receipt_confirm(
            receipt=ReturnReceipt.objects.get(pk=receipt_pk),
            confirm_key=shared if same_key else key(),
            actor=None,
        )

    results = in_threads(6, confirm_box)

    assert all(isinstance(r, services.ConfirmResult) for r in results), results
    assert sum(not (r.already or r.replayed) for r in results) == 1
    assert restocks() == 1
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 11
    assert rma.lines.get().sellable == 1
    assert ledger_mismatches() == []


def test_concurrent_scans_never_expect_more_than_the_return_holds(postgres, stocked_bin, rma):
    results = in_threads(5, lambda i: scan(ReturnAuthorisation.objects.get(pk=rma.pk), "SKU-1"))
    assert all(isinstance(r, services.ScanResult) for r in results), results
    waiting = ReceiptUnit.objects.filter(grade="", line__isnull=False)
    assert sum(waiting.values_list("quantity", flat=True)) == 2  # what is expected
    assert ReceiptUnit.objects.filter(grade="wrong_item").count() == 3  # the rest: extras
    assert ReturnReceipt.objects.count() == 1  # one open box, whoever scanned first


def test_concurrent_restocks_of_one_quarantined_unit_move_it_once(postgres, stocked_bin, sku, rma):
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    item_pk = QuarantineItem.objects.get().pk

    def restock(i):
        return services.quarantine_restock(
            item=QuarantineItem.objects.get(pk=item_pk), bin_code="A-14", actor=None
        )

    results = in_threads(4, restock)
    assert all(isinstance(r, QuarantineItem) for r in results), results
    assert restocks() == 1
    assert OnHand.objects.get(bin=stocked_bin, sku=sku).quantity == 11
