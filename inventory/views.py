import csv
import io

from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from inventory import charts, selectors, services
from inventory.cleaning import page_number
from inventory.forms import (
    BinImportForm,
    DashboardFilterForm,
    DiscrepancyDecisionForm,
    SkuImportForm,
)
from inventory.models import Bin, Discrepancy, Fact, Sku, System
from inventory.roles import HOME_TEMPLATES, role_for
from inventory.services.imports import shelf_may_edit_catalog
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    EventFieldInvalid,
    StorefrontError,
    WebhookSecretMissing,
    WebhookSignatureInvalid,
    WebhookTimestampInvalid,
)

PAGE_SIZE = 50
# What reading a signed body the adapter cannot make sense of raises: wrong shapes, a number
# such as 1e400, nesting deeper than the stack. Answered 400, never 500.
UNREADABLE_PAYLOAD = (
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


@require_GET
def home(request):
    role = role_for(request.user)
    return render(request, HOME_TEMPLATES[role], selectors.home_figures(role=role))


@require_GET
@permission_required("inventory.view_sku", raise_exception=True)
def find(request):
    """One box for a scanner or a thumb: a bin code or a SKU code goes to its page."""
    code = request.GET.get("q", "").strip()
    if bin := Bin.objects.filter(code__iexact=code).first():
        target = reverse("inventory:bin-detail", args=[bin.code])
    elif sku := Sku.objects.filter(code__iexact=code).first():
        target = reverse("inventory:sku-detail", args=[sku.code])
    else:
        target = reverse("inventory:sku-list") + f"?q={code}"
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_GET
@permission_required("inventory.view_sku", raise_exception=True)
def sku_list(request):
    query = request.GET.get("q", "").strip()
    warehouses = list(selectors.warehouses())
    chosen = {w.code: w for w in warehouses}.get(request.GET.get("warehouse", ""))
    skus = selectors.skus_with_stock(warehouse=chosen).order_by("code")
    if query:
        skus = skus.filter(Q(code__icontains=query) | Q(title__icontains=query))
    page = Paginator(skus, PAGE_SIZE).get_page(page_number(request.GET))
    template = "inventory/sku_list.html"
    if request.htmx:
        template += "#sku-table"
    context = {"page": page, "q": query, "warehouses": warehouses, "warehouse": chosen}
    return render(request, template, context)


@require_GET
@permission_required("inventory.view_sku", raise_exception=True)
def sku_detail(request, code: str):
    sku = get_object_or_404(Sku, code=code)
    ledger = Paginator(selectors.ledger_for_sku(sku=sku), PAGE_SIZE).get_page(
        page_number(request.GET)
    )
    template = "inventory/sku_detail.html"
    if request.htmx:
        template += "#ledger-table"
    balances = list(selectors.on_hand_for_sku(sku=sku))
    context = {
        "sku": sku,
        "sync_states": selectors.sync_states_for_sku(sku=sku),
        "sync_log": selectors.sync_log_for_sku(sku=sku),
        "discrepancies": selectors.discrepancy_lines(
            selectors.discrepancies_for_list(sku=sku)[:20]
        ),
        "orders_at_risk": selectors.orders_at_risk_open(sku=sku),
        "balances": balances,
        "warehouse_totals": selectors.on_hand_split_by_warehouse(balances),
        "availability": selectors.availability_for_sku(sku=sku),
        "truth_moment": selectors.truth_moment(),
        "ledger": ledger,
    }
    return render(request, template, context)


@require_GET
@permission_required("inventory.view_bin", raise_exception=True)
def bin_detail(request, code: str):
    bin = get_object_or_404(Bin.objects.select_related("warehouse"), code=code)
    return render(
        request,
        "inventory/bin_detail.html",
        {"bin": bin, "balances": selectors.on_hand_for_bin(bin=bin)},
    )


@require_GET
@permission_required("inventory.view_authority_audit", raise_exception=True)
def authority_audit(request):
    return render(
        request,
        "inventory/authority_audit.html",
        {
            "facts": selectors.authority_audit(),
            "conflicts": selectors.recent_conflicts(),
            "changes": selectors.recent_ownership_changes(),
            "print": request.GET.get("print") == "1",
        },
    )


@csrf_exempt
@login_not_required
@require_POST
def storefront_webhook(request, system: str):
    """A storefront's signed webhook: verify the raw body and its age, store once, answer."""
    storefront = get_object_or_404(System, name=system, kind=System.Kind.STOREFRONT, active=True)
    adapter = adapter_for(storefront)
    try:
        services.webhook_verify(
            system=storefront, adapter=adapter, body=request.body, headers=request.headers
        )
        events = adapter.parse_events(request.body, request.headers)
    except (WebhookTimestampInvalid, WebhookSecretMissing) as error:
        refusal = {"detail": f"delivery refused: {error}", "code": error.code}
        return JsonResponse(refusal, status=401)
    except WebhookSignatureInvalid as error:
        return JsonResponse(
            {"detail": f"signature refused: {error}", "code": "signature_invalid"}, status=401
        )
    except StorefrontError as error:
        status = 503 if error.retryable else 400
        return JsonResponse({"detail": str(error)}, status=status)
    except UNREADABLE_PAYLOAD as error:
        return JsonResponse({"detail": f"unreadable payload: {str(error)[:200]}"}, status=400)
    try:
        stored = services.inbox_record(system=storefront, events=events)
    except EventFieldInvalid as error:
        refusal = {"detail": f"event refused: {error}", "code": error.code, "field": error.field}
        return JsonResponse(refusal, status=400)
    return JsonResponse({"received": len(events), "new": len(stored)})


@require_GET
@permission_required("inventory.view_discrepancy", raise_exception=True)
def discrepancy_list(request):
    filters = {
        "status": request.GET.get("status", "open"),
        "kind": request.GET.get("kind", ""),
        "sku_code": request.GET.get("sku", "").strip(),
    }
    if filters["status"] not in ("open", "resolved", ""):
        filters["status"] = "open"
    rows = selectors.discrepancies_for_list(**filters)
    page = Paginator(rows, PAGE_SIZE).get_page(page_number(request.GET))
    template = "inventory/discrepancy_list.html"
    if request.htmx:
        template += "#discrepancy-table"
    context = {
        "page": page,
        "lines": selectors.discrepancy_lines(page),
        "filters": filters,
        "kinds": Discrepancy.Kind.choices,
    }
    return render(request, template, context)


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def reconcile_start(request):
    """Start a full reconciliation as a job; its page shows the progress."""
    job = services.job_start(
        kind="reconcile", title="Reconcile the storefronts with the shelf", actor=request.user
    )
    return redirect("inventory:job-detail", pk=job.pk)


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def catalog_pull_start(request):
    job = services.job_start(
        kind="catalog_pull", title="Pull the catalog from its owner", actor=request.user
    )
    return redirect("inventory:job-detail", pk=job.pk)


@require_http_methods(["GET", "POST"])
@permission_required("inventory.add_bin", raise_exception=True)
def bin_import(request):
    form = BinImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = services.job_start(
            kind="import_bins",
            title=f"Import bins from {form.cleaned_data['file'].name[:100]}",
            params={"csv": form.cleaned_data["text"], "mode": form.cleaned_data["mode"]},
            actor=request.user,
        )
        return redirect("inventory:job-detail", pk=job.pk)
    return render(request, "inventory/bin_import.html", {"form": form})


@require_http_methods(["GET", "POST"])
@permission_required("inventory.change_sku", raise_exception=True)
def sku_import(request):
    form = SkuImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = services.job_start(
            kind="import_skus",
            title=f"Import SKUs from {form.cleaned_data['file'].name[:100]}",
            params={"csv": form.cleaned_data["text"], "mode": form.cleaned_data["mode"]},
            actor=request.user,
        )
        return redirect("inventory:job-detail", pk=job.pk)
    owner = selectors.owner_of(fact=Fact.CATALOG)
    context = {"form": form, "catalog_owner": owner, "shelf_owns": shelf_may_edit_catalog(owner)}
    return render(request, "inventory/sku_import.html", context)


@require_GET
def job_detail(request, pk: int):
    """A job's progress; the page polls its own fragment until the job is finished."""
    job = get_object_or_404(selectors.jobs_visible_to(user=request.user), pk=pk)
    template = "inventory/job_detail.html"
    if request.htmx:
        template += "#job-status"
    return render(request, template, {"job": job})


@require_GET
@permission_required("inventory.view_discrepancy", raise_exception=True)
def dashboard(request):
    """The managers' dashboard: figures, charts, breakdowns and every open disagreement."""
    form = DashboardFilterForm(request.GET)
    if request.GET.get("format") == "csv":
        return discrepancies_csv(selectors.dashboard_rows(**form.filters(), whole=True))
    rows = selectors.dashboard_rows(**form.filters())
    paginator = Paginator(rows, PAGE_SIZE)
    template = "inventory/dashboard.html"
    if not request.htmx:
        breakdowns = selectors.dashboard_breakdowns(rows=selectors.dashboard_rows(status="open"))
        if form.shows_every_open_row():  # as many rows as the figure counts: no count again
            paginator.count = breakdowns["totals"]["n"]
    page = paginator.get_page(page_number(request.GET))
    notes = selectors.discrepancy_notes(ids=[d.pk for d in page])
    lines = [(d, selectors.discrepancy_sentence(d, notes.get(d.pk))) for d in page]
    if request.htmx:
        return render(request, template + "#dashboard-table", {"page": page, "lines": lines,
                                                                 "form": form})  # fmt: skip
    head = selectors.dashboard_figures(open_totals=breakdowns["totals"])
    context = {
        "form": form,
        "page": page,
        "lines": lines,
        "orders_at_risk": selectors.orders_at_risk_open(),
        "figures": head.figures,
        "charts": [(chart, charts.render(chart)) for chart in selectors.dashboard_charts()],
        "breakdowns": breakdowns,
    }
    if not head.batches_held:  # the banner's check was read with the figures: nothing to read
        context["held_batches"] = ()
    return render(request, template, context)


def discrepancies_csv(rows) -> StreamingHttpResponse:
    """Every matching row (not just a page), streamed in chunks with their sentences."""
    header = [
        "id",
        "created_at",
        "status",
        "kind",
        "fact",
        "sku",
        "bin",
        "owner",
        "consumer",
        "owner_value",
        "consumer_value",
        "units",
        "value",
        "correction",
        "sentence",
    ]

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        chunk: list = []
        for d in rows.iterator(chunk_size=500):
            chunk.append(d)
            if len(chunk) == 500:
                yield from _csv_chunk(writer, buffer, chunk)
                chunk = []
        yield from _csv_chunk(writer, buffer, chunk)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="discrepancies.csv"'
    return response


def _csv_chunk(writer, buffer, chunk):
    notes = selectors.discrepancy_notes(ids=[d.pk for d in chunk])
    for d in chunk:
        writer.writerow([
            d.pk, d.created_at.isoformat(), d.status, d.kind, d.fact,
            d.sku.code if d.sku else "", d.bin.code if d.bin else "",
            d.owner.name if d.owner else "", d.consumer.name if d.consumer else "",
            d.owner_value, d.consumer_value, d.units, d.value, d.correction,
            selectors.discrepancy_sentence(d, notes.get(d.pk)),
        ])  # fmt: skip
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()


@require_http_methods(["GET", "POST"])
@permission_required("inventory.view_discrepancy", raise_exception=True)
def discrepancy_detail(request, pk: int):
    discrepancy = get_object_or_404(selectors.dashboard_rows(status="", whole=True), pk=pk)
    form = DiscrepancyDecisionForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("inventory.change_discrepancy"):
            raise PermissionDenied
        if form.is_valid() and discrepancy.is_open:
            reason = form.cleaned_data["reason"]
            services.discrepancy_resolve(
                discrepancy=discrepancy, resolution="decision", actor=request.user, note=reason
            )
            return redirect("inventory:discrepancy-detail", pk=pk)
    notes = selectors.discrepancy_notes(ids=[pk]).get(pk, [])
    context = {"d": discrepancy, "notes": notes, "form": form,
               "sentence": selectors.discrepancy_sentence(discrepancy, notes),
               "between": selectors.discrepancy_between(discrepancy)}  # fmt: skip
    return render(request, "inventory/discrepancy_detail.html", context)
