"""Pages of drift walks. Staff: my walk and the blind counting page (phone, scanner, htmx).
Managers: the task list (filter, assign, open by hand), a task's story, the approvals queue
and the accuracy figures.

The counting page never shows the shelf's number for the bin, neither in the page nor in
any of its htmx fragments: the count is blind.
"""

from datetime import timedelta
from functools import cache, partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url, reswap, retarget
from django_htmx.middleware import HtmxDetails

from driftwalks import dashboard, imports, selectors, services
from driftwalks.exceptions import CountRefused
from driftwalks.forms import (
    AssignForm,
    BinCodeForm,
    CancelForm,
    CountImportForm,
    CountSheetForm,
    DecisionForm,
    FindCountForm,
    FoundSkuForm,
    ManualTaskForm,
)
from driftwalks.models import Count, CountTask
from inventory import charts
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.cleaning import page_number, query_int, whole_numbers
from inventory.models import Bin, System

COUNT = "driftwalks.count_bins"
MANAGE = "driftwalks.manage_counts"
APPROVE = "driftwalks.approve_counts"
ACCURACY = "driftwalks.view_accuracy"
PAGE_SIZE = 50
SHEET = "driftwalks/count_sheet.html"
FIND = "driftwalks/find_task.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- staff: my walk and the counting page --------------------------------------------------


@require_GET
@permission_required(COUNT, raise_exception=True)
def walk_mine(request: HtmxHttpRequest) -> HttpResponse:
    """My walk: the bins to count in walk order, the next one first."""
    page = Paginator(selectors.walk_bins_for_user(user=request.user), PAGE_SIZE).get_page(
        page_number(request.GET)
    )
    context = {
        "page": page,
        "next_bin": page[0] if len(page) else None,
        "finds": selectors.find_tasks_for_user(user=request.user),
        "pool": selectors.pool_size_for_user(user=request.user),
    }
    return render(request, "driftwalks/walk_mine.html", context)


@require_POST
@permission_required(COUNT, raise_exception=True)
def walk_start(request: HtmxHttpRequest) -> HttpResponse:
    pulled = services.walk_start(user=request.user)
    if pulled:
        text = ngettext(
            "%(count)d count task added to your walk.",
            "%(count)d count tasks added to your walk.",
            pulled,
        )
        messages.success(request, text % {"count": pulled})
    else:
        messages.info(request, _("Nothing added: your walk is full or no task is waiting."))
    return redirect("driftwalks:walk-mine")


@require_GET
@permission_required(COUNT, raise_exception=True)
def count_go(request: HtmxHttpRequest) -> HttpResponse:
    """A scanned bin code goes to its counting page."""
    form = BinCodeForm(request.GET)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("code", [_("Scan a bin code.")])))
        target = reverse("driftwalks:walk-mine")
    else:
        target = reverse("driftwalks:count-sheet", args=[form.cleaned_data["code"].code])
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


def _sheet(request, *, bin: Bin, form: CountSheetForm | None = None, done: str = ""):
    if form is None:
        form = CountSheetForm(tasks=selectors.sheet_tasks_for_bin(bin=bin, user=request.user))
    return {"bin": bin, "form": form, "done": done}


@require_GET
@permission_required(COUNT, raise_exception=True)
def count_sheet(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """The blind counting page of one bin: its SKUs, never the shelf's numbers."""
    bin = get_object_or_404(Bin, code=code)
    template = SHEET + ("#count-sheet" if request.htmx else "")
    return render(request, template, _sheet(request, bin=bin))


def _counted_message(bin: Bin, counts: list[Count]) -> str:
    text = ngettext(
        "Bin %(code)s: %(count)d SKU counted.", "Bin %(code)s: %(count)d SKUs counted.", len(counts)
    ) % {"code": bin.code, "count": len(counts)}
    recounts = sum(c.outcome == Count.Outcome.RECOUNT for c in counts)
    approvals = sum(c.outcome == Count.Outcome.APPROVAL for c in counts)
    if recounts:
        text += " " + _("%(count)d will be recounted by someone else.") % {"count": recounts}
    if approvals:
        text += " " + ngettext(
            "%(count)d goes to a manager.", "%(count)d go to a manager.", approvals
        ) % {"count": approvals}
    return text


@require_POST
@permission_required(COUNT, raise_exception=True)
def count_submit(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """Submit the sheet; then the next bin of the walk (or the walk, when it is done)."""
    bin = get_object_or_404(Bin, code=code)
    seen = whole_numbers(request.POST.getlist("task"))
    tasks = list(
        CountTask.objects.filter(pk__in=seen, bin=bin).select_related("sku").order_by("sku__code")
    )
    form = CountSheetForm(request.POST, tasks=tasks)
    if len(tasks) != len(seen):
        form.add_error(None, _("This sheet is out of date: reload the page. Nothing was recorded."))
    elif form.is_valid():
        try:
            counts = services.count_submit(bin=bin, lines=form.lines(), counter=request.user,
                                           idempotency_key=form.cleaned_data["key"])  # fmt: skip
        except CountRefused as error:
            fresh = selectors.sheet_tasks_for_bin(bin=bin, user=request.user)
            form = CountSheetForm(request.POST, tasks=fresh)
            form.add_error(None, _("Nothing was recorded: %(error)s") % {"error": error})
        else:
            return _next_bin(request, bin=bin, done=_counted_message(bin, counts))
    template = SHEET + ("#count-sheet" if request.htmx else "")
    return render(request, template, _sheet(request, bin=bin, form=form))


def _next_bin(request, *, bin: Bin, done: str) -> HttpResponse:
    following = selectors.next_bin_for_user(user=request.user, after=bin)
    if not request.htmx:
        messages.success(request, done)
        if following is None:
            return redirect("driftwalks:walk-mine")
        return redirect("driftwalks:count-sheet", code=following.code)
    if following is None:
        response = render(request, SHEET + "#count-sheet", {"bin": None, "done": done})
        return push_url(response, reverse("driftwalks:walk-mine"))
    response = render(request, SHEET + "#count-sheet", _sheet(request, bin=following, done=done))
    return push_url(response, reverse("driftwalks:count-sheet", args=[following.code]))


@require_GET
@permission_required(COUNT, raise_exception=True)
def count_found_line(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """A scanned SKU found in the bin: one more line for the sheet (code and title only)."""
    bin = get_object_or_404(Bin, code=code)
    on_sheet = set(request.GET.getlist("found_sku"))
    on_sheet |= {t.sku.code for t in selectors.sheet_tasks_for_bin(bin=bin, user=request.user)}
    form = FoundSkuForm(request.GET, on_sheet=on_sheet)
    if not form.is_valid():
        response = render(request, SHEET + "#found-error", {"found_error": form.errors["code"][0]})
        return reswap(retarget(response, "#found-error"), "outerHTML")
    context = {"line": {"sku": form.cleaned_data["code"], "raw": "", "error": ""}}
    return render(request, SHEET + "#found-line", context)


# --- staff: find-it tasks (no bin known) ---------------------------------------------------


def _find(pk: int) -> CountTask:
    try:
        return selectors.find_task_for_counter(pk=pk)
    except CountTask.DoesNotExist as missing:
        raise Http404("No such find-it task.") from missing


def _find_page(request, *, task: CountTask, form: FindCountForm | None = None, **extra):
    template = FIND + ("#find-sheet" if request.htmx else "")
    context = {"task": task, "form": form or FindCountForm(), **extra}
    return render(request, template, context)


@require_GET
@permission_required(COUNT, raise_exception=True)
def find_task(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Find a SKU no bin is known to hold: scan each bin where it is, count it, finish."""
    return _find_page(request, task=_find(pk))


@require_POST
@permission_required(COUNT, raise_exception=True)
def find_count(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The SKU found in a scanned bin, counted there (blind, through the bin's own task)."""
    task = _find(pk)
    form = FindCountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            count = services.find_task_count_bin(task=task, bin=data["bin"],
                                                 counted=data["counted"], counter=request.user,
                                                 idempotency_key=data["key"])  # fmt: skip
        except CountRefused as error:
            form.add_error("bin", _("Nothing was recorded: %(error)s") % {"error": error})
        else:
            done = _counted_message(data["bin"], [count])
            return _find_page(request, task=_find(pk), done=done)
    return _find_page(request, task=task, form=form)


@require_POST
@permission_required(COUNT, raise_exception=True)
def find_finish(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Looked everywhere: the task closes (found nowhere, a "none anywhere" confirmation)."""
    task = _find(pk)
    try:
        services.find_task_finish(task=task, counter=request.user)
    except CountRefused as error:
        return _find_page(request, task=task, finish_error=str(error))
    messages.success(request, f"{task.sku.code}: finding it is done.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("driftwalks:walk-mine"))
    return redirect("driftwalks:walk-mine")


# --- managers ------------------------------------------------------------------------------


def _task_filters(request) -> dict:
    status = request.GET.get("status", "active")
    return {
        "status": status if status in selectors.STATUS_FILTERS or status == "all" else "active",
        "zone": request.GET.get("zone", "").strip(),
        "overdue": request.GET.get("overdue") == "1",
    }


def _task_list_context(request, **forms) -> dict:
    filters = _task_filters(request)
    rows = selectors.tasks_for_managers(**filters)
    return {
        "page": Paginator(rows, PAGE_SIZE).get_page(page_number(request.GET)),
        "filters": filters,
        "statuses": CountTask.Status.choices,
        "zones": selectors.zones(),
        "figures": selectors.task_figures(),
        "unplaced": selectors.unplaced_requests(),
        "storefronts": inventory_selectors.storefronts_for_reconcile(),
        "assign_form": forms.get("assign_form") or AssignForm(),
        "open_form": forms.get("open_form") or ManualTaskForm(),
    }


@require_GET
@permission_required(MANAGE, raise_exception=True)
def task_list(request: HtmxHttpRequest) -> HttpResponse:
    template = "driftwalks/task_list.html" + ("#task-table" if request.htmx else "")
    return render(request, template, _task_list_context(request))


@require_POST
@permission_required(MANAGE, raise_exception=True)
def task_open(request: HtmxHttpRequest) -> HttpResponse:
    """Open a count by hand: "count bin A-14" (optionally one SKU)."""
    form = ManualTaskForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            tasks = services.count_task_open_manual(
                bin=data["bin"],
                sku=data["sku"],
                priority=data["priority"],
                due_on=data["due_on"],
                actor=request.user,
                note=data["note"],
            )
        except CountRefused as error:
            form.add_error("bin", str(error))
        else:
            messages.success(request, f"Bin {data['bin'].code}: {len(tasks)} count task(s) open.")
            return redirect("driftwalks:task-list")
    return render(request, "driftwalks/task_list.html", _task_list_context(request, open_form=form))


@require_POST
@permission_required(MANAGE, raise_exception=True)
def task_assign(request: HtmxHttpRequest) -> HttpResponse:
    form = AssignForm(request.POST)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        try:
            n = services.count_tasks_assign(task_ids=form.cleaned_data["tasks"],
                                            assignee=assignee, actor=request.user)  # fmt: skip
        except CountRefused as error:
            form.add_error(None, f"Nothing was assigned: {error}")
        else:
            who = assignee.get_username() if assignee else "the pool"
            messages.success(request, f"{n} task(s) handed to {who}.")
            back = request.POST.get("next", "")
            safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
            return redirect(back if back and safe else "driftwalks:task-list")
    context = _task_list_context(request, assign_form=form)
    return render(request, "driftwalks/task_list.html", context)


@require_GET
@permission_required(MANAGE, raise_exception=True)
def task_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        task = selectors.task_detail(pk=pk)
    except CountTask.DoesNotExist as missing:
        raise Http404("No such count task.") from missing
    if task.status == CountTask.Status.APPROVAL_REQUIRED and request.user.has_perm(APPROVE):
        _with_rights([task], request.user)
    return render(request, "driftwalks/task_detail.html", {"task": task, "form": CancelForm()})


@require_POST
@permission_required(MANAGE, raise_exception=True)
def task_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Close a task that was never counted: a manager's decision, with a reason."""
    task = get_object_or_404(CountTask, pk=pk)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.count_task_cancel(task=task, reason=form.cleaned_data["reason"],
                                       actor=request.user)  # fmt: skip
        except CountRefused as error:
            form.add_error("reason", str(error))
        else:
            messages.success(request, f"Task {task.pk} closed without a count.")
            return redirect("driftwalks:task-detail", pk=task.pk)
    context = {"task": selectors.task_detail(pk=pk), "form": form}
    return render(request, "driftwalks/task_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE, raise_exception=True)
def count_import(request: HtmxHttpRequest) -> HttpResponse:
    """Counts from a CSV file, checked row by row, then applied as a job (its page polls)."""
    form = CountImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["file"].name[:100]
        job = inventory_services.job_start(
            kind="import_counts",
            title=f"Import counts from {name}",
            params={"csv": form.cleaned_data["text"], "mode": form.cleaned_data["mode"],
                    "file": name},
            actor=request.user,
        )  # fmt: skip
        return redirect("inventory:job-detail", pk=job.pk)
    conf = {  # the thresholds the page explains
        "TOLERANCE_UNITS": settings.ONEFACT_COUNT_TOLERANCE_UNITS,
        "TOLERANCE_PERCENT": settings.ONEFACT_COUNT_TOLERANCE_PERCENT,
        "APPROVAL_UNITS": settings.ONEFACT_COUNT_APPROVAL_UNITS,
        "APPROVAL_VALUE": settings.ONEFACT_COUNT_APPROVAL_VALUE,
    }
    context = {"form": form, "conf": conf, "max_rows": f"{imports.MAX_ROWS:,}"}
    return render(request, "driftwalks/count_import.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE, raise_exception=True)
def opening_stock_take(request: HtmxHttpRequest, storefront: str) -> HttpResponse:
    """The opening stock-take of a storefront: its progress, and (POST) a job that opens a
    count task for every SKU it sells that the shelf has not counted yet."""
    system = get_object_or_404(System, name=storefront, kind=System.Kind.STOREFRONT)
    if request.method == "POST":
        job = inventory_services.job_start(kind="opening_stock_take",
                                           title=f"Opening stock-take of {system.name}",
                                           params={"storefront": system.name},
                                           actor=request.user)  # fmt: skip
        return redirect("inventory:job-detail", pk=job.pk)
    context = {
        "storefront": system,
        "progress": selectors.stock_take_progress_for(storefront=system),
        "job": selectors.stock_take_job_for(storefront=system),
    }
    return render(request, "driftwalks/opening_stock_take.html", context)


def _with_rights(tasks, user):
    """Each task with ``right``: may ``user`` decide it, and if not why (shown before typing).

    Whether anyone else may approve counts is asked at most once for the page, and only when
    the sole-manager setting makes it matter.
    """
    others = cache(partial(selectors.other_deciders_exist, user=user))
    for task in tasks:
        counted_by = {c.counted_by_id for c in task.counts.all()}
        task.right = services.count_task_decision_right(
            counted_by=counted_by, actor=user, others=others
        )
    return tasks


@require_GET
@permission_required(APPROVE, raise_exception=True)
def approval_list(request: HtmxHttpRequest) -> HttpResponse:
    page = Paginator(selectors.approvals_queue(), PAGE_SIZE).get_page(page_number(request.GET))
    _with_rights(page, request.user)
    return render(request, "driftwalks/approval_list.html", {"page": page})


@require_POST
@permission_required(APPROVE, raise_exception=True)
def approval_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(CountTask, pk=pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            task = services.count_task_decide(
                task=task,
                approve=form.cleaned_data["decision"] == "approve",
                reason=form.cleaned_data["reason"],
                actor=request.user,
                alone_confirmed=form.cleaned_data["alone"],
            )
        except CountRefused as error:
            form.add_error(None, str(error))
        else:
            if not request.htmx:
                messages.success(request, f"Task {task.pk}: {task.get_status_display()}.")
                return redirect("driftwalks:approval-list")
            return render(request, "driftwalks/approval_list.html#decided", {"task": task})
    if not request.htmx:
        page = Paginator(selectors.approvals_queue(), PAGE_SIZE).get_page(page_number(request.GET))
        _with_rights(page, request.user)
        context = {"page": page, "error_pk": pk, "error_form": form}
        return render(request, "driftwalks/approval_list.html", context)
    row = selectors.approvals_queue().filter(pk=pk).first()
    if row is None:  # decided meanwhile by someone else
        task.refresh_from_db()
        return render(request, "driftwalks/approval_list.html#decided", {"task": task})
    _with_rights([row], request.user)
    context = {"task": row, "form": form}
    return render(request, "driftwalks/approval_list.html#approval-row", context)


@require_GET
@permission_required(ACCURACY, raise_exception=True)
def accuracy(request: HtmxHttpRequest) -> HttpResponse:
    days = query_int(request.GET, "days", default=90, lo=7, hi=365)
    since = timezone.now() - timedelta(days=days)
    weeks = selectors.accuracy_by_week(since=since)
    per_day = selectors.corrected_units_per_day(since=since)
    context = {
        "days": days,
        "total": selectors.accuracy_total(since=since),
        "zones": selectors.accuracy_by_zone(since=since),
        "weeks": weeks,
        "corrections": selectors.corrections_by_day(since=since),
        "accuracy_chart": charts.render(
            dashboard.accuracy_week_chart(weeks=weeks, since=timezone.localdate(since))
        ),
        "units_chart": charts.render(
            dashboard.corrected_units_chart(per_day=per_day, since=timezone.localdate(since))
        ),
    }
    return render(request, "driftwalks/accuracy.html", context)
