"""Connect a storefront: add one, see its webhook URL and where its secrets come from, test the
connection, register its webhooks, replace its stored secrets.

Managers may look and test (a test writes nothing); admins add storefronts, register webhooks
and replace secrets. A stored secret is never shown again, only "stored".
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from inventory.forms import StorefrontConnectForm, StorefrontSecretsForm
from inventory.models import System
from inventory.services.connect import (
    ADAPTERS,
    StorefrontConfigInvalid,
    storefront_connect,
    storefront_connection_test,
    storefront_secrets_set,
    storefront_webhooks_register,
)
from inventory.storefront import secret_env_name, secret_source
from inventory.storefront.base import StorefrontError, WebhookRegistrationNotSupported
from inventory.storefront.secrets import secrets_key_configured

VIEW = "inventory.view_system"
ADD = "inventory.add_system"
CHANGE = "inventory.change_system"
LIST_TEMPLATE = "inventory/storefront_connect.html"
TEMPLATE = "inventory/storefront_connection.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _storefront(name: str) -> System:
    return get_object_or_404(System, name=name, kind=System.Kind.STOREFRONT)


def _webhook_url(request, storefront: System) -> str:
    path = reverse("inventory:storefront-webhook", args=[storefront.name])
    return request.build_absolute_uri(path)


def _context(request, storefront: System, **extra) -> dict:
    secrets = [
        (label, secret_source(storefront, name), secret_env_name(storefront, name))
        for label, name in (("Token", "TOKEN"), ("Webhook secret", "WEBHOOK_SECRET"))
    ]
    return {
        "storefront": storefront,
        "adapter_name": ADAPTERS.get(storefront.adapter, storefront.adapter),
        "webhook_url": _webhook_url(request, storefront),
        "secrets": secrets,
        "secrets_key": secrets_key_configured(),
        "registers_webhooks": storefront.adapter in ("shopify", "saleor"),
        "secrets_form": StorefrontSecretsForm(),
    } | extra


@require_http_methods(["GET", "POST"])
@permission_required(VIEW, raise_exception=True)
def storefront_connect_page(request: HtmxHttpRequest) -> HttpResponse:
    """The storefronts connected, and (admins) the form that adds one in observe mode."""
    form = StorefrontConnectForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm(ADD):
            raise PermissionDenied
        if form.is_valid():
            try:
                system = storefront_connect(**form.cleaned_data, actor=request.user)
            except StorefrontConfigInvalid as error:
                form.add_error(error.field, str(error))
            else:
                messages.success(request, f"{system.name} is connected, in observe mode.")
                return redirect("inventory:storefront-connection", system=system.name)
    storefronts = System.objects.filter(kind=System.Kind.STOREFRONT).order_by("name")
    context = {"form": form, "storefronts": storefronts, "secrets_key": secrets_key_configured()}
    return render(request, LIST_TEMPLATE, context)


@require_GET
@permission_required(VIEW, raise_exception=True)
def storefront_connection(request: HtmxHttpRequest, system: str) -> HttpResponse:
    return render(request, TEMPLATE, _context(request, _storefront(system)))


@require_POST
@permission_required(VIEW, raise_exception=True)
def storefront_connection_check(request: HtmxHttpRequest, system: str) -> HttpResponse:
    """Test connection: read one page of levels and of the catalog, and the token's rights."""
    storefront = _storefront(system)
    report = storefront_connection_test(storefront=storefront)
    template = TEMPLATE + "#connection-test" if request.htmx else TEMPLATE
    return render(request, template, _context(request, storefront, report=report))


@require_POST
@permission_required(CHANGE, raise_exception=True)
def storefront_webhooks(request: HtmxHttpRequest, system: str) -> HttpResponse:
    """Register webhooks: subscribe this storefront's webhook URL to the events OneFact reads."""
    storefront = _storefront(system)
    registration, error = None, ""
    try:
        registration = storefront_webhooks_register(
            storefront=storefront, url=_webhook_url(request, storefront)
        )
    except WebhookRegistrationNotSupported:
        error = "This storefront delivers its events to OneFact by itself: nothing to register."
    except StorefrontError as exc:
        error = f"Nothing more was registered: {exc}"
    template = TEMPLATE + "#webhook-registration" if request.htmx else TEMPLATE
    context = _context(request, storefront, registration=registration, registration_error=error)
    return render(request, template, context)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def storefront_secrets(request: HtmxHttpRequest, system: str) -> HttpResponse:
    """Replace the stored token or webhook secret; the next use of the adapter reads them."""
    storefront = _storefront(system)
    form = StorefrontSecretsForm(request.POST)
    if form.is_valid():
        try:
            replaced = storefront_secrets_set(storefront=storefront, **form.cleaned_data)
        except StorefrontConfigInvalid as error:
            form.add_error(error.field, str(error))
        else:
            names = " and ".join(field.replace("_", " ") for field in replaced)
            messages.success(request, f"The {names} of {storefront.name} replaced.")
            return redirect("inventory:storefront-connection", system=storefront.name)
    return render(request, TEMPLATE, _context(request, storefront, secrets_form=form))
