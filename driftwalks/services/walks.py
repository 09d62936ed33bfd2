"""Walks."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from driftwalks.exceptions import CountRefused
from driftwalks.models import Count, CountTask
from driftwalks.services.common import Status
from driftwalks.services.counting import _resolve_linked
from inventory.models import (
    Discrepancy,
)


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
        raise CountRefused(_("%(user)s may not count bins.") % {"user": assignee.get_username()})
    tasks = list(
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in=task_ids)
        .select_related("bin", "sku")
        .order_by("pk")
    )
    if not tasks:
        raise CountRefused(_("Choose at least one task."))
    for task in tasks:
        if task.status not in CountTask.COUNTABLE:
            raise CountRefused(
                _("%(sku)s %(place)s is %(status)s; it cannot be handed to a counter.")
                % {
                    "sku": task.sku.code,
                    "place": task.place,
                    "status": task.get_status_display().lower(),
                }
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
                    _(
                        "%(user)s did the first count of %(sku)s in %(bin)s; the recount needs "
                        "someone else."
                    )
                    % {
                        "user": assignee.get_username(),
                        "sku": task.sku.code,
                        "bin": task.bin.code,
                    }
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
        raise CountRefused(_("Closing a task without a count needs a reason."))
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("bin", "sku")
        .get(pk=task.pk)
    )
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(
            _("%(sku)s %(place)s is %(status)s; it cannot be closed without a count.")
            % {
                "sku": task.sku.code,
                "place": task.place,
                "status": task.get_status_display().lower(),
            }
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
