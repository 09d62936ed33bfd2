"""What was pushed to each storefront, per SKU."""

from django.db.models import QuerySet

from inventory.models import Sku, SyncState


def sync_states_for_sku(*, sku: Sku) -> QuerySet[SyncState]:
    return SyncState.objects.filter(sku=sku).select_related("storefront").order_by("storefront")


def sync_log_for_sku(*, sku: Sku, limit: int = 10):
    """The SKU's latest acknowledged pushes, newest first: its sync history."""
    from inventory.models import SyncLog

    return SyncLog.objects.filter(sku=sku).select_related("storefront").order_by("-id")[:limit]
