"""Browser-started jobs, as each user may see them."""

from django.db.models import QuerySet

from inventory.models import Job


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Managers and admins see every job; anyone else only the jobs they started."""
    if user.has_perm("inventory.run_reconciliation") or user.has_perm("inventory.add_bin"):
        return Job.objects.select_related("created_by")
    return Job.objects.filter(created_by=user).select_related("created_by")
