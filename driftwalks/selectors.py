"""Reads of drift walks: walks, count sheets, manager lists and the accuracy figures.

Every list is one query (or a fixed few) whatever the data size; the figures aggregate in
SQL. The shelf's numbers are read through annotations on these queries, never copied.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, Coalesce, TruncDate, TruncWeek
from django.utils import timezone

from driftwalks.models import Count as CountRow
from driftwalks.models import CountTask, TaskTrigger, UnplacedRequest, cause_label
from inventory import selectors as inventory_selectors
from inventory.models import (
    Bin,
    Discrepancy,
    Job,
    ShelfEvidence,
    Sku,
    StockMovement,
    System,
)

Status = CountTask.Status


# --- walks and count sheets ----------------------------------------------------------------


def _counted_by(user: AbstractBaseUser):
    return Exists(CountRow.objects.filter(task=OuterRef("pk"), counted_by=user))


def walk_bins_for_user(*, user: AbstractBaseUser) -> QuerySet[Bin]:
    """The bins on the user's walk, in walk order, each with how many SKUs to count."""
    mine = Q(count_tasks__assignee=user, count_tasks__status__in=CountTask.COUNTABLE)
    return (
        Bin.objects.filter(mine)
        .annotate(lines=Count("count_tasks", filter=mine))
        .order_by("walk_order", "code")
    )


def next_bin_for_user(*, user: AbstractBaseUser, after: Bin | None = None) -> Bin | None:
    """The next bin on the user's walk after ``after`` (walking on), else the first one."""
    bins = walk_bins_for_user(user=user)
    if after is not None:
        later = bins.filter(
            Q(walk_order__gt=after.walk_order) | Q(walk_order=after.walk_order, code__gt=after.code)
        ).first()
        if later is not None:
            return later
        return bins.exclude(pk=after.pk).first()
    return bins.first()


def find_tasks_for_user(*, user: AbstractBaseUser) -> QuerySet[CountTask]:
    """The find-it tasks on the user's walk (no bin known: walked after the bins)."""
    return (
        CountTask.objects.filter(bin__isnull=True, assignee=user, status__in=CountTask.COUNTABLE)
        .select_related("sku")
        .order_by("due_on", "priority", "id")
    )


def find_task_for_counter(*, pk: int) -> CountTask:
    """A find-it task with the bins found so far and what was counted in each (the counter's
    own numbers, never the shelf's): three queries."""
    return (
        CountTask.objects.filter(bin__isnull=True)
        .select_related("sku", "assignee")
        .prefetch_related(
            Prefetch(
                "found_tasks",
                queryset=CountTask.objects.select_related("bin")
                .prefetch_related(Prefetch("counts", queryset=CountRow.objects.order_by("round")))
                .order_by("bin__walk_order", "bin__code"),
            )
        )
        .get(pk=pk)
    )


def pool_size_for_user(*, user: AbstractBaseUser) -> int:
    """How many unassigned tasks the user could pull onto a walk."""
    return (
        CountTask.objects.filter(status__in=CountTask.COUNTABLE, assignee__isnull=True)
        .exclude(Q(status=Status.RECOUNT_REQUIRED) & _counted_by(user))
        .count()
    )


def sheet_tasks_for_bin(*, bin: Bin, user: AbstractBaseUser) -> QuerySet[CountTask]:
    """What the user counts in this bin: their tasks and the unassigned ones there.

    Blind: the SKUs (code and title) and nothing about the shelf's numbers. A recount is
    left out for whoever did the first count.
    """
    return (
        CountTask.objects.filter(bin=bin, status__in=CountTask.COUNTABLE)
        .filter(Q(assignee=user) | Q(assignee__isnull=True))
        .exclude(Q(status=Status.RECOUNT_REQUIRED) & _counted_by(user))
        .select_related("sku")
        .order_by("sku__code")
    )


# --- managers' lists -----------------------------------------------------------------------

STATUS_FILTERS = {
    "active": CountTask.ACTIVE,
    **{value: [value] for value in Status.values},
}


def tasks_for_managers(
    *, status: str = "active", zone: str = "", overdue: bool = False, today: date | None = None
) -> QuerySet[CountTask]:
    today = today or timezone.localdate()
    qs = CountTask.objects.select_related("bin", "sku", "assignee").annotate(
        overdue=Case(
            When(status__in=CountTask.ACTIVE, due_on__lt=today, then=Value(True)),
            default=Value(False),
        )
    )
    if status in STATUS_FILTERS:
        qs = qs.filter(status__in=STATUS_FILTERS[status])
    if zone:
        qs = qs.filter(bin__zone__iexact=zone)
    if overdue:
        qs = qs.filter(status__in=CountTask.ACTIVE, due_on__lt=today)
    return qs.order_by("-overdue", "priority", "due_on", "bin__walk_order", "bin__code", "id")


def task_figures(*, today: date | None = None) -> dict:
    """The managers' headline numbers, in one query."""
    today = today or timezone.localdate()
    active = Q(status__in=CountTask.ACTIVE)
    return CountTask.objects.aggregate(
        active=Count("id", filter=active),
        overdue=Count("id", filter=active & Q(due_on__lt=today)),
        escalated=Count("id", filter=active & Q(escalated_at__isnull=False)),
        unassigned=Count("id", filter=Q(status__in=CountTask.COUNTABLE, assignee__isnull=True)),
        recounts=Count("id", filter=Q(status=Status.RECOUNT_REQUIRED)),
        approvals=Count("id", filter=Q(status=Status.APPROVAL_REQUIRED)),
    )


def zones() -> list[str]:
    return list(Bin.objects.order_by("zone").values_list("zone", flat=True).distinct())


def counters() -> QuerySet:
    """Users who may count bins (for the assign box)."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(
                groups__permissions__codename="count_bins",
                groups__permissions__content_type__app_label="driftwalks",
            )
            | Q(is_superuser=True)
        )
        .distinct()
        .order_by("username")
    )


def unplaced_requests(*, limit: int = 20) -> QuerySet[UnplacedRequest]:
    return UnplacedRequest.objects.filter(placed_task__isnull=True).select_related(
        "sku", "discrepancy"
    )[:limit]


def _balance_now():
    return inventory_selectors.on_hand_quantity_of(bin=OuterRef("bin"), sku=OuterRef("sku"))


def task_detail(*, pk: int) -> CountTask:
    """One task with its triggers (and their discrepancies) and counts: three queries."""
    return (
        CountTask.objects.select_related(
            "bin", "sku", "assignee", "closed_by", "decided_by", "approval_discrepancy"
        )
        .prefetch_related(
            Prefetch(
                "triggers",
                queryset=TaskTrigger.objects.select_related("discrepancy", "created_by"),
            ),
            Prefetch(
                "counts",
                queryset=CountRow.objects.select_related("counted_by", "movement").order_by(
                    "round"
                ),
            ),
        )
        .annotate(balance_now=_balance_now())
        .get(pk=pk)
    )


def other_deciders_exist(*, user: AbstractBaseUser) -> bool:
    """Whether anyone active but ``user`` may approve counts (a manager, an admin): one query.

    ``ONEFACT_COUNT_SOLE_MANAGER`` lets a manager decide a task they counted only when this is
    false, so whether that other person counted the task too does not matter here.
    """
    return (
        get_user_model()
        .objects.with_perm(
            "driftwalks.approve_counts",
            is_active=True,
            include_superusers=True,
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .exclude(pk=user.pk)
        .exists()
    )


def approvals_queue() -> QuerySet[CountTask]:
    """Tasks waiting for a manager, oldest first, with both counts and today's balance."""
    latest = CountRow.objects.filter(task=OuterRef("pk")).order_by("-round")
    return (
        CountTask.objects.filter(status=Status.APPROVAL_REQUIRED)
        .select_related("bin", "sku", "approval_discrepancy")
        .prefetch_related(
            Prefetch(
                "counts",
                queryset=CountRow.objects.select_related("counted_by").order_by("round"),
            )
        )
        .annotate(
            balance_now=_balance_now(),
            variance=Subquery(latest.values("variance")[:1], output_field=IntegerField()),
        )
        .annotate(
            variance_value=ExpressionWrapper(
                Abs(F("variance")) * F("sku__unit_cost"),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            )
        )
        .order_by("id")
    )


# --- cycle counts --------------------------------------------------------------------------


def _rank_boundary(shipped: QuerySet, position: int) -> tuple[int, int] | None:
    """(units shipped, SKU id) of the SKU at ``position`` (1-based) in sell-through order."""
    if position < 1:
        return None
    row = shipped.order_by("-shipped", "pk").values_list("shipped", "pk")[position - 1 : position]
    return next(iter(row), None)


def _in_top(boundary: tuple[int, int] | None) -> Q:
    """SKUs at or before the boundary in (shipped desc, id asc) order, that sold at all."""
    if boundary is None:
        return Q(pk__in=[])
    units, pk = boundary
    return Q(shipped__gt=0) & (Q(shipped__gt=units) | Q(shipped=units, sku_id__lte=pk))


def cycle_count_candidates(*, now: datetime, limit: int) -> list[tuple[int, int, str]]:
    """(bin id, SKU id, class) of stocked pairs whose cycle count is due, most urgent first.

    Class by units shipped over the last ``CYCLE_SALES_DAYS`` from the ledger: the top
    ``CYCLE_SHARE_A`` of active SKUs (by shipped units) is A, the next ``CYCLE_SHARE_B`` is
    B, the rest (and every SKU that shipped nothing) C. A pair is due when its last count,
    or its first movement if never counted, is older than its class's period. Set-based: a
    count, two boundary look-ups and one query for the pairs.
    """
    since = now - timedelta(days=settings.ONEFACT_CYCLE_SALES_DAYS)
    ships = (
        StockMovement.objects.filter(
            sku=OuterRef("pk"), kind=StockMovement.Kind.SHIP, created_at__gte=since
        )
        .order_by()
        .values("sku")
        .annotate(t=Sum(-F("quantity")))
        .values("t")
    )
    skus = Sku.objects.filter(active=True).annotate(
        shipped=Coalesce(Subquery(ships, output_field=IntegerField()), 0)
    )
    n = skus.count()
    if not n:
        return []
    top_a = math.ceil(n * settings.ONEFACT_CYCLE_SHARE_A)
    top_b = math.ceil(n * (settings.ONEFACT_CYCLE_SHARE_A + settings.ONEFACT_CYCLE_SHARE_B))
    boundary_a, boundary_b = _rank_boundary(skus, top_a), _rank_boundary(skus, top_b)
    pair_ships = (
        StockMovement.objects.filter(
            sku=OuterRef("sku"), kind=StockMovement.Kind.SHIP, created_at__gte=since
        )
        .order_by()
        .values("sku")
        .annotate(t=Sum(-F("quantity")))
        .values("t")
    )
    last_count = (
        CountRow.objects.filter(task__bin=OuterRef("bin"), task__sku=OuterRef("sku"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    first_move = (
        StockMovement.objects.filter(bin=OuterRef("bin"), sku=OuterRef("sku"))
        .order_by("created_at")
        .values("created_at")[:1]
    )
    open_task = CountTask.objects.filter(
        bin=OuterRef("bin"), sku=OuterRef("sku"), status__in=CountTask.ACTIVE
    )
    cutoff = {
        "A": now - timedelta(days=settings.ONEFACT_CYCLE_DAYS_A),
        "B": now - timedelta(days=settings.ONEFACT_CYCLE_DAYS_B),
        "C": now - timedelta(days=settings.ONEFACT_CYCLE_DAYS_C),
    }
    pairs = (
        inventory_selectors.on_hand_countable()
        .exclude(Exists(open_task))
        .annotate(shipped=Coalesce(Subquery(pair_ships, output_field=IntegerField()), 0))
        .annotate(
            cls=Case(
                When(_in_top(boundary_a), then=Value("A")),
                When(_in_top(boundary_b), then=Value("B")),
                default=Value("C"),
                output_field=CharField(),
            ),
            since=Coalesce(Subquery(last_count), Subquery(first_move)),
        )
        .filter(
            Q(cls="A", since__lt=cutoff["A"])
            | Q(cls="B", since__lt=cutoff["B"])
            | Q(cls="C", since__lt=cutoff["C"])
        )
        .order_by("cls", "since", "pk")
        .values_list("bin_id", "sku_id", "cls")[:limit]
    )
    return list(pairs)


# --- accuracy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyRow:
    label: str
    lines: int
    within: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.within / self.lines, 1) if self.lines else None


def _first_counts(*, since: datetime) -> QuerySet[CountRow]:
    """Counted bin-SKU lines: the first count of each task (a recount verifies it); a
    find-it task's closing count sums its bins' counts and is not a line of its own."""
    return CountRow.objects.filter(round=1, created_at__gte=since, task__bin__isnull=False)


def accuracy_total(*, since: datetime) -> AccuracyRow:
    row = _first_counts(since=since).aggregate(
        lines=Count("id"), within=Count("id", filter=Q(within_tolerance=True))
    )
    return AccuracyRow(label="all zones", lines=row["lines"], within=row["within"])


def accuracy_by_zone(*, since: datetime) -> list[AccuracyRow]:
    """Inventory record accuracy per zone: the share of counted lines within tolerance."""
    rows = (
        _first_counts(since=since)
        .values("task__bin__zone")
        .annotate(lines=Count("id"), within=Count("id", filter=Q(within_tolerance=True)))
        .order_by("task__bin__zone")
    )
    return [AccuracyRow(r["task__bin__zone"], r["lines"], r["within"]) for r in rows]


def accuracy_by_week(*, since: datetime) -> list[AccuracyRow]:
    """Inventory record accuracy per week (weeks start on Monday)."""
    rows = (
        _first_counts(since=since)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(lines=Count("id"), within=Count("id", filter=Q(within_tolerance=True)))
        .order_by("week")
    )
    return [AccuracyRow(f"{r['week']:%Y-%m-%d}", r["lines"], r["within"]) for r in rows]


def corrections_by_day(*, since: datetime) -> list[dict]:
    """Units and value (at the SKU's unit cost) corrected on the shelf per day and cause."""
    units = Abs(F("movement__quantity"))
    rows = (
        CountRow.objects.filter(movement__isnull=False, movement__created_at__gte=since)
        .annotate(day=TruncDate("movement__created_at"), cause=F("task__cause"))
        .values("day", "cause")
        .annotate(
            lines=Count("id"),
            units=Sum(units),
            net=Sum("movement__quantity"),
            value=Sum(
                ExpressionWrapper(
                    Cast(units, DecimalField(max_digits=12, decimal_places=0))
                    * F("task__sku__unit_cost"),
                    output_field=DecimalField(max_digits=16, decimal_places=2),
                )
            ),
        )
        .order_by("-day", "cause")
    )
    return [row | {"cause_label": cause_label(row["cause"])} for row in rows]


def corrected_units_per_day(*, since: datetime) -> list[tuple[date, int]]:
    rows = (
        CountRow.objects.filter(movement__isnull=False, movement__created_at__gte=since)
        .annotate(day=TruncDate("movement__created_at"))
        .values("day")
        .annotate(units=Sum(Abs(F("movement__quantity"))))
        .order_by("day")
    )
    return [(r["day"], r["units"]) for r in rows]


# --- the opening stock-take ----------------------------------------------------------------


@dataclass(frozen=True)
class StockTakeProgress:
    """How far the opening stock-take of one storefront is: of the SKUs it said it holds
    before the shelf counted them, how many are counted now, and their units (the
    storefront's numbers, from its latest "not yet counted" row of each)."""

    skus_total: int
    skus_counted: int
    units_total: int
    units_counted: int
    tasks_open: int
    tasks_done: int

    @property
    def percent_skus(self) -> int:
        return int(100 * self.skus_counted / self.skus_total) if self.skus_total else 0

    @property
    def percent_units(self) -> int:
        return int(100 * self.units_counted / self.units_total) if self.units_total else 0


def stock_take_progress_for(*, storefront: System) -> StockTakeProgress:
    """Two aggregate queries, whatever the catalog's size."""
    latest = (
        Discrepancy.objects.filter(kind=Discrepancy.Kind.NOT_YET_COUNTED, consumer=storefront)
        .values("sku_id")
        .annotate(last=Max("pk"))
        .values("last")
    )
    known = Exists(ShelfEvidence.objects.filter(sku=OuterRef("sku")))
    said = (
        Discrepancy.objects.filter(pk__in=Subquery(latest), consumer_value__gt=0)
        .annotate(known=known)
        .aggregate(
            skus=Count("pk"),
            units=Coalesce(Sum("consumer_value"), 0),
            skus_counted=Count("pk", filter=Q(known=True)),
            units_counted=Coalesce(Sum("consumer_value", filter=Q(known=True)), 0),
        )
    )
    tasks = CountTask.objects.filter(cause=CountTask.Cause.OPENING).aggregate(
        open=Count("pk", filter=Q(status__in=CountTask.ACTIVE)),
        done=Count("pk", filter=Q(status__in=CountTask.FINISHED)),
    )
    return StockTakeProgress(
        skus_total=said["skus"],
        skus_counted=said["skus_counted"],
        units_total=said["units"],
        units_counted=said["units_counted"],
        tasks_open=tasks["open"],
        tasks_done=tasks["done"],
    )


def stock_take_job_for(*, storefront: System) -> Job | None:
    """The latest job that opened this storefront's stock-take tasks, for its progress."""
    return (
        Job.objects.filter(kind="opening_stock_take", params__storefront=storefront.name)
        .order_by("-pk")
        .first()
    )
