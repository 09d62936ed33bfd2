"""The kinds of browser-started jobs drift walks runs (registered in AppConfig.ready)."""

from driftwalks.imports import counts_import
from driftwalks.stocktake import opening_stock_take_open
from inventory import hooks
from inventory.models import Job, System
from inventory.services.imports import ImportRejected
from inventory.services.jobs import job_progress


def run_import_counts(job: Job) -> dict:
    """Counts from the CSV in the job's params, counted in the name of whoever started it."""
    if job.created_by is None:
        raise ValueError("The user who started this import no longer exists; nothing imported.")
    job_progress(job=job, total=2, message="Checking every row…")
    try:
        report = counts_import(
            text=job.params["csv"],
            mode=job.params["mode"],
            counter=job.created_by,
            batch=f"job{job.pk}",
            source=job.params.get("file") or job.title,
            progress=lambda message: job_progress(job=job, advance=1, message=message),
        )
    except ImportRejected as rejected:
        raise ValueError(rejected.every_row()) from rejected
    return report.as_dict()


def run_opening_stock_take(job: Job) -> dict:
    """Open the opening stock-take's count tasks of the storefront named in the params."""
    storefront = System.objects.get(name=job.params["storefront"], kind=System.Kind.STOREFRONT)
    report = opening_stock_take_open(
        storefront=storefront,
        actor=job.created_by,
        progress=lambda done, total: job_progress(
            job=job, total=max(total, 1), advance=1 if done else 0,
            message=f"Opening count tasks: {done} of {total} chunk(s) of SKUs…",
        ),
    )  # fmt: skip
    return report.as_dict()


def register() -> None:
    hooks.register_job_runner("import_counts", run_import_counts)
    hooks.register_job_runner("opening_stock_take", run_opening_stock_take)
