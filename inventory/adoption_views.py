"""The managers' screens of the adoption path: the storefronts, a storefront's readiness and
its go-live, and a batch the circuit breaker held. Every decision is a service call."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from inventory import selectors, services
from inventory.cleaning import page_number
from inventory.exceptions import InvalidMovement
from inventory.forms import GoLiveForm, ReasonForm
from inventory.models import CorrectionBatch, System
from inventory.selectors.storefronts import (
    batch_lines,
    last_reconciliation,
    mode_change_actor,
    not_yet_counted_for,
    orders_at_risk_list,
    storefronts_for_list,
    with_shelf_now,
)
from inventory.storefront.base import StorefrontError

PAGE_SIZE = 50
LARGEST = 20


def _storefront(name: str) -> System:
    return get_object_or_404(System, name=name, kind=System.Kind.STOREFRONT)


def _stock_take_url(storefront: System) -> str:
    """The opening stock-take page, where driftwalks provides one."""
    try:
        return reverse("driftwalks:opening-stock-take", kwargs={"storefront": storefront.name})
    except NoReverseMatch:
        return ""


@require_GET
@permission_required("inventory.view_system", raise_exception=True)
def storefront_list(request):
    context = {"storefronts": storefronts_for_list(), "last_run": last_reconciliation()}
    return render(request, "inventory/storefront_list.html", context)


def _readiness(request, storefront: System, go_live_form: GoLiveForm | None = None) -> dict:
    preview = selectors.preview_for(storefront=storefront)
    lines = batch_lines(batch=preview) if preview else []
    uncounted = not_yet_counted_for(storefront=storefront)
    return {
        "storefront": storefront,
        "readiness": selectors.readiness_for(storefront=storefront),
        "preview": preview,
        "largest": lines[:LARGEST],
        "changes": Paginator(lines, PAGE_SIZE).get_page(page_number(request.GET, "changes")),
        "uncounted": Paginator(uncounted, PAGE_SIZE).get_page(
            page_number(request.GET, "uncounted")
        ),
        "at_risk": orders_at_risk_list(),
        "held": selectors.held_batch_for(storefront=storefront),
        "mode_changes": [
            (change, mode_change_actor(change))
            for change in selectors.mode_changes_for(storefront=storefront)
        ],
        "batches": selectors.batches_for(storefront=storefront),
        "stock_take_url": _stock_take_url(storefront),
        "go_live_form": go_live_form
        or GoLiveForm(initial={"preview": preview.pk if preview else None}),
    }


@require_GET
@permission_required("inventory.view_system", raise_exception=True)
def storefront_detail(request, name: str):
    """A storefront's readiness: what the shelf knows, what going live would change."""
    storefront = _storefront(name)
    return render(request, "inventory/storefront_detail.html", _readiness(request, storefront))


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def storefront_preview(request, name: str):
    """Read the whole storefront as a job; the job's page links back to the preview."""
    storefront = _storefront(name)
    job = services.job_start(
        kind="go_live_preview",
        title=f"Preview going live on {storefront.name}",
        params={"storefront": storefront.name},
        actor=request.user,
    )
    return redirect("inventory:job-detail", pk=job.pk)


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def storefront_go_live(request, name: str):
    storefront = _storefront(name)
    form = GoLiveForm(request.POST)
    if form.is_valid():
        preview = CorrectionBatch.objects.filter(
            pk=form.cleaned_data["preview"], storefront=storefront
        ).first()
        try:
            if preview is None:
                raise InvalidMovement("There is no such preview of this storefront.")
            report = services.storefront_go_live(
                storefront=storefront,
                preview=preview,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except InvalidMovement as error:
            form.add_error(None, str(error))
        except StorefrontError as error:
            messages.error(
                request,
                f"{storefront.name} is live, but could not be reached "
                f"({error}): its corrections wait, paused, for a manager to "
                "release them.",
            )
            return redirect("inventory:storefront-detail", name=storefront.name)
        else:
            messages.success(
                request,
                f"{storefront.name} is live: corrections of "
                f"{report.skus} SKU(s) sent ({report.applied} applied, "
                f"{report.stale} found changed and sent again).",
            )
            return redirect("inventory:storefront-detail", name=storefront.name)
    context = _readiness(request, storefront, go_live_form=form)
    return render(request, "inventory/storefront_detail.html", context, status=400)


def _batch_page(request, batch: CorrectionBatch, form=None, action: str = "", status=200):
    lines = Paginator(batch_lines(batch=batch), PAGE_SIZE).get_page(page_number(request.GET))
    context = {
        "batch": batch,
        "storefront": batch.storefront,
        "lines": with_shelf_now(lines=list(lines)),
        "page": lines,
        "release_form": form if action == "release" else ReasonForm(prefix="release"),
        "cancel_form": form if action == "cancel" else ReasonForm(prefix="cancel"),
    }
    return render(request, "inventory/storefront_batch.html", context, status=status)


def _batch(name: str, pk: int) -> CorrectionBatch:
    return get_object_or_404(
        CorrectionBatch.objects.select_related("storefront", "decided_by"),
        pk=pk,
        storefront__name=name,
        storefront__kind=System.Kind.STOREFRONT,
    )


@require_GET
@permission_required("inventory.view_system", raise_exception=True)
def batch_detail(request, name: str, pk: int):
    """What a batch would do (or did), SKU by SKU, and the manager's two decisions."""
    return _batch_page(request, _batch(name, pk))


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def batch_release(request, name: str, pk: int):
    batch = _batch(name, pk)
    form = ReasonForm(request.POST, prefix="release")
    if not form.is_valid():
        return _batch_page(request, batch, form, "release", status=400)
    try:
        report = services.correction_batch_release(
            batch=batch, actor=request.user, note=form.cleaned_data["reason"]
        )
    except InvalidMovement as error:
        messages.warning(request, str(error))
    except StorefrontError as error:
        messages.error(
            request,
            f"{batch.storefront.name} could not be reached ({error}): "
            "nothing was sent, the batch is still held.",
        )
    else:
        messages.success(
            request,
            f"Released: {report.skus} SKU(s) sent to "
            f"{batch.storefront.name}; its sync is running again.",
        )
    return redirect("inventory:batch-detail", name=name, pk=pk)


@require_POST
@permission_required("inventory.run_reconciliation", raise_exception=True)
def batch_cancel(request, name: str, pk: int):
    batch = _batch(name, pk)
    form = ReasonForm(request.POST, prefix="cancel")
    if not form.is_valid():
        return _batch_page(request, batch, form, "cancel", status=400)
    try:
        services.correction_batch_cancel(
            batch=batch, actor=request.user, note=form.cleaned_data["reason"]
        )
    except InvalidMovement as error:
        messages.warning(request, str(error))
    else:
        messages.success(
            request,
            f"Cancelled: nothing was sent; {batch.storefront.name} is "
            "back in observe mode until it is taken live on a new preview.",
        )
    return redirect("inventory:batch-detail", name=name, pk=pk)
