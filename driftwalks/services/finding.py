"""Find-it tasks."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from driftwalks.exceptions import CountRefused
from driftwalks.models import Count, CountTask
from driftwalks.services.common import Cause, Outcome, Status
from driftwalks.services.counting import CountLine, _resolve_linked, count_submit
from driftwalks.services.opening import count_task_open
from inventory import selectors as inventory_selectors
from inventory.exceptions import MovementRefused
from inventory.models import (
    Bin,
    Discrepancy,
    ShelfEvidence,
)
from inventory.services import (
    bin_check_put,
    shelf_evidence_record,
)

# Opened by ``count_task_open(bin=None, …)``: a count request naming a SKU no bin ever held,
# or the opening stock-take.


def _lock_find(*, task: CountTask, counter: AbstractBaseUser) -> CountTask:
    task = (
        CountTask.objects.select_for_update(no_key=True, of=("self",))
        .select_related("sku", "assignee")
        .get(pk=task.pk)
    )
    if not task.is_find:
        raise CountRefused(
            _("Task %(task)s counts %(sku)s in %(bin)s: count it on that bin's page.")
            % {"task": task.pk, "sku": task.sku.code, "bin": task.bin.code}
        )
    if task.status not in CountTask.COUNTABLE:
        raise CountRefused(
            _("Finding %(sku)s is finished (task %(task)s).")
            % {"sku": task.sku.code, "task": task.pk}
        )
    if task.assignee_id not in (None, counter.pk):
        raise CountRefused(
            _("Finding %(sku)s is on %(user)s's walk.")
            % {"sku": task.sku.code, "user": task.assignee.get_username()}
        )
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
    try:
        bin_check_put(bin)  # the count books the units found into this bin
    except MovementRefused as refused:
        raise CountRefused(str(refused)) from refused
    bin_task, _created = count_task_open(
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
        held = inventory_selectors.bin_codes_holding_sku(sku=task.sku)
        if held:
            raise CountRefused(
                _(
                    "The shelf records %(sku)s in %(bins)s: scan and count those bins before "
                    "finishing."
                )
                % {"sku": task.sku.code, "bins": ", ".join(held)}
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
