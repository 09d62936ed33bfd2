"""What drift walks add to the managers' dashboard (registered in DriftwalksConfig.ready):
inventory record accuracy, the oldest open count task, accuracy over time, and for each
discrepancy the count task that answers it ("count task 381 for bin A-14 is open, due
today"); and the accuracy page's charts, drawn by the same ``inventory.charts``."""

from datetime import date, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from driftwalks.models import Count as CountRow
from driftwalks.models import CountTask, TaskTrigger
from inventory.selectors import Chart, Figure


def figures() -> list[Figure]:
    since = timezone.now() - timedelta(days=30)
    row = CountRow.objects.filter(
        round=1, created_at__gte=since, task__bin__isnull=False
    ).aggregate(lines=Count("id"), within=Count("id", filter=Q(within_tolerance=True)))
    accuracy = f"{100 * row['within'] / row['lines']:.1f} %" if row["lines"] else _("0 counted")
    oldest = (
        CountTask.objects.filter(status__in=CountTask.ACTIVE)
        .select_related("bin")
        .order_by("created_at", "id")
        .first()
    )
    if oldest is None:
        oldest_value, oldest_note, url = _("0 open"), _("no count task is open"), ""
    else:
        age = (timezone.now() - oldest.created_at).days
        oldest_value = ngettext("%(age)s day", "%(age)s days", age) % {"age": age}
        oldest_note = _("count task %(pk)s for %(target)s, due %(due)s") % {
            "pk": oldest.pk,
            "target": oldest.target,
            "due": oldest.due_on,
        }
        url = reverse("driftwalks:task-detail", args=[oldest.pk])
    return [
        Figure(
            "accuracy",
            _("inventory record accuracy (30 days)"),
            accuracy,
            _("%(within)s of %(lines)s counted lines within tolerance")
            % {"within": row["within"], "lines": row["lines"]},
            reverse("driftwalks:accuracy"),
        ),  # fmt: skip
        Figure("oldest_task", _("oldest open count task"), oldest_value, oldest_note, url),
    ]


def charts() -> list[Chart]:
    today = timezone.localdate()
    days = [today - timedelta(days=13 - i) for i in range(14)]
    rows = (
        CountRow.objects.filter(round=1, created_at__date__gte=days[0])
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(lines=Count("id"), within=Count("id", filter=Q(within_tolerance=True)))
    )
    by_day = {r["day"]: r for r in rows}
    accuracy = [  # a day without a count is a gap, not 0 %
        round(100 * by_day[d]["within"] / by_day[d]["lines"], 1) if d in by_day else None
        for d in days
    ]
    return [Chart("accuracy", _("Inventory record accuracy per day"), "%", days,
                  {"accuracy": accuracy}, top=100)]  # fmt: skip


def accuracy_week_chart(*, weeks: list, since: date) -> Chart:
    """The accuracy page's weeks (``selectors.accuracy_by_week``) over every week since
    ``since``: a week without a count is a gap."""
    monday = since - timedelta(days=since.weekday())
    span = [monday + timedelta(weeks=i)
            for i in range((timezone.localdate() - monday).days // 7 + 1)]  # fmt: skip
    percent = {w.label: w.percent for w in weeks}
    values = [percent.get(f"{d:%Y-%m-%d}") for d in span]
    return Chart("accuracy_weeks", _("Record accuracy per week"), "%", span,
                 {"accuracy": values}, kind="stacked", top=100)  # fmt: skip


def corrected_units_chart(*, per_day: list[tuple[date, int]], since: date) -> Chart:
    """Units the counts corrected per day since ``since`` (a day without one corrected 0)."""
    span = [since + timedelta(days=i) for i in range((timezone.localdate() - since).days + 1)]
    units = dict(per_day)
    return Chart("corrected_units", _("Units corrected per day"), "units", span,
                 {"units corrected": [units.get(d, 0) for d in span]}, kind="stacked")  # fmt: skip


def notes(ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """For each discrepancy, the count task(s) opened for it, in one query."""
    today = timezone.localdate()
    found: dict[int, list[tuple[str, str]]] = {}
    triggers = (
        TaskTrigger.objects.filter(discrepancy_id__in=ids)
        .select_related("task__bin")
        .order_by("task_id")
    )
    for trigger in triggers:
        task = trigger.task
        status = task.get_status_display().lower()
        text = f"count task {task.pk} for {task.target}"
        if task.status not in CountTask.ACTIVE:
            text += f" is {status}"
        elif task.due_on == today:
            text += f" is {'open' if task.status == 'open' else status}, due today"
        elif task.due_on < today:
            text += (
                f" is {'open' if task.status == 'open' else status}, overdue since {task.due_on}"
            )
        else:
            text += f" is {'open' if task.status == 'open' else status}, due {task.due_on}"
        url = reverse("driftwalks:task-detail", args=[task.pk])
        found.setdefault(trigger.discrepancy_id, []).append((text, url))
    return found
