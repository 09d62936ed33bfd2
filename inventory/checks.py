"""System checks that ``manage.py check --deploy`` runs: what would leave production open."""

from django.core import checks
from django.db import DatabaseError


@checks.register(checks.Tags.security, deploy=True)
def storefront_webhook_secrets(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Name each active storefront whose deliveries cannot be verified: no webhook secret in
    the environment nor stored. Its webhook refuses every delivery (401) until one is set.

    Reads the storefronts from the database; when it cannot be reached (a check run on a build
    machine) there is nothing to say yet.
    """
    from inventory.models import System
    from inventory.storefront import secret_env_name, webhook_secret_lacking

    try:
        storefronts = list(
            System.objects.filter(kind=System.Kind.STOREFRONT, active=True).order_by("name")
        )
    except DatabaseError:
        return []
    return [
        checks.Warning(
            f"Storefront {system.name!r} has no webhook secret: every delivery it sends is "
            "refused with 401 webhook_secret_missing.",
            hint=f"Set {secret_env_name(system, 'WEBHOOK_SECRET')} (the secret the storefront "
            "signs its webhooks with) or enter it on the storefront's connect page.",
            obj=system,
            id="inventory.W001",
        )
        for system in storefronts
        if webhook_secret_lacking(system)
    ]


@checks.register(checks.Tags.security, deploy=True)
def password_reset_rate_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Password reset is rate-limited through Django's cache: a cache in each process's own
    memory counts per process, so N web workers allow N times the limit."""
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    if not settings.ONEFACT_PASSWORD_RESET or not backend.endswith("LocMemCache"):
        return []
    return [
        checks.Warning(
            "Password reset is rate-limited in each process's own memory: every web worker "
            "counts alone.",
            hint="Set DJANGO_CACHE_URL to a shared cache, e.g. redis://redis:6379/1.",
            id="inventory.W002",
        )
    ]


@checks.register()
def label_format_known(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """``ONEFACT_LABEL_FORMAT`` names one of the label formats, or printing would fail."""
    from django.conf import settings

    from inventory.labels import FORMATS

    if settings.ONEFACT_LABEL_FORMAT in FORMATS:
        return []
    return [
        checks.Error(
            f"ONEFACT_LABEL_FORMAT={settings.ONEFACT_LABEL_FORMAT!r} is not a label format.",
            hint=f"Use one of: {', '.join(FORMATS)}.",
            id="inventory.E001",
        )
    ]
