"""The refund mirror."""

from django.db import transaction
from django.db.models import Max, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.models import System
from inventory.storefront.base import (
    InboundEvent,
)
from returns.models import (
    RefundMirror,
    ReturnAuthorisation,
)


@transaction.atomic
def refund_mirror_from_event(*, system: System, event: InboundEvent) -> str:
    """REFUND_ISSUED: copy it into the mirror and update the refund status of the order's
    returns. Never changes on-hand: the refund is the storefront's fact, the restock ours."""
    units = sum(max(0, line.quantity) for line in event.lines)
    RefundMirror.objects.get_or_create(
        system=system,
        event_id=event.event_id[:200],
        defaults={
            "order_ref": (event.order_ref or "")[:100],
            "units": units,
            "occurred_at": event.occurred_at,
        },
    )
    returns = list(
        ReturnAuthorisation.objects.select_for_update()
        .filter(storefront=system, order_ref=event.order_ref)
        .order_by("pk")
    )
    for rma in returns:
        _refund_status_update(rma=rma)
    return (
        f"refund of {units} unit(s) on order {event.order_ref} mirrored on {len(returns)} "
        "return(s); on-hand unchanged"
    )


def _refund_status_update(*, rma: ReturnAuthorisation) -> None:
    if rma.storefront_id is None:
        return
    mirrors = RefundMirror.objects.filter(system_id=rma.storefront_id, order_ref=rma.order_ref)
    figures = mirrors.aggregate(units=Coalesce(Sum("units"), 0), latest=Max("recorded_at"))
    if figures["latest"] is None:
        return
    expected = rma.lines.aggregate(t=Coalesce(Sum("expected"), 0))["t"]
    status = (
        ReturnAuthorisation.RefundStatus.REFUNDED
        if expected and figures["units"] >= expected
        else ReturnAuthorisation.RefundStatus.PARTIAL
    )
    ReturnAuthorisation.objects.filter(pk=rma.pk).update(
        refund_status=status, refunded_units=figures["units"], refund_updated_at=timezone.now()
    )
