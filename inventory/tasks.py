"""Celery tasks: thin, idempotent (acks late), arguments are ids and strings."""

import logging
import random
from datetime import timedelta

from celery import group, shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inventory import selectors
from inventory.models import Fact, InboxEvent, Job, System
from inventory.services import (
    catalog_pull,
    inbox_process,
    orders_at_risk_check,
    outbox_prune,
    storefront_push,
    storefront_reconcile,
)
from inventory.services.jobs import job_fail, job_progress, job_run, job_succeed
from inventory.services.outbox import push_kick_clear
from inventory.services.reconcile import ReconcileReport, range_codes, reconcile_parts
from inventory.storefront.base import RateLimited, StorefrontError

log = logging.getLogger(__name__)

RETRY_MAX_SECONDS = 300  # well below the broker's visibility timeout


def _backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped."""
    return random.uniform(0, min(RETRY_MAX_SECONDS, 2 ** (retries + 1)))


@shared_task(bind=True, max_retries=12, acks_late=True)
def push_storefronts_task(self) -> list[dict]:
    """Drain the outbox to every storefront that mirrors on-hand."""
    push_kick_clear()
    reports = []
    for storefront in selectors.storefronts_for_push():
        try:
            report = storefront_push(storefront=storefront, committed_only=True)
        except RateLimited as error:
            raise self.retry(
                exc=error, countdown=min(error.retry_after, RETRY_MAX_SECONDS)
            ) from error
        except StorefrontError as error:
            raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
        reports.append(report.summary())
    return reports


@shared_task(acks_late=True)
def sweep_outbox_task() -> dict:
    """Beat: push whatever no task took (a broker or worker was down), then prune."""
    pushed = []
    for storefront in selectors.storefronts_for_push():
        try:
            pushed.append(storefront_push(storefront=storefront).summary())
        except StorefrontError as error:  # the next sweep tries again
            log.warning("Sweep could not push to %s: %s", storefront, error)
    return {"pushed": pushed, "pruned": outbox_prune()}


@shared_task(acks_late=True)
def process_inbox_task(pks: list[int]) -> list[str]:
    return [row.status for pk in pks if (row := inbox_process(pk=pk)) is not None]


@shared_task(acks_late=True)
def sweep_inbox_task() -> int:
    """Beat: process stored events whose task never ran, or whose retry is due.

    Never raises on one event: an error is logged and the sweep goes on to the next.
    """
    now = timezone.now()
    pks = list(
        InboxEvent.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            status=InboxEvent.Status.PENDING,
            received_at__lt=now - timedelta(seconds=30),
        )
        .order_by("id")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in pks:
        try:
            inbox_process(pk=pk)
        except Exception:  # noqa: BLE001 - the next event must not wait on this one
            log.exception("Inbox event %s could not be processed; the sweep goes on", pk)
    return len(pks)


@shared_task(bind=True, acks_late=True, max_retries=6)
def reconcile_range_task(
    self, storefront_id: int, first: str | None, last: str | None, job_id: int | None = None
) -> dict:
    storefront = System.objects.get(pk=storefront_id)
    try:
        report = storefront_reconcile(
            storefront=storefront, codes=range_codes(first=first, last=last)
        )
    except RateLimited as error:
        raise self.retry(exc=error, countdown=min(error.retry_after, RETRY_MAX_SECONDS)) from error
    except StorefrontError as error:
        if not error.retryable:
            raise
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    if job_id is not None:
        compared = f"{first} … {last}" if first is not None else f"all of {storefront.name}"
        job_progress(job=Job(pk=job_id), advance=1, message=f"Compared {compared}")
    return report.as_dict()


@shared_task(acks_late=True)
def reconcile_storefronts_task() -> dict:
    """Beat: reconcile every storefront, its SKU ranges in parallel on the workers."""
    jobs = [
        reconcile_range_task.s(storefront.pk, first, last)
        for storefront in selectors.storefronts_for_reconcile()
        for first, last in reconcile_parts(storefront=storefront)
    ]
    summary: dict = {"ranges": len(jobs), "orders_at_risk": orders_at_risk_check()}
    if not jobs:
        return summary
    result = group(jobs).apply_async()
    if settings.CELERY_TASK_ALWAYS_EAGER:  # the embedded default: the reports are here now
        total = ReconcileReport(storefront="all")
        for report in result.get(disable_sync_subtasks=False):
            total.add(ReconcileReport(**{**report, "storefront": "all"}))
        summary |= total.as_dict()
    else:
        summary["group"] = result.id
    return summary


def reconcile_summary(summary: dict) -> str:
    if "skus_compared" not in summary:
        return f"{summary.get('ranges', 0)} SKU ranges sent to the workers."
    return (
        f"{summary['skus_compared']} SKUs compared, {summary['gaps']} gaps, "
        f"{summary['corrected']} corrected, {summary['counts_requested']} counts requested."
    )


def reconcile_now(*, storefront: System) -> ReconcileReport:
    """Reconcile one storefront synchronously, range by range (the management command)."""
    total = ReconcileReport(storefront=storefront.name)
    for first, last in reconcile_parts(storefront=storefront):
        total.add(
            storefront_reconcile(storefront=storefront, codes=range_codes(first=first, last=last))
        )
    total.orders_at_risk = orders_at_risk_check()
    return total


@shared_task(acks_late=True)
def pull_catalog_task() -> int:
    owner = selectors.owner_of(fact=Fact.CATALOG)
    if owner is None or owner.kind != System.Kind.STOREFRONT or not owner.adapter:
        return 0
    return catalog_pull(storefront=owner)


@shared_task(acks_late=True)
def run_job_task(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(acks_late=True)
def finish_reconcile_job_task(reports: list[dict], job_id: int) -> dict:
    total = ReconcileReport(storefront="all")
    for report in reports:
        total.add(ReconcileReport(**{**report, "storefront": "all"}))
    total.orders_at_risk = orders_at_risk_check()
    result = total.as_dict()
    job_succeed(job=Job(pk=job_id), result=result)
    return result


@shared_task(acks_late=True)
def fail_job_task(request, exc, traceback, job_id: int) -> None:
    job_fail(job=Job(pk=job_id), error=f"{type(exc).__name__}: {exc}")
