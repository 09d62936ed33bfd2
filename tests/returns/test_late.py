"""Returns intake services: late returns."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inventory.models import Discrepancy
from returns import services
from returns.models import ReturnAuthorisation


def mismatches() -> list[str]:
    return list(
        Discrepancy.objects.filter(kind="return_mismatch")
        .order_by("id")
        .values_list("detail", flat=True)
    )


def test_returns_flag_late_flags_each_overdue_return_once(rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 3)
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=4)
    )
    assert services.returns_flag_late() == 1
    assert services.returns_flag_late() == 0
    rma.refresh_from_db()
    assert rma.late_flagged_at is not None
    (detail,) = mismatches()
    assert "2 of 2 unit(s) not arrived 3 days after" in detail


def test_returns_flag_late_leaves_recent_and_complete_returns_alone(rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 3)
    assert services.returns_flag_late() == 0
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=10),
        status="complete",
        completed_at=timezone.now(),
    )
    assert services.returns_flag_late() == 0
    assert not Discrepancy.objects.exists()
