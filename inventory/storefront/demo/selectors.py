"""Reads of the demo storefront page."""

from django.db.models import Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from inventory.models import InboxEvent
from inventory.selectors import skus_with_stock
from inventory.storefront.demo.models import DemoLevel, DemoOrder


def demo_levels_with_shelf() -> QuerySet[DemoLevel]:
    """The demo's numbers with the shelf's available beside them, in one query a page.

    ``shelf_available`` is None when the shelf has no such SKU; ``gap`` is the demo's
    number minus the shelf's available (0 when they agree).
    """
    shelf = skus_with_stock().filter(code=OuterRef("sku_code")).values("available")[:1]
    return (
        DemoLevel.objects.annotate(shelf_available=Subquery(shelf, output_field=IntegerField()))
        .annotate(gap=F("quantity") - F("shelf_available"))
        .order_by("sku_code")
    )


def demo_orders_recent(*, limit: int = 20) -> QuerySet[DemoOrder]:
    """The newest demo orders, each flagged when its return has been opened (one query)."""
    returned = InboxEvent.objects.filter(
        system__name="storefront",
        event_id=Concat(OuterRef("number"), Value(":return-opened")),
    )
    return DemoOrder.objects.annotate(return_opened=Exists(returned)).order_by("-id")[:limit]
