"""What drift walks add to the managers' dashboard (registered in DriftwalksConfig.ready):
inventory record accuracy, the oldest open count task, accuracy over time, and for each
discrepancy the count task that answers it ("count task 381 for bin A-14 is open, due
today"); and the accuracy page's charts, drawn by the same ``inventory.charts``."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Value
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from driftwalks.models import Count as CountRow
from driftwalks.models import CountTask, TaskTrigger
from inventory.models import Bin
from inventory.selectors import (
    Chart,
    ChartRows,
    Figure,
    Read,
    read_chart_rows,
    read_count,
    read_first,
    read_together,
)


def figure_reads() -> dict[str, Read]:
    """The figures' values, read in the dashboard's one figures query: counted lines of
    the last 30 days, and the oldest open task's columns."""
    since = timezone.now() - timedelta(days=30)
    lines = CountRow.objects.filter(round=1, created_at__gte=since, task__bin__isnull=False)
    oldest = CountTask.objects.filter(status__in=CountTask.ACTIVE).order_by("created_at", "id")
    return {
        "lines": read_count(lines),
        "within": read_count(lines.filter(within_tolerance=True)),
        "oldest": read_first(oldest.values_list("pk")),
        "oldest_created_at": read_first(oldest.values_list("created_at")),
        "oldest_due_on": read_first(oldest.values_list("due_on")),
        "oldest_bin": read_first(oldest.values_list("bin")),
        "oldest_bin_code": read_first(oldest.values_list("bin__code")),
    }


def figures(read: dict | None = None) -> list[Figure]:
    """Record accuracy and the oldest open count task, from ``figure_reads`` (read here in
    one query when not given)."""
    row = read if read is not None else read_together(**figure_reads())
    accuracy = f"{100 * row['within'] / row['lines']:.1f} %" if row["lines"] else _("0 counted")
    if row["oldest"] is None:
        oldest_value, oldest_note, url = _("0 open"), _("no count task is open"), ""
    else:
        bin = Bin(pk=row["oldest_bin"], code=row["oldest_bin_code"]) if row["oldest_bin"] else None
        oldest = CountTask(pk=row["oldest"], bin=bin, created_at=row["oldest_created_at"],
                           due_on=row["oldest_due_on"])  # fmt: skip
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


def _days() -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=13 - i) for i in range(14)]


def chart_rows() -> list[ChartRows]:
    """The accuracy chart's rows, read in the dashboard's one charts query: first-round
    lines and those within tolerance per day."""
    return [
        ChartRows(
            "accuracy",
            # From the first instant of the first day: a range on the timestamp reads its
            # index, where a date computed from each row reads every row.
            CountRow.objects.filter(
                round=1,
                created_at__gte=timezone.make_aware(datetime.combine(_days()[0], time.min)),
            ),
            day=TruncDate("created_at"),
            series=Value(""),
            measures={
                "lines": Count("id"),
                "within": Count("id", filter=Q(within_tolerance=True)),
            },
        )
    ]


def charts(rows: dict[str, list[dict]] | None = None) -> list[Chart]:
    """Accuracy per day, from ``chart_rows`` (read here in one query when not given)."""
    days = _days()
    if rows is None:
        rows = read_chart_rows(chart_rows())
    by_day = {r["day"]: r for r in rows["accuracy"]}
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
