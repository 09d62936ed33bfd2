"""What each kind of browser-started job of ``inventory`` does (registered in AppConfig.ready)."""

from inventory import hooks, selectors
from inventory.models import Job, System
from inventory.services.imports import ImportRejected, bins_import, skus_import
from inventory.services.inbound import catalog_pull
from inventory.services.jobs import job_progress
from inventory.services.reconcile import storefront_reconcile
from inventory.services.runs import catalog_storefront, reconcile_job_start


def run_catalog_pull(job: Job) -> dict:
    owner = catalog_storefront()
    if owner is None:
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
    hooks.register_job_runner("reconcile", reconcile_job_start)
    hooks.register_job_runner("catalog_pull", run_catalog_pull)
    hooks.register_job_runner("import_bins", run_import_bins)
    hooks.register_job_runner("import_skus", run_import_skus)
    hooks.register_job_runner("go_live_preview", run_go_live_preview)
