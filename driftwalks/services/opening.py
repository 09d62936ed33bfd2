"""Opening tasks."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from driftwalks import selectors
from driftwalks.exceptions import CountRefused
from driftwalks.models import CountTask, TaskTrigger, UnplacedRequest
from driftwalks.services.common import DEFAULT_RULE, TRIGGER_RULES, Cause, Priority, Status
from inventory import hooks
from inventory import selectors as inventory_selectors
from inventory.models import (
    Bin,
    Discrepancy,
    OnHand,
    Sku,
)


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
        pairs = [(row.bin, row.sku) for row in inventory_selectors.on_hand_held_in_bins(bins=bins)]
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
        for row in inventory_selectors.on_hand_ever_held(sku_ids=wanted):
            ever_held.setdefault(row.sku_id, []).append(row.bin)
    held: list[OnHand] = []
    named = {b.pk for r in requests if r.sku is None for b in r.bins}
    if named:
        held = list(inventory_selectors.on_hand_held_in_bins(bins=named))
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
        raise CountRefused(
            _("Bin %(bin)s holds nothing on record: name the SKU to count.") % {"bin": bin.code}
        )
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
