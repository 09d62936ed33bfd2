"""Browser-started jobs, as each user may see them."""

from dataclasses import dataclass

from django.db.models import QuerySet

from inventory.models import Job


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Managers and admins see every job; anyone else only the jobs they started."""
    if user.has_perm("inventory.run_reconciliation") or user.has_perm("inventory.add_bin"):
        return Job.objects.select_related("created_by")
    return Job.objects.filter(created_by=user).select_related("created_by")


# A job's result keys in words: what each figure counts.
JOB_RESULT_LABELS = {
    "storefront": "Storefront",
    "pages": "Pages read",
    "ranges": "SKU ranges compared",
    "skus_compared": "SKUs compared",
    "skipped_in_flight": "Skipped: a push was in flight",
    "unknown_skus": "SKUs the shelf does not know",
    "gaps": "Gaps found (storefront ≠ shelf)",
    "discrepancies_written": "Discrepancies recorded",
    "corrected": "Storefront copies corrected",
    "settled": "Earlier discrepancies settled",
    "counts_requested": "Counts asked for",
    "orders_at_risk": "SKUs with orders at risk",
    "not_yet_counted": "SKUs not yet counted",
    "held": "Corrections held for review",
    "points": "Storefront rate-limit points spent",
    "changed": "Catalog entries changed",
    "changes": "Changes going live would send",
    "created": "Created",
    "updated": "Updated",
    "unchanged": "Unchanged",
    "skus": "SKUs to count",
    "bin_tasks": "Count tasks opened in bins",
    "find_tasks": "Find-it tasks opened",
    "already_open": "Count tasks already open",
    "note": "Note",
}
# Keys whose value is a list of rows (an import's report): what those rows are.
JOB_RESULT_ROW_LABELS = {
    "corrected": "Rows where the shelf was corrected",
    "confirmed": "Rows that matched the record",
    "recount": "Rows sent for a blind recount",
    "approval": "Rows waiting for a manager's decision",
    "skipped": "Rows skipped",
    "rejected": "Rows rejected",
}


@dataclass(frozen=True)
class ResultFigure:
    key: str
    label: str
    value: object  # a number (a figure), a text, or a list of lines (rows skipped, …)

    @property
    def is_number(self) -> bool:
        return isinstance(self.value, int | float) and not isinstance(self.value, bool)

    @property
    def lines(self) -> list[str]:
        if not isinstance(self.value, list):
            return []
        return [
            f"row {item['row']}: {item.get('reason', '')}"
            if isinstance(item, dict) and "row" in item
            else str(item)
            for item in self.value
        ]


def job_result_figures(result) -> list[ResultFigure]:
    """A finished job's result as labelled figures, in words (an unknown key is spelled
    out: ``foo_bar`` → "Foo bar")."""
    if not isinstance(result, dict):
        return []

    def label(key: str, value) -> str:
        words = JOB_RESULT_ROW_LABELS if isinstance(value, list) else JOB_RESULT_LABELS
        return words.get(key) or key.replace("_", " ").capitalize()

    return [ResultFigure(key, label(key, value), value) for key, value in result.items()]
