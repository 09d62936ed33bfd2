"""What the workers run. Each Celery task in ``inventory.tasks`` is a thin wrapper around one
of these (the task adds only its retries); the browser's reconciliation job and the beat's
share one fan-out of SKU ranges, and the management command runs the same ranges in turn.
"""

import logging
import time
from datetime import timedelta

from celery import chord, group
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inventory import dispatch, selectors
from inventory.models import Fact, InboxEvent, Job, System
from inventory.services.inbound import catalog_pull, inbox_process
from inventory.services.jobs import job_progress, job_succeed
from inventory.services.outbox import push_kick_clear
from inventory.services.push import outbox_prune, storefront_push
from inventory.services.reconcile import (
    ReconcileReport,
    orders_at_risk_check,
    range_codes,
    reconcile_parts,
    storefront_reconcile,
)
from inventory.storefront.base import StorefrontError

log = logging.getLogger(__name__)

RANGE_TASK = "inventory.tasks.reconcile_range_task"


def storefronts_push() -> list[dict]:
    """Drain the outbox to every storefront that mirrors on-hand (committed rows only).

    A storefront's error propagates (the task retries the whole drain)."""
    if wait := push_kick_clear():  # a promise made to commits since it was enqueued
        time.sleep(wait)
    return [
        storefront_push(storefront=storefront, committed_only=True).summary()
        for storefront in selectors.storefronts_for_push()
    ]


def outbox_sweep() -> dict:
    """Push whatever no task took (a broker or worker was down), then prune."""
    pushed = []
    for storefront in selectors.storefronts_for_push():
        try:
            pushed.append(storefront_push(storefront=storefront).summary())
        except StorefrontError as error:  # the next sweep tries again
            log.warning("Sweep could not push to %s: %s", storefront, error)
    return {"pushed": pushed, "pruned": outbox_prune()}


def inbox_sweep() -> int:
    """Process stored events whose task never ran, or whose retry is due.

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


def catalog_storefront() -> System | None:
    """The catalog's owner when it is a storefront OneFact can read, else None."""
    owner = selectors.owner_of(fact=Fact.CATALOG)
    if owner is None or owner.kind != System.Kind.STOREFRONT or not owner.adapter:
        return None
    return owner


def catalog_pull_from_owner() -> int:
    """Pull the catalog from its owner; 0 when the owner is no storefront with an adapter."""
    owner = catalog_storefront()
    return catalog_pull(storefront=owner) if owner is not None else 0


# --- reconciliation: one fan-out of SKU ranges -------------------------------------------


def _reconcile_ranges(*, job_id: int | None = None) -> list:
    """One step per SKU range of every storefront that mirrors on-hand."""
    return [
        dispatch.task(RANGE_TASK, storefront.pk, first, last, job_id)
        for storefront in selectors.storefronts_for_reconcile()
        for first, last in reconcile_parts(storefront=storefront)
    ]


def _total(reports: list[dict]) -> ReconcileReport:
    total = ReconcileReport(storefront="all")
    for report in reports:
        total.add(ReconcileReport(**{**report, "storefront": "all"}))
    return total


def storefronts_reconcile() -> dict:
    """Beat: reconcile every storefront, its SKU ranges in parallel on the workers."""
    parts = _reconcile_ranges()
    summary: dict = {"ranges": len(parts), "orders_at_risk": orders_at_risk_check()}
    if not parts:
        return summary
    result = group(parts).apply_async()
    if settings.CELERY_TASK_ALWAYS_EAGER:  # the embedded default: the reports are here now
        summary |= _total(result.get(disable_sync_subtasks=False)).as_dict()
    else:
        summary["group"] = result.id
    return summary


def reconcile_job_start(job: Job) -> dict | None:
    """The job of kind "reconcile": the same fan-out; the chord's last step finishes the job."""
    parts = _reconcile_ranges(job_id=job.pk)
    job_progress(job=job, total=len(parts), message=f"Comparing {len(parts)} SKU range(s)…")
    if not parts:
        return {"ranges": 0, "note": "no storefront mirrors on-hand"}
    finish = dispatch.task("inventory.tasks.finish_reconcile_job_task", job.pk)
    chord(parts)(finish.on_error(dispatch.task("inventory.tasks.fail_job_task", job.pk)))
    return None


def reconcile_range(
    *, storefront_id: int, first: str | None, last: str | None, job_id: int | None = None
) -> dict:
    """One SKU range of one storefront (a step of the fan-out)."""
    storefront = System.objects.get(pk=storefront_id)
    report = storefront_reconcile(storefront=storefront, codes=range_codes(first=first, last=last))
    if job_id is not None:
        compared = f"{first} … {last}" if first is not None else f"all of {storefront.name}"
        job_progress(job=Job(pk=job_id), advance=1, message=f"Compared {compared}")
    return report.as_dict()


def reconcile_job_finish(*, reports: list[dict], job_id: int) -> dict:
    """The fan-out's last step for a job: add the ranges' reports up and finish the job."""
    total = _total(reports)
    total.orders_at_risk = orders_at_risk_check()
    result = total.as_dict()
    job_succeed(job=Job(pk=job_id), result=result)
    return result


def reconcile_now(*, storefront: System) -> ReconcileReport:
    """Reconcile one storefront synchronously, range by range (the management command)."""
    total = ReconcileReport(storefront=storefront.name)
    for first, last in reconcile_parts(storefront=storefront):
        total.add(
            storefront_reconcile(storefront=storefront, codes=range_codes(first=first, last=last))
        )
    total.orders_at_risk = orders_at_risk_check()
    return total
