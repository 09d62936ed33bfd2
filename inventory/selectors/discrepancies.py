"""The discrepancy list."""

from django.db.models import QuerySet

from inventory.models import Discrepancy


def discrepancies_for_list(
    *, status: str = "", kind: str = "", sku_code: str = ""
) -> QuerySet[Discrepancy]:
    """Discrepancies, newest first, with everything a list row shows in the same query."""
    qs = Discrepancy.objects.select_related(
        "sku", "bin", "owner", "consumer", "winner", "resolved_by"
    ).order_by("-created_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if sku_code:
        qs = qs.filter(sku__code__iexact=sku_code)
    return qs
