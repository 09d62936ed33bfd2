"""The demo storefront page: its numbers beside the shelf's, its orders, its shop-clerk actions.

For managers and admins: a hand edit here (no webhook) is what reconciliation must find;
an order here reaches OneFact as the storefront's webhook would.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from inventory.cleaning import page_number
from inventory.storefront.demo.forms import DemoDriftForm, DemoOrderForm
from inventory.storefront.demo.models import DemoOrder
from inventory.storefront.demo.selectors import demo_levels_with_shelf, demo_orders_recent
from inventory.storefront.demo.services import (
    DemoStorefrontError,
    demo_order_cancel,
    demo_order_fulfil,
    demo_order_place,
    demo_return_open,
    demo_storefront_drift,
)

PERMISSION = "inventory.view_authority_audit"
TEMPLATE = "inventory/demo_storefront.html"
PAGE_SIZE = 50
ORDER_ACTIONS = {
    "cancel": demo_order_cancel,
    "fulfil": demo_order_fulfil,
    "return": demo_return_open,
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _page_context(request) -> dict:
    q = request.GET.get("q", "").strip()
    gaps = request.GET.get("gaps") == "1"
    levels = demo_levels_with_shelf()
    if q:
        levels = levels.filter(Q(sku_code__icontains=q) | Q(title__icontains=q))
    if gaps:
        levels = levels.filter(Q(gap__isnull=True) | ~Q(gap=0))
    page = Paginator(levels, PAGE_SIZE).get_page(page_number(request.GET))
    return {"page": page, "q": q, "gaps": gaps, "orders": demo_orders_recent(),
            "form_key": uuid.uuid4().hex}  # fmt: skip


def _respond(
    request, *, partial: str, context: dict, error: str, event: str | None
) -> HttpResponse:
    """htmx: the partial (and ``event`` on success). A plain POST: back to the page on
    success, else the whole page with the error beside its field and at the top."""
    if not request.htmx:
        if not error:
            return redirect("demo:storefront")
        messages.error(request, f"Nothing was changed: {error}")
        return render(request, TEMPLATE, _page_context(request) | context)
    response = render(request, f"{TEMPLATE}#{partial}", context)
    return response if error or not event else trigger_client_event(response, event)


def _row_response(request, *, form, name: str, event: str | None) -> HttpResponse:
    row = demo_levels_with_shelf().filter(sku_code=form.data.get("sku", "")).first()
    error = " ".join(e for errors in form.errors.values() for e in errors)
    context = {"row": row, name: form, "form_key": uuid.uuid4().hex}
    return _respond(request, partial="demo-row", context=context, error=error, event=event)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def demo_storefront(request: HtmxHttpRequest) -> HttpResponse:
    template = TEMPLATE
    if request.htmx:
        template += "#demo-orders" if request.htmx.target == "demo-orders" else "#demo-table"
    return render(request, template, _page_context(request))


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def demo_level_set(request: HtmxHttpRequest) -> HttpResponse:
    """Set the demo's number by hand: silently, as a clerk in the storefront's admin would."""
    form = DemoDriftForm(request.POST)
    if form.is_valid():
        try:
            data = form.cleaned_data
            demo_storefront_drift(sku_code=data["sku"], quantity=data["quantity"])
        except DemoStorefrontError as error:
            form.add_error("quantity", str(error))
    return _row_response(request, form=form, name="drift_form", event=None)  # the row is all


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def demo_order_new(request: HtmxHttpRequest) -> HttpResponse:
    """A shopper places a one-line order."""
    form = DemoOrderForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            demo_order_place(
                lines=[(data["sku"], data["quantity"])],
                customer_name=data["customer_name"],
                request_key=data["request_key"],
            )
        except DemoStorefrontError as error:
            form.add_error("quantity", str(error))
    return _row_response(request, form=form, name="order_form", event="demoOrdersChanged")


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def demo_order_action(request: HtmxHttpRequest, number: str, action: str) -> HttpResponse:
    """Cancel, fulfil or open a return for one demo order."""
    order = get_object_or_404(DemoOrder, number=number)
    error = ""
    try:
        ORDER_ACTIONS[action](order=order)
    except DemoStorefrontError as exc:
        error = str(exc)
    context = {"orders": demo_orders_recent(), "error_number": number, "order_error": error}
    return _respond(
        request, partial="demo-orders", context=context, error=error, event="demoLevelsChanged"
    )
