"""The discrepancy list."""

from django.db.models import QuerySet

from inventory.models import Discrepancy, Sku


def discrepancies_for_list(
    *, status: str = "", kind: str = "", sku_code: str = "", sku: Sku | None = None
) -> QuerySet[Discrepancy]:
    """Discrepancies, newest first, with everything a list row shows in the same query.

    ``sku`` (a SKU's page) filters on the row's own column, read off its index; ``sku_code``
    (what someone typed) matches the code in any case, which has to look the code up."""
    qs = Discrepancy.objects.select_related(
        "sku", "bin", "owner", "consumer", "winner", "resolved_by"
    ).order_by("-created_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if sku is not None:
        qs = qs.filter(sku=sku)
    if sku_code:
        qs = qs.filter(sku__code__iexact=sku_code)
    return qs
