"""The returns tasks are thin: they load by id and call one service."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from returns.models import ReturnAuthorisation
from returns.tasks import flag_late_returns_task, send_return_outcomes_task


def test_flag_late_returns_task_flags_overdue_returns(rma, monkeypatch):
    monkeypatch.setattr(settings, "ONEFACT_RETURNS_LATE_DAYS", 14)
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        created_at=timezone.now() - timedelta(days=15)
    )
    assert flag_late_returns_task() == 1
    assert flag_late_returns_task() == 0


def test_send_return_outcomes_task_for_a_return_gone_does_nothing(db):
    assert send_return_outcomes_task(987654) == {"rma": None}


def test_send_return_outcomes_task_with_nothing_due_sends_nothing(rma):
    assert send_return_outcomes_task(rma.pk)["sent"] == 0
    assert send_return_outcomes_task() == []
