"""Late returns."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import Discrepancy, Fact, System
from inventory.services import (
    discrepancy_record,
)
from returns.models import (
    ReturnAuthorisation,
    ReturnLine,
)


@transaction.atomic
def returns_flag_late(*, now: datetime | None = None, limit: int = 500) -> int:
    """Returns whose expected units have not all arrived ``late_days`` after they were
    authorised: flagged once each, with a return_mismatch discrepancy. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ONEFACT_RETURNS_LATE_DAYS)
    due = ReturnAuthorisation.objects.filter(
        status__in=[ReturnAuthorisation.Status.AWAITING, ReturnAuthorisation.Status.RECEIVING],
        created_at__lt=cutoff,
        late_flagged_at__isnull=True,
    )
    ids = list(due.order_by("created_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    rows = list(
        ReturnAuthorisation.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, late_flagged_at__isnull=True)
        .order_by("pk")
    )
    figures = {
        row["rma"]: row
        for row in ReturnLine.objects.filter(rma_id__in=[r.pk for r in rows])
        .values("rma")
        .annotate(
            expected_units=Sum("expected"),
            arrived=Sum(F("sellable") + F("damaged")),
            missing_units=Sum("missing"),
        )
        .order_by()
    }
    storefronts = {s.pk: s for s in System.objects.filter(pk__in={r.storefront_id for r in rows})}
    for rma in rows:
        row = figures.get(rma.pk, {"expected_units": 0, "arrived": 0, "missing_units": 0})
        waiting = row["expected_units"] - row["arrived"] - row["missing_units"]
        discrepancy_record(
            kind=Discrepancy.Kind.RETURN_MISMATCH,
            fact=Fact.RESTOCK,
            detail=(
                f"Return {rma.number}: {waiting} of {row['expected_units']} unit(s) not arrived "
                f"{settings.ONEFACT_RETURNS_LATE_DAYS} days after the return was authorised (late)."
            ),
            consumer=storefronts.get(rma.storefront_id),
            owner_value=row["arrived"],
            consumer_value=row["expected_units"],
            reference=rma.number,
        )
        rma.late_flagged_at = now
    ReturnAuthorisation.objects.bulk_update(rows, ["late_flagged_at"])
    return len(rows)


returns_flag_late.alters_data = True
