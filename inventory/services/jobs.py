"""Long work started from the browser, run by Celery, with progress the page can poll.

A job kind has a runner (``hooks.register_job_runner``): ``runner(job) -> dict | None``.
It reports progress with ``job_progress`` and returns its result, or returns None when it
handed the work to other tasks that call ``job_succeed`` / ``job_fail`` themselves.
"""

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from inventory import dispatch
from inventory.models import Job

log = logging.getLogger(__name__)


@transaction.atomic
def job_start(
    *, kind: str, title: str, params: dict | None = None, actor: AbstractBaseUser | None = None
) -> Job:
    """Create the job and hand it to a worker after commit."""
    from inventory import hooks

    if hooks.job_runner(kind) is None:
        raise ValueError(f"No runner for jobs of kind {kind!r}.")
    job = Job.objects.create(kind=kind, title=title, params=params or {}, created_by=actor)
    transaction.on_commit(lambda: dispatch.enqueue("inventory.tasks.run_job_task", job.pk))
    return job


def job_progress(
    *, job: Job, advance: int = 0, total: int | None = None, message: str | None = None
) -> None:
    """Record progress at once (its own tiny transaction), for the page that polls it."""
    changes: dict = {"status": Job.Status.RUNNING}
    if total is not None:
        changes["total"] = total
    if advance:
        changes["done"] = Least(F("done") + advance, F("total"))
    if message is not None:
        changes["message"] = message[:255]
    unfinished = Job.objects.filter(pk=job.pk).exclude(
        status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED]
    )
    unfinished.update(**changes)


def job_succeed(*, job: Job, result: dict) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED,
        done=F("total"),
        result=result,
        message="Done.",
        finished_at=timezone.now(),
    )


def job_fail(*, job: Job, error: str) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED, error=error[:5000], message="Failed.", finished_at=timezone.now()
    )


def job_run(*, job_id: int) -> None:
    """Run one job's runner; a job already finished is not run again (tasks ack late)."""
    from inventory import hooks

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return
    Job.objects.filter(pk=job.pk, started_at__isnull=True).update(
        started_at=timezone.now(), status=Job.Status.RUNNING
    )
    try:
        result = hooks.job_runner(job.kind)(job)
    except Exception as error:  # noqa: BLE001 - the page shows the reason
        log.exception("Job %s failed", job.pk)
        job_fail(job=job, error=f"{type(error).__name__}: {error}")
        return
    if result is not None:
        job_succeed(job=job, result=result)
