"""What each kind of browser-started job of ``inventory`` does (registered in AppConfig.ready)."""

from celery import chord

from inventory import hooks, selectors
from inventory.models import Fact, Job, System
from inventory.services.imports import ImportRejected, bins_import, skus_import
from inventory.services.inbound import catalog_pull
from inventory.services.jobs import job_progress
from inventory.services.reconcile import reconcile_parts, storefront_reconcile


def run_reconcile(job: Job) -> dict | None:
    """Fan the SKU ranges out to the workers; the chord's last step finishes the job."""
    from inventory.tasks import fail_job_task, finish_reconcile_job_task, reconcile_range_task

    parts = [
        reconcile_range_task.s(storefront.pk, first, last, job.pk)
        for storefront in selectors.storefronts_for_reconcile()
        for first, last in reconcile_parts(storefront=storefront)
    ]
    job_progress(job=job, total=len(parts), message=f"Comparing {len(parts)} SKU range(s)…")
    if not parts:
        return {"ranges": 0, "note": "no storefront mirrors on-hand"}
    chord(parts)(finish_reconcile_job_task.s(job.pk).on_error(fail_job_task.s(job.pk)))
    return None


def run_catalog_pull(job: Job) -> dict:
    owner = selectors.owner_of(fact=Fact.CATALOG)
    if owner is None or owner.kind != System.Kind.STOREFRONT or not owner.adapter:
        raise ValueError("The catalog's owner is not a storefront with an adapter.")
    job_progress(job=job, total=1, message=f"Reading {owner.name}'s catalog…")
    changed = catalog_pull(storefront=owner)
    return {"storefront": owner.name, "changed": changed}


def _run_import(job: Job, importer) -> dict:
    job_progress(job=job, total=1, message="Checking every row…")
    try:
        report = importer(text=job.params["csv"], mode=job.params["mode"])
    except ImportRejected as rejected:
        raise ValueError(rejected.every_row()) from rejected
    return report.as_dict()


def run_import_bins(job: Job) -> dict:
    return _run_import(job, bins_import)


def run_import_skus(job: Job) -> dict:
    return _run_import(job, skus_import)


def run_go_live_preview(job: Job) -> dict:
    """Read the whole storefront and keep what going live would send, as its preview."""
    storefront = System.objects.get(
        name=job.params["storefront"], kind=System.Kind.STOREFRONT, active=True
    )
    job_progress(job=job, total=1, message=f"Reading every level of {storefront.name}…")
    report = storefront_reconcile(storefront=storefront, preview=True)
    preview = selectors.preview_for(storefront=storefront)
    return {
        "storefront": storefront.name,
        "skus_compared": report.skus_compared,
        "not_yet_counted": report.not_yet_counted,
        "changes": len(preview.writes) if preview else 0,
    }


def register() -> None:
    hooks.register_job_runner("reconcile", run_reconcile)
    hooks.register_job_runner("catalog_pull", run_catalog_pull)
    hooks.register_job_runner("import_bins", run_import_bins)
    hooks.register_job_runner("import_skus", run_import_skus)
    hooks.register_job_runner("go_live_preview", run_go_live_preview)
