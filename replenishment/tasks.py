"""Celery tasks of replenishment: thin and idempotent (acks late)."""

from celery import shared_task

from replenishment.services import ghost_rows_detect


@shared_task(acks_late=True)
def detect_ghost_rows_task() -> dict:
    """Beat: record every ghost row once and ask for counts of the shelf's."""
    return ghost_rows_detect().__dict__
