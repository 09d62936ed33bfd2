"""Celery tasks of drift walks: thin and idempotent (beat sends them; acks are late)."""

from celery import shared_task

from driftwalks.services import count_tasks_escalate, cycle_counts_open


@shared_task(acks_late=True)
def open_cycle_counts_task() -> int:
    """Beat, daily: open the cycle counts that are due (conflicts with open tasks skipped)."""
    return cycle_counts_open()


@shared_task(acks_late=True)
def escalate_overdue_task() -> int:
    """Beat: mark overdue unfinished tasks escalated (each once) for the managers' page."""
    return count_tasks_escalate()
