"""Celery tasks of replenishment: thin and idempotent (acks late)."""

from celery import shared_task

from replenishment.services import ghost_rows_detect
from replenishment.services.sales_history import sales_history_fold


@shared_task(acks_late=True)
def detect_ghost_rows_task() -> dict:
    """Beat: record every ghost row once and ask for counts of the shelf's."""
    return ghost_rows_detect().__dict__


@shared_task(acks_late=True)
def fold_sales_history_task() -> dict:
    """Beat: fold the ledger's new rows into the kept sales history (a rebuild when the
    day has turned)."""
    return sales_history_fold().__dict__
