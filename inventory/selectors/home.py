"""The few figures each role's home page shows."""

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from inventory.models import AuthorityConflict, Bin, Fact, OnHand, Ownership, Sku, StockMovement


def home_figures(*, role: str) -> dict:
    """The few figures each role's home page shows, in a fixed number of queries."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=7)
    figures: dict = {
        "bins": Bin.objects.filter(active=True).count(),
        "skus": Sku.objects.filter(active=True).count(),
    }
    if role in ("manager", "admin"):
        owned = Ownership.objects.aggregate(n=Count("owner"))["n"]
        figures |= {
            "gaps": len(Fact.values) - owned,
            "conflicts_7d": AuthorityConflict.objects.filter(created_at__gte=since).count(),
            "movements_7d": StockMovement.objects.filter(created_at__gte=since).count(),
            "units_on_hand": OnHand.objects.aggregate(t=Coalesce(Sum("quantity"), 0))["t"],
        }
    return figures
