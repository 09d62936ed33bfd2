"""Returns intake services: quarantine and mismatches."""

import pytest

from inventory.models import Discrepancy, StockMovement
from returns import services
from returns.exceptions import ReturnsError
from returns.models import QuarantineItem
from tests.returns.factories import key
from tests.returns.steps import confirm, grade, held, on_hand, scan

RESTOCK = StockMovement.Kind.RETURN_RESTOCK


def restocks() -> int:
    return StockMovement.objects.filter(kind=RESTOCK).count()


@pytest.fixture
def quarantined(stocked_bin, rma):
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    return QuarantineItem.objects.get()


def test_quarantine_write_off_needs_a_reason_and_resolves_the_damage(
    quarantined, manager_user, stocked_bin, sku
):
    with pytest.raises(ReturnsError, match="why"):
        services.quarantine_write_off(item=quarantined, reason="  ", actor=manager_user)
    done = services.quarantine_write_off(item=quarantined, reason="torn", actor=manager_user)
    again = services.quarantine_write_off(item=quarantined, reason="again", actor=manager_user)
    assert done.status == again.status == "written_off"
    assert again.reason == "torn"
    assert held() == 0
    assert on_hand(stocked_bin, sku) == 10
    damage = Discrepancy.objects.get()
    assert (damage.status, damage.resolution, damage.resolved_by) == (
        "resolved",
        "decision",
        manager_user,
    )
    assert "torn" in damage.resolution_note


def test_quarantine_restock_is_one_return_restock_movement(
    quarantined, manager_user, stocked_bin, sku
):
    services.quarantine_restock(item=quarantined, bin_code="A-14", actor=manager_user)
    services.quarantine_restock(item=quarantined, bin_code="A-14", actor=manager_user)
    assert on_hand(stocked_bin, sku) == 11
    move = StockMovement.objects.get(kind=RESTOCK)
    assert move.source_event_id == f"return-quarantine:{quarantined.pk}"
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.bin, quarantined.movement) == (
        "restocked",
        stocked_bin,
        move,
    )
    assert Discrepancy.objects.get().status == "resolved"


def test_quarantine_restock_needs_a_bin(quarantined, manager_user):
    with pytest.raises(ReturnsError) as refused:
        services.quarantine_restock(item=quarantined, bin_code="", actor=manager_user)
    assert refused.value.field == "bin"
    assert restocks() == 0


def test_mismatch_resolve_needs_a_note_and_leaves_quarantine_to_its_page(
    quarantined, manager_user, rma
):
    damage = Discrepancy.objects.get()
    with pytest.raises(ReturnsError, match="quarantine"):
        services.return_mismatch_resolve(discrepancy=damage, note="ok", actor=manager_user)
    services.receipt_missing_mark(line=rma.lines.get(), quantity=1, scan_key=key(), actor=None)
    confirm(rma)
    missing = Discrepancy.objects.filter(detail__contains="missing").get()
    with pytest.raises(ReturnsError, match="decided"):
        services.return_mismatch_resolve(discrepancy=missing, note=" ", actor=manager_user)
    done = services.return_mismatch_resolve(
        discrepancy=missing, note="customer kept it", actor=manager_user
    )
    assert (done.status, done.resolution_note) == ("resolved", "customer kept it")
