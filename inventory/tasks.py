"""Celery tasks: thin, idempotent (acks late), arguments are ids and strings.

Each wraps one service (``inventory.services.runs`` and friends) and adds only its retries.
Tasks import services; services reach tasks by name through ``inventory.dispatch``.
"""

import random

from celery import shared_task

from inventory.models import Job
from inventory.services import inbox_process, runs
from inventory.services.jobs import job_fail, job_run
from inventory.services.outbox import push_wait_until
from inventory.storefront.base import RateLimited, StorefrontError

RETRY_MAX_SECONDS = 300  # well below the broker's visibility timeout


def _backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped."""
    return random.uniform(0, min(RETRY_MAX_SECONDS, 2 ** (retries + 1)))


@shared_task(bind=True, max_retries=12, acks_late=True, ignore_result=True)
def push_storefronts_task(self, due: int | None = None) -> list[dict]:
    """Drain the outbox to every storefront that mirrors on-hand, not before ``due`` (a
    kick's promise, Redis's clock in ms). Its summary is logged, not stored: nobody reads
    it, and a drain runs every few hundredths of a second in a burst."""
    push_wait_until(due)
    try:
        return runs.storefronts_push()
    except RateLimited as error:
        raise self.retry(exc=error, countdown=min(error.retry_after, RETRY_MAX_SECONDS)) from error
    except StorefrontError as error:
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error


@shared_task(acks_late=True)
def sweep_outbox_task() -> dict:
    """Beat: push whatever no task took (a broker or worker was down), then prune."""
    return runs.outbox_sweep()


@shared_task(acks_late=True)
def process_inbox_task(pks: list[int]) -> list[str]:
    return [row.status for pk in pks if (row := inbox_process(pk=pk)) is not None]


@shared_task(acks_late=True)
def sweep_inbox_task() -> int:
    """Beat: process stored events whose task never ran, or whose retry is due."""
    return runs.inbox_sweep()


@shared_task(bind=True, acks_late=True, max_retries=6)
def reconcile_range_task(
    self, storefront_id: int, first: str | None, last: str | None, job_id: int | None = None
) -> dict:
    try:
        return runs.reconcile_range(
            storefront_id=storefront_id, first=first, last=last, job_id=job_id
        )
    except RateLimited as error:
        raise self.retry(exc=error, countdown=min(error.retry_after, RETRY_MAX_SECONDS)) from error
    except StorefrontError as error:
        if not error.retryable:
            raise
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error


@shared_task(acks_late=True)
def reconcile_storefronts_task() -> dict:
    """Beat: reconcile every storefront, its SKU ranges in parallel on the workers."""
    return runs.storefronts_reconcile()


@shared_task(acks_late=True)
def pull_catalog_task() -> int:
    return runs.catalog_pull_from_owner()


@shared_task(acks_late=True)
def run_job_task(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(acks_late=True)
def finish_reconcile_job_task(reports: list[dict], job_id: int) -> dict:
    return runs.reconcile_job_finish(reports=reports, job_id=job_id)


@shared_task(acks_late=True)
def fail_job_task(request, exc, traceback, job_id: int) -> None:
    job_fail(job=Job(pk=job_id), error=f"{type(exc).__name__}: {exc}")
