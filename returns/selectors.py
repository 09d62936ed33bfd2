"""Reads of returns intake. Every list is a queryset with what its rows show already joined
or annotated, so a page runs the same few queries whatever the data size."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from inventory.models import Discrepancy
from inventory.selectors import discrepancies_for_list
from returns.models import (
    COUNTED_GRADES,
    QuarantineItem,
    ReceiptUnit,
    ReturnAuthorisation,
    ReturnLine,
    ReturnOutcome,
    ReturnReceipt,
)

Grade = ReceiptUnit.Grade
OPEN_STATUSES = [ReturnAuthorisation.Status.AWAITING, ReturnAuthorisation.Status.RECEIVING]


def _sum(expression, **filters) -> Coalesce:
    return Coalesce(Sum(expression, filter=Q(**filters) if filters else None), 0)


def returns_for_code(*, code: str) -> QuerySet[ReturnAuthorisation]:
    """Returns whose number or order reference is ``code`` (as scanned or typed), newest first."""
    code = (code or "").strip()
    if not code:
        return ReturnAuthorisation.objects.none()
    return (
        ReturnAuthorisation.objects.filter(Q(number__iexact=code) | Q(order_ref__iexact=code))
        .select_related("storefront")
        .order_by("-created_at", "-id")
    )


def _with_units(qs: QuerySet[ReturnAuthorisation]) -> QuerySet[ReturnAuthorisation]:
    expected = (
        ReturnLine.objects.filter(rma=OuterRef("pk"))
        .values("rma")
        .annotate(t=Sum("expected"))
        .values("t")
    )
    accounted = (
        ReturnLine.objects.filter(rma=OuterRef("pk"))
        .values("rma")
        .annotate(t=Sum(F("sellable") + F("damaged") + F("missing")))
        .values("t")
    )
    return qs.annotate(
        expected_units=Coalesce(Subquery(expected, output_field=IntegerField()), 0),
        accounted_units=Coalesce(Subquery(accounted, output_field=IntegerField()), 0),
    ).annotate(outstanding_units=F("expected_units") - F("accounted_units"))


def returns_awaiting_to_count(*, now: datetime | None = None) -> QuerySet[ReturnAuthorisation]:
    """Returns with units still expected, with their lateness and nothing else: what the
    dashboard counts (without the units' subqueries a count does not need)."""
    now = now or timezone.now()
    late_before = now - timedelta(days=settings.ONEFACT_RETURNS_LATE_DAYS)
    return ReturnAuthorisation.objects.filter(status__in=OPEN_STATUSES).annotate(
        is_late=ExpressionWrapper(Q(created_at__lt=late_before), output_field=BooleanField())
    )


def returns_awaiting(*, now: datetime | None = None) -> QuerySet[ReturnAuthorisation]:
    """Returns with units still expected, oldest first, with their age and lateness."""
    return (
        _with_units(returns_awaiting_to_count(now=now))
        .select_related("storefront")
        .order_by("created_at", "id")
    )


def receipts_confirmed_since(*, since: datetime) -> QuerySet[ReturnReceipt]:
    """Boxes confirmed since ``since`` (e.g. today's), newest first, with their unit counts."""
    return (
        ReturnReceipt.objects.filter(status=ReturnReceipt.Status.CONFIRMED, confirmed_at__gte=since)
        .select_related("rma", "confirmed_by")
        .annotate(
            sellable_units=_sum("units__quantity", units__grade=Grade.SELLABLE),
            damaged_units=_sum("units__quantity", units__grade=Grade.DAMAGED),
            wrong_units=_sum("units__quantity", units__grade=Grade.WRONG_ITEM),
            missing_units=_sum("units__quantity", units__grade=Grade.MISSING),
        )
        .order_by("-confirmed_at", "-id")
    )


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def return_mismatches(*, status: str = "open") -> QuerySet[Discrepancy]:
    """Return mismatches (fewer, extra, wrong, damaged, late) from the discrepancy model."""
    return discrepancies_for_list(status=status, kind=Discrepancy.Kind.RETURN_MISMATCH)


def quarantine_held() -> QuerySet[QuarantineItem]:
    """Damaged units waiting for a manager's decision, oldest first."""
    return (
        QuarantineItem.objects.filter(status=QuarantineItem.Status.HELD)
        .select_related("rma", "unit__receipt")
        .order_by("created_at", "id")
    )


def quarantine_total() -> int:
    """Units held in quarantine: counted, never on-hand, never available."""
    return QuarantineItem.objects.filter(status=QuarantineItem.Status.HELD).aggregate(
        t=Coalesce(Sum("quantity"), 0)
    )["t"]


def damage_rate_by_sku() -> QuerySet:
    """Per SKU: units that arrived in confirmed boxes, how many damaged, and the rate (%).

    Aggregated in SQL, worst first.
    """
    arrived = Sum("quantity", filter=Q(grade__in=[Grade.SELLABLE, Grade.DAMAGED]))
    damaged = Sum("quantity", filter=Q(grade=Grade.DAMAGED))
    return (
        ReceiptUnit.objects.filter(
            receipt__status=ReturnReceipt.Status.CONFIRMED,
            grade__in=[Grade.SELLABLE, Grade.DAMAGED],
        )
        .values("sku_code")
        .annotate(arrived=Coalesce(arrived, 0), damaged=Coalesce(damaged, 0))
        .annotate(
            rate=ExpressionWrapper(
                Value(100.0)
                * Cast(F("damaged"), FloatField())
                / NullIf(Cast(F("arrived"), FloatField()), Value(0.0)),
                output_field=FloatField(),
            )
        )
        .order_by("-rate", "-damaged", "sku_code")
    )


def outcomes_not_sent() -> QuerySet[ReturnOutcome]:
    """Outcomes the storefront has not taken yet (waiting, or kept with the reason)."""
    return (
        ReturnOutcome.objects.exclude(status=ReturnOutcome.Status.SENT)
        .select_related("rma", "line")
        .order_by("status", "next_attempt_at", "id")
    )


def returns_overview(*, now: datetime | None = None) -> dict:
    """The manager's figures, in a fixed number of queries."""
    now = now or timezone.now()
    late_before = now - timedelta(days=settings.ONEFACT_RETURNS_LATE_DAYS)
    open_returns = ReturnAuthorisation.objects.filter(status__in=OPEN_STATUSES).aggregate(
        awaiting=Count("id"), late=Count("id", filter=Q(created_at__lt=late_before))
    )
    today = ReturnReceipt.objects.filter(
        status=ReturnReceipt.Status.CONFIRMED, confirmed_at__gte=start_of_today()
    ).count()
    outcomes = ReturnOutcome.objects.exclude(status=ReturnOutcome.Status.SENT).aggregate(
        waiting=Count("id", filter=Q(status=ReturnOutcome.Status.PENDING)),
        failed=Count("id", filter=Q(status=ReturnOutcome.Status.FAILED)),
    )
    damage = ReceiptUnit.objects.filter(
        receipt__status=ReturnReceipt.Status.CONFIRMED,
        grade__in=[Grade.SELLABLE, Grade.DAMAGED],
    ).aggregate(
        arrived=Coalesce(Sum("quantity"), 0),
        damaged=Coalesce(Sum("quantity", filter=Q(grade=Grade.DAMAGED)), 0),
    )
    return {
        "awaiting": open_returns["awaiting"],
        "late": open_returns["late"],
        "received_today": today,
        "mismatches": return_mismatches().count(),
        "quarantine": quarantine_total(),
        "outcomes_waiting": outcomes["waiting"],
        "outcomes_failed": outcomes["failed"],
        "units_arrived": damage["arrived"],
        "units_damaged": damage["damaged"],
        # over every confirmed box; None (not 0 %) before any unit has arrived
        "damage_rate": (
            round(100 * damage["damaged"] / damage["arrived"], 1) if damage["arrived"] else None
        ),
    }


# --- the receiving page --------------------------------------------------------------------


def return_for_receiving(*, pk: int) -> ReturnAuthorisation | None:
    return ReturnAuthorisation.objects.select_related("storefront").filter(pk=pk).first()


def open_receipt_for_return(*, rma: ReturnAuthorisation) -> ReturnReceipt | None:
    return rma.receipts.filter(status=ReturnReceipt.Status.OPEN).first()


def lines_for_receiving(
    *, rma: ReturnAuthorisation, receipt: ReturnReceipt | None
) -> QuerySet[ReturnLine]:
    """The expected lines with what the open box holds of each (graded or waiting)."""
    in_box = Value(0)
    if receipt is not None:
        in_box = Coalesce(
            Subquery(
                ReceiptUnit.objects.filter(
                    receipt=receipt, line=OuterRef("pk"), grade__in=COUNTED_GRADES
                )
                .values("line")
                .annotate(t=Sum("quantity"))
                .values("t"),
                output_field=IntegerField(),
            ),
            0,
        )
    return (
        rma.lines.annotate(in_box=in_box)
        .annotate(
            still_expected=F("expected") - F("sellable") - F("damaged") - F("missing") - F("in_box")
        )
        .order_by("id")
    )


def units_for_receipt(*, receipt: ReturnReceipt | None) -> QuerySet[ReceiptUnit]:
    if receipt is None:
        return ReceiptUnit.objects.none()
    return receipt.units.select_related("bin", "line").order_by("-id")


def receipts_for_return(*, rma: ReturnAuthorisation) -> QuerySet[ReturnReceipt]:
    """The return's confirmed boxes with their unit counts, newest first."""
    return (
        rma.receipts.filter(status=ReturnReceipt.Status.CONFIRMED)
        .select_related("confirmed_by")
        .annotate(
            sellable_units=_sum("units__quantity", units__grade=Grade.SELLABLE),
            damaged_units=_sum("units__quantity", units__grade=Grade.DAMAGED),
            wrong_units=_sum("units__quantity", units__grade=Grade.WRONG_ITEM),
            missing_units=_sum("units__quantity", units__grade=Grade.MISSING),
        )
        .order_by("-sequence")
    )


def sellable_units_for_labels(*, rma: ReturnAuthorisation) -> list[tuple[str, str, int]]:
    """``(SKU code, title, units)`` a return's confirmed boxes graded sellable: one label each."""
    rows = (
        ReceiptUnit.objects.filter(
            receipt__rma=rma,
            receipt__status=ReturnReceipt.Status.CONFIRMED,
            grade=ReceiptUnit.Grade.SELLABLE,
        )
        .values("sku_code", "sku__title")
        .annotate(units=Sum("quantity"))
        .order_by("sku_code")
    )
    return [(r["sku_code"], r["sku__title"] or "", r["units"]) for r in rows]
