"""Counting."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from driftwalks import selectors
from driftwalks.exceptions import CountRefused
from driftwalks.models import MAX_COUNT, Count, CountTask, TaskTrigger
from driftwalks.services.common import Cause, Outcome, Status
from driftwalks.services.opening import count_task_open
from inventory import selectors as inventory_selectors
from inventory.exceptions import InsufficientStock, InvalidMovement
from inventory.models import (
    Bin,
    Discrepancy,
    Fact,
    ShelfEvidence,
    Sku,
    StockMovement,
)
from inventory.services import (
    discrepancy_record,
    discrepancy_resolve,
    on_hand_adjust,
    on_hand_lock_for_count,
    shelf_evidence_record,
)


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


def _correct(
    *, task: CountTask, count: Count, delta: int, actor: AbstractBaseUser, note: str
) -> StockMovement:
    try:
        return on_hand_adjust(
            bin=task.bin,
            sku=task.sku,
            delta=delta,
            kind=StockMovement.Kind.COUNT_ADJUST,
            source_system=inventory_selectors.shelf_system(),
            source_event_id=f"count:{count.pk}",
            reference=f"count task {task.pk}",
            actor=actor,
            note=note[:255],
        )
    except InsufficientStock as short:
        raise CountRefused(
            _(
                "Bin %(bin)s now holds %(on_hand)s of %(sku)s on record; taking %(taking)s would "
                "go below zero. Reject this count and ask for a new one."
            )
            % {
                "bin": task.bin.code,
                "on_hand": short.on_hand,
                "sku": task.sku.code,
                "taking": -delta,
            }
        ) from short
    except InvalidMovement as error:
        raise CountRefused(
            _("%(sku)s in %(bin)s: %(error)s")
            % {"sku": task.sku.code, "bin": task.bin.code, "error": error}
        ) from error


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
        raise CountRefused(_("This count sheet has no valid submission key; reload the page."))
    if not lines:
        raise CountRefused(_("Count at least one SKU."))
    seen = set()
    for line in lines:
        if isinstance(line.counted, bool) or not isinstance(line.counted, int):
            raise CountRefused(_("%(sku)s: a count is a whole number.") % {"sku": line.sku.code})
        if not 0 <= line.counted <= MAX_COUNT:
            raise CountRefused(
                _("%(sku)s: a count is between 0 and %(max)s.")
                % {"sku": line.sku.code, "max": MAX_COUNT}
            )
        if line.sku.pk in seen:
            raise CountRefused(_("%(sku)s is on the sheet twice.") % {"sku": line.sku.code})
        seen.add(line.sku.pk)


def _replayed(*, key: str, counter: AbstractBaseUser) -> list[Count] | None:
    done = list(Count.objects.filter(submission_key=key).select_related("task").order_by("pk"))
    if not done:
        return None
    if any(c.counted_by_id != counter.pk for c in done):
        raise CountRefused(_("This count sheet was submitted by someone else; reload the page."))
    return done


def _check_countable(
    *, task: CountTask | None, bin: Bin, counter: AbstractBaseUser, earlier: list[Count]
) -> None:
    if task is None or task.bin_id != bin.pk:
        raise CountRefused(
            _("That count task is not for bin %(bin)s; reload the page.") % {"bin": bin.code}
        )
    what = _("%(sku)s in %(bin)s") % {"sku": task.sku.code, "bin": bin.code}
    if task.status == Status.APPROVAL_REQUIRED:
        raise CountRefused(
            _("%(what)s was already counted and waits for a manager's decision.") % {"what": what}
        )
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(
            _("%(what)s was already counted (task %(task)s is finished).")
            % {"what": what, "task": task.pk}
        )
    if task.assignee_id not in (None, counter.pk):
        raise CountRefused(
            _("%(what)s is on %(user)s's walk.")
            % {"what": what, "user": task.assignee.get_username()}
        )
    if task.status == Status.RECOUNT_REQUIRED and any(
        c.counted_by_id == counter.pk for c in earlier
    ):
        raise CountRefused(
            _("%(what)s needs a blind recount by someone other than you.") % {"what": what}
        )


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
            task, _created = count_task_open(
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
            raise CountRefused(
                _("That count task is not for %(sku)s; reload the page.") % {"sku": line.sku.code}
            )
    balances = on_hand_lock_for_count(bin=bin, sku_ids=[t.sku_id for t in tasks.values()])
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


COUNTED_IT = gettext_noop("You counted this task; another manager decides it.")
SOLE_CONFIRMATION = gettext_noop("I counted this myself and decide it as the only manager")


@dataclass(frozen=True)
class DecisionRight:
    """Whether a user may decide a task waiting for a manager, and if not why.

    ``alone``: allowed only because the user, who counted it, is the site's only manager
    (``ONEFACT_COUNT_SOLE_MANAGER``); the decision then needs ``confirm`` ticked.
    """

    allowed: bool
    refusal: str = ""
    alone: bool = False
    confirm: str = ""


def count_task_decision_right(
    *, counted_by: set[int], actor: AbstractBaseUser, others: Callable[[], bool] | None = None
) -> DecisionRight:
    """The rule of who decides a count (``count_task_decide`` applies it; pages show it).

    Whoever counted or recounted the task does not decide it. With
    ``ONEFACT_COUNT_SOLE_MANAGER`` on, they may when nobody else active may approve counts:
    a one-manager warehouse (a second manager or an admin would decide instead). ``others``
    answers that (one query, asked only when it matters); by default
    ``selectors.other_deciders_exist``.
    """
    if actor.pk not in counted_by:
        return DecisionRight(allowed=True)
    if not settings.ONEFACT_COUNT_SOLE_MANAGER:
        return DecisionRight(allowed=False, refusal=_(COUNTED_IT))
    if others is None:
        others = partial(selectors.other_deciders_exist, user=actor)
    if others():
        return DecisionRight(allowed=False, refusal=_(COUNTED_IT))
    return DecisionRight(allowed=True, alone=True, confirm=_(SOLE_CONFIRMATION))


@transaction.atomic
def count_task_decide(
    *,
    task: CountTask,
    approve: bool,
    reason: str,
    actor: AbstractBaseUser,
    alone_confirmed: bool = False,
) -> CountTask:
    """A manager approves or rejects the correction of a task waiting for a decision.

    Approve: the latest count's variance (counted − the balance when it was counted) is
    applied to the balance now, so movements since the count are kept; the task closes by
    that count, and it is the shelf's evidence for the SKU. Reject: nothing changes on the
    shelf (and the SKU is not known by it); the task is cancelled with the reason.
    Either way the discrepancies are resolved (the count-variance one by the decision). A
    manager who counted the task cannot decide it (``count_task_decision_right``), unless
    they are the only manager and the setting allows it: then only with ``alone_confirmed``,
    and the task and the notes record it. Deciding twice is refused.
    """
    reason = reason.strip()
    if not reason:
        raise CountRefused(_("A decision needs a reason."))
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bin", "sku", "approval_discrepancy")
        .get(pk=task.pk)
    )
    if task.status != Status.APPROVAL_REQUIRED:
        raise CountRefused(
            _("%(sku)s in %(bin)s is not waiting for a decision (%(status)s).")
            % {
                "sku": task.sku.code,
                "bin": task.bin.code,
                "status": task.get_status_display().lower(),
            }
        )
    counts = list(task.counts.order_by("round"))
    right = count_task_decision_right(counted_by={c.counted_by_id for c in counts}, actor=actor)
    if not right.allowed:
        raise CountRefused(right.refusal)
    if right.alone and not alone_confirmed:
        raise CountRefused(
            _("You counted this task: tick “%(confirm)s” to decide it.")
            % {"confirm": _(SOLE_CONFIRMATION)}
        )
    latest = counts[-1]
    now = timezone.now()
    verb = "approved" if approve else "rejected"
    alone = " (who counted it, as the only manager)" if right.alone else ""
    if approve:
        on_hand_lock_for_count(bin=task.bin, sku_ids=[task.sku_id])
        if latest.variance:
            latest.movement = _correct(task=task, count=latest, delta=latest.variance,
                                       actor=actor, note=f"approved{alone}: {reason}")  # fmt: skip
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
    task.decided_by_counter = right.alone
    task.closed_at = now
    task.save(update_fields=["status", "closing_count", "closed_by", "decided_by",
                             "decision_reason", "decided_by_counter", "closed_at"])  # fmt: skip
    note = f"Count {verb} by {actor.get_username()}{alone}: {reason}"
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
