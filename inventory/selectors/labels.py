"""What to print labels for: bins in walk order (as a count walk visits them), SKUs by code."""

from django.db.models import Q, QuerySet

from inventory.models import Bin, Sku


def bins_for_labels(
    *, zone: str = "", start: Bin | None = None, end: Bin | None = None
) -> QuerySet[Bin]:
    """Active bins in walk order, as a count walk orders them: all, one zone, or the stretch of
    the walk from ``start`` to ``end`` (both included)."""
    bins = Bin.objects.filter(active=True).order_by("walk_order", "code")
    if zone:
        bins = bins.filter(zone__iexact=zone)
    if start is not None:
        after = Q(walk_order=start.walk_order, code__gte=start.code)
        bins = bins.filter(Q(walk_order__gt=start.walk_order) | after)
    if end is not None:
        before = Q(walk_order=end.walk_order, code__lte=end.code)
        bins = bins.filter(Q(walk_order__lt=end.walk_order) | before)
    return bins


def bin_for_code(*, code: str) -> Bin | None:
    """The bin a scanned or typed code names (any letter case), as the scan fields find it."""
    return Bin.objects.filter(code__iexact=code).order_by("code").first()


def sku_for_code(*, code: str) -> Sku | None:
    return Sku.objects.filter(code__iexact=code).order_by("code").first()


def walk_position(bin: Bin) -> tuple[int, str]:
    return (bin.walk_order, bin.code)
