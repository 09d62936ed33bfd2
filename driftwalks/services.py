"""Every write of drift walks: opening count tasks, walks, blind counts, decisions, escalation.

The loop: a gap (or the calendar, or a manager) opens a task for a bin and SKU; a counter
counts it blind; the variance is taken against the shelf's balance at the moment of the
count, read under the balance row's lock; a correction is a ``count_adjust`` movement
through ``inventory.services.on_hand_adjust`` (which reaches the storefront through the
outbox); the discrepancies that opened the task are resolved with a link to it.

Corrections are always the variance the count measured (counted − the balance at that
moment), added to whatever the balance is when the correction is applied. At submission
both moments are the same. When a manager approves later, units shipped or received
between the count and the approval are therefore kept, not undone as if they were drift.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from driftwalks import selectors
from driftwalks.exceptions import CountRefused
from driftwalks.models import MAX_COUNT, Count, CountTask, TaskTrigger, UnplacedRequest
from inventory import hooks
from inventory import selectors as inventory_selectors
from inventory.exceptions import InsufficientStock, InvalidMovement
from inventory.models import (
    Bin,
    Discrepancy,
    Fact,
    OnHand,
    ShelfEvidence,
    Sku,
    StockMovement,
    System,
)
from inventory.services import (
    discrepancy_record,
    discrepancy_resolve,
    on_hand_adjust,
    shelf_evidence_record,
)

Status = CountTask.Status
Priority = CountTask.Priority
Cause = CountTask.Cause
Outcome = Count.Outcome

# Per trigger: (priority, due in how many days). Gaps that may be selling stock that is not
# there are counted today; the others within two days; cycle counts within CYCLE_DUE_DAYS.
TRIGGER_RULES: dict[str, tuple[int, int]] = {
    Cause.RECONCILIATION: (Priority.HIGH, 0),
    Cause.SHORT_FULFILMENT: (Priority.HIGH, 0),
    Cause.ORDERS_AT_RISK: (Priority.HIGH, 0),
    Cause.PICK_SHORT: (Priority.HIGH, 0),
    Cause.VERIFY_LEDGER: (Priority.HIGH, 0),
    Cause.FOUND: (Priority.NORMAL, 0),
    Cause.OPENING: (Priority.NORMAL, 2),
    Cause.GHOST_ROW: (Priority.NORMAL, 2),
    Cause.RETURN_MISMATCH: (Priority.NORMAL, 2),
    Cause.RECEIPT_MISMATCH: (Priority.NORMAL, 2),
}
DEFAULT_RULE = (Priority.NORMAL, 2)


# --- opening tasks -------------------------------------------------------------------------


def _active_task(*, bin: Bin | None, sku: Sku) -> CountTask | None:
    where = Q(bin__isnull=True) if bin is None else Q(bin=bin)
    return CountTask.objects.filter(where, sku=sku, status__in=CountTask.ACTIVE).first()


def _key(bin: Bin | None, sku: Sku) -> tuple[int | None, int]:
    """A task's (bin, SKU) key; a find-it task's bin is None."""
    return (bin.pk if bin is not None else None, sku.pk)


def _attach(
    *,
    task: CountTask,
    cause: str,
    reason: str,
    discrepancy: Discrepancy | None,
    actor: AbstractBaseUser | None,
) -> None:
    """Record one more reason for the task; the same discrepancy twice is one trigger."""
    TaskTrigger.objects.bulk_create(
        [
            TaskTrigger(
                task=task,
                cause=cause[:30],
                reason=reason[:500],
                discrepancy=discrepancy,
                created_by=actor,
            )
        ],
        ignore_conflicts=True,
    )


def _place_unplaced(tasks: list[CountTask]) -> None:
    """Requests that found no bin for their SKU become triggers of its first new task."""
    by_sku = {}
    for task in tasks:
        by_sku.setdefault(task.sku_id, task)
    waiting = list(
        UnplacedRequest.objects.filter(placed_task__isnull=True, sku_id__in=list(by_sku))
    )
    if not waiting:
        return
    now = timezone.now()
    TaskTrigger.objects.bulk_create(
        [
            TaskTrigger(
                task=by_sku[r.sku_id],
                cause=r.cause,
                reason=r.reason,
                discrepancy=r.discrepancy,
                created_at=now,
            )
            for r in waiting
        ],
        ignore_conflicts=True,
    )
    for r in waiting:
        UnplacedRequest.objects.filter(pk=r.pk).update(placed_task=by_sku[r.sku_id], placed_at=now)


@transaction.atomic
def count_task_open(
    *,
    bin: Bin | None,
    sku: Sku,
    cause: str,
    reason: str,
    discrepancy: Discrepancy | None = None,
    priority: int | None = None,
    due_on: date | None = None,
    actor: AbstractBaseUser | None = None,
) -> tuple[CountTask, bool]:
    """Open a task to count ``sku`` in ``bin``, or attach this trigger to the open one.

    At most one unfinished task per bin and SKU (a partial unique constraint): a later
    trigger attaches to it and can only make it more urgent (higher priority, earlier due
    date). With ``bin=None`` it is a find-it task (no bin is known to hold the SKU), one
    unfinished per SKU. Returns (task, created).
    """
    rule_priority, due_days = TRIGGER_RULES.get(cause, DEFAULT_RULE)
    priority = priority or rule_priority
    due_on = due_on or timezone.localdate() + timedelta(days=due_days)
    task, created = _active_task(bin=bin, sku=sku), False
    if task is None:
        try:
            with transaction.atomic():
                task = CountTask.objects.create(bin=bin, sku=sku, cause=cause[:30],
                                                reason=reason[:500], priority=priority,
                                                due_on=due_on)  # fmt: skip
                created = True
        except IntegrityError:
            task = _active_task(bin=bin, sku=sku)  # a concurrent trigger opened it first
            if task is None:
                raise
    if not created and (priority < task.priority or due_on < task.due_on):
        # Skip the bump if the task is being counted right now (its row is locked): waiting
        # here, inside the caller's transaction, could deadlock with the counter's locks.
        free = CountTask.objects.select_for_update(skip_locked=True, no_key=True).filter(
            pk=task.pk, status__in=CountTask.ACTIVE
        )
        if free.exists():
            free.update(
                priority=Least(F("priority"), Value(priority)),
                due_on=Least(F("due_on"), Value(due_on)),
            )
            task.refresh_from_db(fields=["priority", "due_on"])
    _attach(task=task, cause=cause, reason=reason, discrepancy=discrepancy, actor=actor)
    if created:
        _place_unplaced([task])
    return task, created


count_task_open.alters_data = True


@transaction.atomic
def count_request_receive(request: hooks.CountRequest) -> list[CountTask]:
    """The count-request hook's subscriber: one task (or trigger) per bin to count.

    Runs inside the caller's transaction. With no bins given, the bins that ever held the
    SKU are counted, or, when none ever did, a find-it task looks for it wherever it is;
    with no SKU named, every SKU the named bins hold. With nothing to count (no SKU named,
    the bins hold nothing) the request is kept as an ``UnplacedRequest`` (the discrepancy
    stays open with its ``count_requested_at``), never dropped.
    """
    cause = request.trigger or (request.discrepancy.kind if request.discrepancy else "other")
    bins = list({b.pk: b for b in request.bins}.values())
    if request.sku is None:
        # No SKU named: count everything the named bins hold on record.
        pairs = [
            (row.bin, row.sku)
            for row in OnHand.objects.filter(bin__in=bins, quantity__gt=0)
            .select_related("bin", "sku")
            .order_by("bin__walk_order", "bin__code", "sku__code")
        ]
    else:
        if not bins:
            bins = [row.bin for row in inventory_selectors.on_hand_for_sku(sku=request.sku)]
        # No bin ever held it: the request means "find it", a task with no bin.
        pairs = [(bin, request.sku) for bin in bins or [None]]
    if not pairs:
        _unplaced(request, cause).save()
        return []
    return [
        count_task_open(
            bin=bin, sku=sku, cause=cause, reason=request.reason, discrepancy=request.discrepancy
        )[0]
        for bin, sku in pairs
    ]


count_request_receive.alters_data = True


def _unplaced(request: hooks.CountRequest, cause: str) -> UnplacedRequest:
    """Only a request naming no SKU, whose bins hold nothing, is left with nothing to count
    (a SKU no bin ever held gets a find-it task)."""
    return UnplacedRequest(
        sku=request.sku,
        cause=cause[:30],
        reason=request.reason[:500],
        discrepancy=request.discrepancy,
        why_unplaced="No SKU was named and the bins named hold nothing on record: "
        "open a count by hand on the bin to look in.",
    )


@transaction.atomic
def count_requests_receive(requests: list[hooks.CountRequest]) -> list[CountTask]:
    """The count-request hook's batch subscriber: ``count_request_receive`` for each request
    in turn, with the same tasks, triggers and unplaced requests, in a fixed number of
    queries (a reconciliation asks for hundreds of counts at once).

    A task opened meanwhile by a concurrent trigger (the partial unique constraint) rolls
    the batch back to its savepoint; the requests are then taken one by one.
    """
    if not requests:
        return []
    try:
        with transaction.atomic():
            return _receive_batch(requests)
    except IntegrityError:
        return [task for request in requests for task in count_request_receive(request)]


count_requests_receive.alters_data = True


def _pairs_for(requests: list[hooks.CountRequest]) -> list[list[tuple[Bin | None, Sku]]]:
    """Each request's (bin, SKU) pairs to count, as ``count_request_receive`` finds them:
    two queries for the whole batch."""
    ever_held: dict[int, list[Bin]] = {}
    wanted = {r.sku.pk for r in requests if r.sku is not None and not r.bins}
    if wanted:
        for row in (
            OnHand.objects.filter(sku_id__in=wanted)
            .select_related("bin")
            .order_by("bin__walk_order", "bin__code")
        ):
            ever_held.setdefault(row.sku_id, []).append(row.bin)
    held: list[OnHand] = []
    named = {b.pk for r in requests if r.sku is None for b in r.bins}
    if named:
        held = list(
            OnHand.objects.filter(bin__in=named, quantity__gt=0)
            .select_related("bin", "sku")
            .order_by("bin__walk_order", "bin__code", "sku__code")
        )
    pairs = []
    for request in requests:
        bins = list({b.pk: b for b in request.bins}.values())
        if request.sku is None:
            mine = {b.pk for b in bins}
            pairs.append([(row.bin, row.sku) for row in held if row.bin_id in mine])
        else:
            found = bins or ever_held.get(request.sku.pk) or [None]  # None: find it
            pairs.append([(bin, request.sku) for bin in found])
    return pairs


def _receive_batch(requests: list[hooks.CountRequest]) -> list[CountTask]:
    today = timezone.localdate()
    planned = []  # (request, cause, bin, sku, priority, due_on), in the one-by-one order
    unplaced: list[tuple[int, UnplacedRequest]] = []  # (position in ``planned``, request)
    for request, pairs in zip(requests, _pairs_for(requests), strict=True):
        cause = request.trigger or (request.discrepancy.kind if request.discrepancy else "other")
        if not pairs:
            unplaced.append((len(planned), _unplaced(request, cause)))
        rule_priority, due_days = TRIGGER_RULES.get(cause, DEFAULT_RULE)
        due_on = today + timedelta(days=due_days)
        planned += [(request, cause, b, s, rule_priority, due_on) for b, s in pairs]

    keys = {_key(b, s) for _, _, b, s, _, _ in planned}
    active = {
        (t.bin_id, t.sku_id): t
        for t in CountTask.objects.filter(
            Q(bin_id__in={b for b, _ in keys} - {None}) | Q(bin__isnull=True),
            status__in=CountTask.ACTIVE,
            sku_id__in={s for _, s in keys},
        )
        if (t.bin_id, t.sku_id) in keys
    }
    opened: dict[tuple[int, int], CountTask] = {}
    opened_at: dict[int, list[tuple[int, CountTask]]] = {}  # SKU → (position, new task)
    urgent: dict[int, tuple[int, date]] = {}  # an existing task → the most urgent trigger
    tasks = []
    for position, (request, cause, bin, sku, priority, due_on) in enumerate(planned):
        key = _key(bin, sku)
        task = active.get(key) or opened.get(key)
        if task is None:
            task = CountTask(bin=bin, sku=sku, cause=cause[:30], reason=request.reason[:500],
                             priority=priority, due_on=due_on)  # fmt: skip
            opened[key] = task
            opened_at.setdefault(sku.pk, []).append((position, task))
        elif key in opened:  # a later trigger can only make it more urgent
            task.priority, task.due_on = min(task.priority, priority), min(task.due_on, due_on)
        else:
            was = urgent.get(task.pk, (task.priority, task.due_on))
            urgent[task.pk] = (min(was[0], priority), min(was[1], due_on))
        tasks.append(task)
    CountTask.objects.bulk_create(list(opened.values()))
    _make_more_urgent({t.pk: t for t in active.values()}, urgent)
    _place_unplaced(list(opened.values()))  # requests left unplaced by earlier calls

    now = timezone.now()
    triggers = [
        TaskTrigger(
            task=task,
            cause=cause[:30],
            reason=request.reason[:500],
            discrepancy=request.discrepancy,
        )
        for task, (request, cause, *_) in zip(tasks, planned, strict=True)
    ]
    for position, waiting in unplaced:
        # One by one, a task opened for the SKU by a later request would have taken it.
        later = [t for p, t in opened_at.get(waiting.sku_id, []) if p >= position]
        if later:
            waiting.placed_task, waiting.placed_at = later[0], now
            triggers.append(
                TaskTrigger(
                    task=later[0],
                    cause=waiting.cause,
                    reason=waiting.reason,
                    discrepancy=waiting.discrepancy,
                    created_at=now,
                )  # fmt: skip
            )
    UnplacedRequest.objects.bulk_create([waiting for _, waiting in unplaced])
    TaskTrigger.objects.bulk_create(triggers, ignore_conflicts=True)
    return tasks


def _make_more_urgent(tasks: dict[int, CountTask], urgent: dict[int, tuple[int, date]]) -> None:
    """Raise existing tasks to their most urgent new trigger, as ``count_task_open`` does,
    never waiting for a task being counted right now (its row is locked)."""
    wanted = {
        pk: (priority, due_on)
        for pk, (priority, due_on) in urgent.items()
        if priority < tasks[pk].priority or due_on < tasks[pk].due_on
    }
    if not wanted:
        return
    free = CountTask.objects.select_for_update(skip_locked=True, no_key=True).filter(
        pk__in=list(wanted), status__in=CountTask.ACTIVE
    )
    groups: dict[tuple[int, date], list[int]] = {}
    for pk in free.values_list("pk", flat=True):
        groups.setdefault(wanted[pk], []).append(pk)
    for (priority, due_on), pks in groups.items():
        CountTask.objects.filter(pk__in=pks).update(
            priority=Least(F("priority"), Value(priority)),
            due_on=Least(F("due_on"), Value(due_on)),
        )
        for pk in pks:
            task = tasks[pk]
            task.priority, task.due_on = min(task.priority, priority), min(task.due_on, due_on)


@transaction.atomic
def count_task_open_manual(
    *,
    bin: Bin,
    sku: Sku | None,
    priority: int,
    due_on: date,
    actor: AbstractBaseUser,
    note: str = "",
) -> list[CountTask]:
    """A manager asks for a count: one SKU in a bin, or every SKU the bin holds on record."""
    skus = (
        [sku]
        if sku is not None
        else list(Sku.objects.filter(balances__bin=bin, balances__quantity__gt=0).order_by("code"))
    )
    if not skus:
        raise CountRefused(f"Bin {bin.code} holds nothing on record: name the SKU to count.")
    reason = f"Asked for by {actor.get_username()}" + (f": {note.strip()}" if note.strip() else "")
    return [
        count_task_open(
            bin=bin,
            sku=s,
            cause=Cause.MANUAL,
            reason=reason,
            priority=priority,
            due_on=due_on,
            actor=actor,
        )[0]
        for s in skus
    ]


count_task_open_manual.alters_data = True


@transaction.atomic
def cycle_counts_open(*, now: datetime | None = None) -> int:
    """Open cycle counts for bin+SKU pairs not counted within their class's period.

    Set-based: one query finds the pairs (class by units shipped, see
    ``selectors.cycle_count_candidates``), one insert opens them (conflicts with an open
    task are skipped by the partial unique constraint), one insert records their trigger.
    Returns how many tasks were opened.
    """
    now = now or timezone.now()
    candidates = selectors.cycle_count_candidates(now=now, limit=settings.ONEFACT_CYCLE_MAX_PER_RUN)
    if not candidates:
        return 0
    days = {
        "A": settings.ONEFACT_CYCLE_DAYS_A,
        "B": settings.ONEFACT_CYCLE_DAYS_B,
        "C": settings.ONEFACT_CYCLE_DAYS_C,
    }
    due_on = timezone.localdate(now) + timedelta(days=settings.ONEFACT_CYCLE_DUE_DAYS)
    CountTask.objects.bulk_create(
        [
            CountTask(
                bin_id=bin_id,
                sku_id=sku_id,
                cause=Cause.CYCLE,
                reason=f"Cycle count: class {cls}, counted every {days[cls]} days.",
                priority=Priority.NORMAL if cls == "A" else Priority.LOW,
                due_on=due_on,
                created_at=now,
            )
            for bin_id, sku_id, cls in candidates
        ],
        ignore_conflicts=True,
    )
    opened = list(CountTask.objects.filter(cause=Cause.CYCLE, created_at=now, status=Status.OPEN))
    TaskTrigger.objects.bulk_create(
        [TaskTrigger(task=t, cause=Cause.CYCLE, reason=t.reason, created_at=now) for t in opened]
    )
    _place_unplaced(opened)
    return len(opened)


cycle_counts_open.alters_data = True


@transaction.atomic
def count_tasks_escalate(*, now: datetime | None = None) -> int:
    """Mark unfinished tasks past their due date escalated, one priority step up. Idempotent."""
    now = now or timezone.now()
    return CountTask.objects.filter(
        status__in=CountTask.ACTIVE,
        due_on__lt=timezone.localdate(now),
        escalated_at__isnull=True,
    ).update(escalated_at=now, priority=Greatest(F("priority") - 1, Value(Priority.HIGH)))


count_tasks_escalate.alters_data = True


# --- walks ---------------------------------------------------------------------------------


def _counted_by(user: AbstractBaseUser):
    return Exists(Count.objects.filter(task=OuterRef("pk"), counted_by=user))


@transaction.atomic
def walk_start(*, user: AbstractBaseUser, size: int | None = None) -> int:
    """Pull the oldest due unassigned tasks onto the user's walk, up to ``size`` in all.

    A recount is never handed to whoever did the first count. Two counters pulling at once
    never get the same task: the assignment is a conditional update.
    """
    size = settings.ONEFACT_WALK_SIZE if size is None else size
    mine = CountTask.objects.filter(assignee=user, status__in=CountTask.COUNTABLE).count()
    room = max(size - mine, 0)
    if not room:
        return 0
    pool = (
        CountTask.objects.filter(status__in=CountTask.COUNTABLE, assignee__isnull=True)
        .exclude(Q(status=Status.RECOUNT_REQUIRED) & _counted_by(user))
        .order_by("due_on", "priority", "id")
        .values_list("pk", flat=True)[:room]
    )
    return CountTask.objects.filter(pk__in=list(pool), assignee__isnull=True).update(assignee=user)


walk_start.alters_data = True


@transaction.atomic
def count_tasks_assign(
    *, task_ids: list[int], assignee: AbstractBaseUser | None, actor: AbstractBaseUser
) -> int:
    """A manager hands tasks to a counter (or back to the pool, with ``assignee=None``).

    Refused as a whole, changing nothing, when a task is no longer countable or when a
    recount would go to the person who did the first count.
    """
    if assignee is not None and not assignee.has_perm("driftwalks.count_bins"):
        raise CountRefused(f"{assignee.get_username()} may not count bins.")
    tasks = list(
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=task_ids)
        .select_related("bin", "sku")
        .order_by("pk")
    )
    if not tasks:
        raise CountRefused("Choose at least one task.")
    for task in tasks:
        if task.status not in CountTask.COUNTABLE:
            raise CountRefused(
                f"{task.sku.code} {task.place} is {task.get_status_display().lower()}; "
                "it cannot be handed to a counter."
            )
    if assignee is not None:
        first_counted = set(
            Count.objects.filter(task__in=tasks, counted_by=assignee).values_list(
                "task_id", flat=True
            )
        )
        for task in tasks:
            if task.pk in first_counted:
                raise CountRefused(
                    f"{assignee.get_username()} did the first count of {task.sku.code} in "
                    f"{task.bin.code}; the recount needs someone else."
                )
    return CountTask.objects.filter(pk__in=[t.pk for t in tasks]).update(assignee=assignee)


count_tasks_assign.alters_data = True


@transaction.atomic
def count_task_cancel(*, task: CountTask, reason: str, actor: AbstractBaseUser) -> CountTask:
    """A manager closes a task that was never counted, with a reason (a decision).

    Only an open task or one waiting for a recount; a task waiting for approval is decided
    with ``count_task_decide``. The discrepancies that asked for it (and no other unfinished
    task) are resolved by the decision, with the reason.
    """
    reason = reason.strip()
    if not reason:
        raise CountRefused("Closing a task without a count needs a reason.")
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bin", "sku")
        .get(pk=task.pk)
    )
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(
            f"{task.sku.code} {task.place} is {task.get_status_display().lower()}; "
            "it cannot be closed without a count."
        )
    task.status = Status.CANCELLED
    task.decided_by = actor
    task.decision_reason = reason
    task.closed_at = timezone.now()
    task.save(update_fields=["status", "decided_by", "decision_reason", "closed_at"])
    _resolve_linked(task=task, resolution=Discrepancy.Resolution.DECISION, actor=actor,
                    note=f"Closed without a count by {actor.get_username()}: {reason}")  # fmt: skip
    return task


count_task_cancel.alters_data = True


# --- counting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountLine:
    """One SKU counted in the bin: a task of the sheet, or (``task_id`` None) found there."""

    sku: Sku
    counted: int
    task_id: int | None = None


def _within_tolerance(*, variance: int, expected: int) -> bool:
    if abs(variance) > settings.ONEFACT_COUNT_TOLERANCE_UNITS:
        return False
    return (
        abs(variance) * 100 <= settings.ONEFACT_COUNT_TOLERANCE_PERCENT * expected or variance == 0
    )


def _needs_approval(*, variance: int, sku: Sku) -> bool:
    value = abs(variance) * (sku.unit_cost or Decimal(0))
    return (
        abs(variance) >= settings.ONEFACT_COUNT_APPROVAL_UNITS
        or value >= settings.ONEFACT_COUNT_APPROVAL_VALUE
    )


def _shelf() -> System:
    return System.objects.get(name="shelf")


def _lock_balances(*, bin: Bin, sku_ids: list[int]) -> dict[int, int]:
    """Lock the bin's balance rows of these SKUs, in pk order; a missing row is 0."""
    rows = (
        OnHand.objects.select_for_update(no_key=True)
        .filter(bin=bin, sku_id__in=sku_ids)
        .order_by("pk")
        .values_list("sku_id", "quantity")
    )
    return dict(rows)


def _correct(
    *, task: CountTask, count: Count, delta: int, actor: AbstractBaseUser, note: str
) -> StockMovement:
    try:
        return on_hand_adjust(
            bin=task.bin,
            sku=task.sku,
            delta=delta,
            kind=StockMovement.Kind.COUNT_ADJUST,
            source_system=_shelf(),
            source_event_id=f"count:{count.pk}",
            reference=f"count task {task.pk}",
            actor=actor,
            note=note[:255],
        )
    except InsufficientStock as short:
        raise CountRefused(
            f"Bin {task.bin.code} now holds {short.on_hand} of {task.sku.code} on record; "
            f"taking {-delta} would go below zero. Reject this count and ask for a new one."
        ) from short
    except InvalidMovement as error:
        raise CountRefused(f"{task.sku.code} in {task.bin.code}: {error}") from error


def _resolve_linked(
    *, task: CountTask, resolution: str, actor: AbstractBaseUser, note: str = ""
) -> int:
    """Resolve the open discrepancies that asked for this task, once none of their tasks is
    still unfinished (a gap of a SKU held in three bins waits for all three counts)."""
    linked = set(
        TaskTrigger.objects.filter(
            task=task, discrepancy__status=Discrepancy.Status.OPEN
        ).values_list("discrepancy_id", flat=True)
    )
    if not linked:
        return 0
    busy = set(
        TaskTrigger.objects.filter(discrepancy_id__in=linked, task__status__in=CountTask.ACTIVE)
        .exclude(task=task)
        .values_list("discrepancy_id", flat=True)
    )
    done = linked - busy
    tasks_of: dict[int, set[int]] = {}
    for discrepancy_id, task_id in TaskTrigger.objects.filter(discrepancy_id__in=done).values_list(
        "discrepancy_id", "task_id"
    ):
        tasks_of.setdefault(discrepancy_id, set()).add(task_id)
    for discrepancy in Discrepancy.objects.filter(pk__in=done).order_by("pk"):
        ids = sorted(tasks_of.get(discrepancy.pk, {task.pk}))
        reference = (
            f"count task {ids[0]}"
            if len(ids) == 1
            else "count tasks " + ", ".join(str(i) for i in ids)
        )
        discrepancy_resolve(discrepancy=discrepancy, resolution=resolution, actor=actor,
                            note=note, reference=reference)  # fmt: skip
    return len(done)


def _evidence_kind(counted: int) -> str:
    """A count of none is an explicit "none here" confirmation, the rest a count."""
    return ShelfEvidence.Kind.ZERO if counted == 0 else ShelfEvidence.Kind.COUNT


def _record_evidence(*, task: CountTask, count: Count, actor: AbstractBaseUser) -> None:
    """The count's result is the shelf's number for the bin and SKU now: the SKU is known
    (a count with no variance too, though it writes no movement)."""
    shelf_evidence_record(skus=[task.sku_id], kind=_evidence_kind(count.counted),
                          reference=f"count task {task.pk}", actor=actor)  # fmt: skip


def _close(*, task: CountTask, count: Count, actor: AbstractBaseUser, now: datetime) -> None:
    task.status = Status.CLOSED
    task.closing_count = count
    task.closed_at = now
    task.closed_by = actor
    task.save(update_fields=["status", "closing_count", "closed_at", "closed_by"])
    _resolve_linked(task=task, resolution=Discrepancy.Resolution.COUNT, actor=actor,
                    note=f"Counted {count.counted} in {task.bin.code}.")  # fmt: skip


def _ask_approval(*, task: CountTask, count: Count, first: Count | None) -> None:
    value = abs(count.variance) * (task.sku.unit_cost or Decimal(0))
    rounds = (
        f"counted {first.counted} then, blind, {count.counted}"
        if first is not None
        else f"counted {count.counted}"
    )
    discrepancy = discrepancy_record(
        kind=Discrepancy.Kind.COUNT_VARIANCE,
        fact=Fact.ON_HAND,
        sku=task.sku,
        bin=task.bin,
        owner_value=count.expected,
        consumer_value=count.counted,
        reference=f"count task {task.pk}",
        detail=(
            f"Bin {task.bin.code}, {task.sku.code}: the shelf's record held {count.expected}, "
            f"{rounds} ({count.variance:+d} units, {value:.2f} at cost). "
            "A manager approves or rejects the correction."
        ),
    )
    task.status = Status.APPROVAL_REQUIRED
    task.approval_discrepancy = discrepancy
    task.save(update_fields=["status", "approval_discrepancy"])


def _count_one(
    *,
    task: CountTask,
    counted: int,
    expected: int,
    earlier: list[Count],
    counter: AbstractBaseUser,
    key: str,
    now: datetime,
    evidence: bool,
    opening: bool = False,
) -> Count:
    variance = counted - expected
    within = _within_tolerance(variance=variance, expected=expected)
    first = earlier[0] if earlier else None
    settled = Outcome.APPLIED if variance else Outcome.CONFIRMED
    if first is None and opening:
        # An opening count: the shelf's record of a SKU it has not counted is no belief to
        # protect, so there is nothing for a blind recount to check it against.
        outcome = settled
    elif first is None:
        outcome = settled if within else Outcome.RECOUNT
    elif within or (
        abs(variance - first.variance) <= settings.ONEFACT_COUNT_TOLERANCE_UNITS
        and not _needs_approval(variance=variance, sku=task.sku)
    ):
        # The recount confirms the record, or agrees with the first count and is small.
        outcome = settled
    else:
        outcome = Outcome.APPROVAL
    count = Count.objects.create(task=task, round=2 if first else 1, counted_by=counter,
                                 counted=counted, expected=expected, variance=variance,
                                 within_tolerance=within, outcome=outcome, submission_key=key,
                                 created_at=now)  # fmt: skip
    if outcome == Outcome.APPLIED:
        count.movement = _correct(task=task, count=count, delta=variance, actor=counter,
                                  note=f"counted {counted}, record held {expected}")  # fmt: skip
        count.save(update_fields=["movement"])
    if outcome in (Outcome.APPLIED, Outcome.CONFIRMED):
        _close(task=task, count=count, actor=counter, now=now)
        if evidence:
            _record_evidence(task=task, count=count, actor=counter)
    elif outcome == Outcome.RECOUNT:
        task.status = Status.RECOUNT_REQUIRED
        task.assignee = None  # back to the pool: someone else recounts it
        task.save(update_fields=["status", "assignee"])
    else:
        _ask_approval(task=task, count=count, first=first)
    return count


def _check_lines(*, lines: list[CountLine], key: str) -> None:
    if not key or len(key) > 64:
        raise CountRefused("This count sheet has no valid submission key; reload the page.")
    if not lines:
        raise CountRefused("Count at least one SKU.")
    seen = set()
    for line in lines:
        if isinstance(line.counted, bool) or not isinstance(line.counted, int):
            raise CountRefused(f"{line.sku.code}: a count is a whole number.")
        if not 0 <= line.counted <= MAX_COUNT:
            raise CountRefused(f"{line.sku.code}: a count is between 0 and {MAX_COUNT}.")
        if line.sku.pk in seen:
            raise CountRefused(f"{line.sku.code} is on the sheet twice.")
        seen.add(line.sku.pk)


def _replayed(*, key: str, counter: AbstractBaseUser) -> list[Count] | None:
    done = list(Count.objects.filter(submission_key=key).select_related("task").order_by("pk"))
    if not done:
        return None
    if any(c.counted_by_id != counter.pk for c in done):
        raise CountRefused("This count sheet was submitted by someone else; reload the page.")
    return done


def _check_countable(
    *, task: CountTask | None, bin: Bin, counter: AbstractBaseUser, earlier: list[Count]
) -> None:
    if task is None or task.bin_id != bin.pk:
        raise CountRefused(f"That count task is not for bin {bin.code}; reload the page.")
    what = f"{task.sku.code} in {bin.code}"
    if task.status == Status.APPROVAL_REQUIRED:
        raise CountRefused(f"{what} was already counted and waits for a manager's decision.")
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(f"{what} was already counted (task {task.pk} is finished).")
    if task.assignee_id not in (None, counter.pk):
        raise CountRefused(f"{what} is on {task.assignee.get_username()}'s walk.")
    if task.status == Status.RECOUNT_REQUIRED and any(
        c.counted_by_id == counter.pk for c in earlier
    ):
        raise CountRefused(f"{what} needs a blind recount by someone other than you.")


@transaction.atomic
def count_submit(
    *,
    bin: Bin,
    lines: list[CountLine],
    counter: AbstractBaseUser,
    idempotency_key: str,
    evidence: bool = True,
) -> list[Count]:
    """Record a blind count of one bin: one ``Count`` per line, all or nothing.

    Under lock (the tasks, then the bin's balance rows, each in pk order) the variance of
    each line is counted − the shelf's balance at this moment, so movements during the walk
    are not drift. Within tolerance the correction is applied at once and the task closes;
    past it the task waits for a blind recount by someone else, and a recount that still
    disagrees, or a large correction, waits for a manager. A SKU found in the bin that is
    not on the sheet gets its own task. Submitting the same sheet again (same key) returns
    the first result and changes nothing.

    A count that becomes the shelf's number (applied, or confirming the record) is the
    shelf's evidence for its SKU (``shelf_evidence_record``): the SKU is known from then on.
    ``evidence=False`` leaves that to the caller (the counts import records a chunk at once).
    """
    _check_lines(lines=lines, key=idempotency_key)
    if (done := _replayed(key=idempotency_key, counter=counter)) is not None:
        return done
    task_ids = []
    for line in lines:
        if line.task_id is None:
            task, _ = count_task_open(
                bin=bin,
                sku=line.sku,
                cause=Cause.FOUND,
                actor=counter,
                reason=f"Found in {bin.code} by {counter.get_username()}, not on the sheet.",
            )
            task_ids.append(task.pk)
        else:
            task_ids.append(line.task_id)
    tasks = {
        t.pk: t
        for t in CountTask.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=task_ids)
        .select_related("bin", "sku", "assignee")
        .order_by("pk")
    }
    # After the locks: a concurrent submission of this same sheet has committed by now.
    if (done := _replayed(key=idempotency_key, counter=counter)) is not None:
        return done
    earlier: dict[int, list[Count]] = {}
    for c in Count.objects.filter(task_id__in=list(tasks)).order_by("round"):
        earlier.setdefault(c.task_id, []).append(c)
    for line, task_id in zip(lines, task_ids, strict=True):
        task = tasks.get(task_id)
        _check_countable(task=task, bin=bin, counter=counter, earlier=earlier.get(task_id, []))
        if task.sku_id != line.sku.pk:
            raise CountRefused(f"That count task is not for {line.sku.code}; reload the page.")
    balances = _lock_balances(bin=bin, sku_ids=[t.sku_id for t in tasks.values()])
    known = inventory_selectors.known_sku_ids(sku_ids=[t.sku_id for t in tasks.values()])
    now = timezone.now()
    return [
        _count_one(
            task=tasks[task_id],
            counted=line.counted,
            expected=balances.get(tasks[task_id].sku_id, 0),
            earlier=earlier.get(task_id, []),
            counter=counter,
            key=idempotency_key,
            now=now,
            evidence=evidence,
            opening=_is_opening(tasks[task_id], known),
        )
        for line, task_id in zip(lines, task_ids, strict=True)
    ]


def _is_opening(task: CountTask, known: set[int]) -> bool:
    """A count of the opening stock-take, or of a SKU the shelf has not counted yet."""
    return task.cause == Cause.OPENING or task.sku_id not in known


count_submit.alters_data = True


@transaction.atomic
def count_task_decide(
    *, task: CountTask, approve: bool, reason: str, actor: AbstractBaseUser
) -> CountTask:
    """A manager approves or rejects the correction of a task waiting for a decision.

    Approve: the latest count's variance (counted − the balance when it was counted) is
    applied to the balance now, so movements since the count are kept; the task closes by
    that count, and it is the shelf's evidence for the SKU. Reject: nothing changes on the
    shelf (and the SKU is not known by it); the task is cancelled with the reason.
    Either way the discrepancies are resolved (the count-variance one by the decision). A
    manager who counted the task cannot decide it; deciding twice is refused.
    """
    reason = reason.strip()
    if not reason:
        raise CountRefused("A decision needs a reason.")
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bin", "sku", "approval_discrepancy")
        .get(pk=task.pk)
    )
    if task.status != Status.APPROVAL_REQUIRED:
        raise CountRefused(
            f"{task.sku.code} in {task.bin.code} is not waiting for a decision "
            f"({task.get_status_display().lower()})."
        )
    counts = list(task.counts.order_by("round"))
    if any(c.counted_by_id == actor.pk for c in counts):
        raise CountRefused("You counted this task; another manager decides it.")
    latest = counts[-1]
    now = timezone.now()
    verb = "approved" if approve else "rejected"
    if approve:
        _lock_balances(bin=task.bin, sku_ids=[task.sku_id])
        if latest.variance:
            latest.movement = _correct(task=task, count=latest, delta=latest.variance,
                                       actor=actor, note=f"approved: {reason}")  # fmt: skip
        latest.outcome = Outcome.APPLIED if latest.variance else Outcome.CONFIRMED
        task.status = Status.CLOSED
        task.closing_count = latest
        task.closed_by = actor
        _record_evidence(task=task, count=latest, actor=actor)
    else:
        latest.outcome = Outcome.REJECTED
        task.status = Status.CANCELLED
    latest.save(update_fields=["outcome", "movement"])
    task.decided_by = actor
    task.decision_reason = reason
    task.closed_at = now
    task.save(update_fields=["status", "closing_count", "closed_by", "decided_by",
                             "decision_reason", "closed_at"])  # fmt: skip
    note = f"Count {verb} by {actor.get_username()}: {reason}"
    if task.approval_discrepancy is not None:
        discrepancy_resolve(discrepancy=task.approval_discrepancy,
                            resolution=Discrepancy.Resolution.DECISION, actor=actor, note=note,
                            reference=f"count task {task.pk}")  # fmt: skip
    _resolve_linked(
        task=task,
        resolution=Discrepancy.Resolution.COUNT if approve else Discrepancy.Resolution.DECISION,
        actor=actor,
        note=note,
    )
    return task


count_task_decide.alters_data = True


# --- find-it tasks -------------------------------------------------------------------------
# Opened by ``count_task_open(bin=None, …)``: a count request naming a SKU no bin ever held,
# or the opening stock-take.


def _lock_find(*, task: CountTask, counter: AbstractBaseUser) -> CountTask:
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("sku", "assignee")
        .get(pk=task.pk)
    )
    if not task.is_find:
        raise CountRefused(f"Task {task.pk} counts {task.sku.code} in {task.bin.code}: count "
                           "it on that bin's page.")  # fmt: skip
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(f"Finding {task.sku.code} is finished (task {task.pk}).")
    if task.assignee_id not in (None, counter.pk):
        raise CountRefused(f"Finding {task.sku.code} is on {task.assignee.get_username()}'s walk.")
    return task


@transaction.atomic
def find_task_count_bin(
    *, task: CountTask, bin: Bin, counted: int, counter: AbstractBaseUser, idempotency_key: str
) -> Count:
    """The counter found the SKU of a find-it task in ``bin`` and counted it there.

    The count is the bin's own task (opened now, or the unfinished one), counted blind
    through ``count_submit`` with all its rules (tolerance, blind recount, a manager's
    decision, the shelf's evidence); the bin's task remembers the find-it task it came
    from. Submitting the same count again (same key) returns the first and changes nothing.
    """
    done = Count.objects.filter(submission_key=idempotency_key, counted_by=counter).first()
    if done is not None:
        return done
    task = _lock_find(task=task, counter=counter)
    if not bin.active:
        raise CountRefused(f"Bin {bin.code} is inactive: move the units to an active bin first.")
    bin_task, _ = count_task_open(
        bin=bin,
        sku=task.sku,
        cause=Cause.FOUND,
        actor=counter,
        reason=f"Found in {bin.code} by {counter.get_username()} (finding it: task {task.pk}).",
    )
    CountTask.objects.filter(pk=bin_task.pk, found_for__isnull=True).update(found_for=task)
    line = CountLine(sku=task.sku, counted=counted, task_id=bin_task.pk)
    [count] = count_submit(bin=bin, lines=[line], counter=counter, idempotency_key=idempotency_key)
    return count


find_task_count_bin.alters_data = True


@transaction.atomic
def find_task_finish(*, task: CountTask, counter: AbstractBaseUser) -> CountTask:
    """The counter has looked everywhere: the find-it task closes.

    Its closing count is the units counted in the bins where the SKU was found (each of
    them counted, and evidence, on its own). Found nowhere, it is the shelf's explicit
    "none anywhere" confirmation (``ShelfEvidence`` of kind zero); refused while the shelf
    records units of the SKU in a bin nobody counted during the search.
    """
    task = _lock_find(task=task, counter=counter)
    found = list(task.found_tasks.values_list("pk", flat=True))
    latest = {}
    for c in Count.objects.filter(task_id__in=found).order_by("round"):
        latest[c.task_id] = c.counted
    if not found:
        held = list(
            OnHand.objects.filter(sku=task.sku, quantity__gt=0)
            .order_by("bin__walk_order", "bin__code")
            .values_list("bin__code", flat=True)
        )
        if held:
            raise CountRefused(
                f"The shelf records {task.sku.code} in {', '.join(held)}: scan and count "
                "those bins before finishing."
            )
    units = sum(latest.values())
    now = timezone.now()
    count = Count.objects.create(task=task, round=1, counted_by=counter, counted=units,
                                 expected=units, variance=0, within_tolerance=True,
                                 outcome=Outcome.CONFIRMED, submission_key=f"find:{task.pk}",
                                 created_at=now)  # fmt: skip
    task.status = Status.CLOSED
    task.closing_count = count
    task.closed_at = now
    task.closed_by = counter
    task.save(update_fields=["status", "closing_count", "closed_at", "closed_by"])
    where = f"found in {len(found)} bin(s), {units} counted" if found else "none anywhere"
    _resolve_linked(task=task, resolution=Discrepancy.Resolution.COUNT, actor=counter,
                    note=f"Looked for {task.sku.code}: {where}.")  # fmt: skip
    if not found:
        shelf_evidence_record(skus=[task.sku_id], kind=ShelfEvidence.Kind.ZERO,
                              reference=f"count task {task.pk}", actor=counter)  # fmt: skip
    return task


find_task_finish.alters_data = True
