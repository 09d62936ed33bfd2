"""Connecting a storefront: add it from the back-office, test its token, register its webhooks.

A storefront added here starts in observe mode (the model's default): it is read and compared,
never written, until a manager takes it live. It is made a consumer of on-hand through the
ownership table (audited like any change there), so reconciliation reads it.

Secrets: ``STOREFRONT_<NAME>_TOKEN`` and ``STOREFRONT_<NAME>_WEBHOOK_SECRET`` in the environment
keep working and win. A token or webhook secret entered on the page is stored encrypted
(``inventory.storefront.secrets``) and read again by ``adapter_for`` on every use, so replacing
it needs no restart. Nothing here ever returns a stored secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction

from inventory.exceptions import InvalidMovement
from inventory.models import Fact, Ownership, System
from inventory.services.ownership import ownership_change
from inventory.storefront import adapter_for, secret_env_name, secret_source
from inventory.storefront.base import (
    AuthenticationFailed,
    MappingError,
    StorefrontError,
    StorefrontUnavailable,
    WebhookRegistration,
)
from inventory.storefront.secrets import SecretsKeyMissing, secret_decrypt, secret_encrypt

ADAPTERS = {"demo": "Demo storefront", "shopify": "Shopify", "saleor": "Saleor"}
# Per adapter: the config keys the URL and the location go to, and whether a token and a
# webhook secret are needed (Saleor signs its webhooks with its own keys, published as JWKS).
_SHAPES = {
    "demo": {"url": None, "location": None, "token": False, "webhook_secret": False},
    "shopify": {"url": "shop_url", "location": "location_id", "token": True,
                "webhook_secret": True},
    "saleor": {"url": "api_url", "location": "warehouse_id", "token": True,
               "webhook_secret": False},
}  # fmt: skip
_SHOPIFY_LOCATION = re.compile(r"^(gid://shopify/Location/)?[0-9]+$")
_URL = URLValidator(schemes=["http", "https"])


class StorefrontConfigInvalid(InvalidMovement):
    """A storefront's settings are refused; ``field`` names the one at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ConnectionCheck:
    label: str  # "Stock levels", "Catalog", "Permissions", …
    ok: bool
    detail: str  # a sentence: what was read, or what is wrong and what it stops


@dataclass(frozen=True)
class ConnectionReport:
    checks: list[ConnectionCheck]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def storefront_config_check(
    *, name: str, adapter: str, url: str, location: str, token: str, webhook_secret: str
) -> dict:
    """The config to store for a new storefront, or ``StorefrontConfigInvalid`` naming the
    field at fault. Writes nothing."""
    try:
        validate_slug(name)
    except ValidationError:
        raise StorefrontConfigInvalid(
            "Use letters, digits, hyphens and underscores only.", field="name"
        ) from None
    env_prefix = secret_env_name(System(name=name), "")
    for other in System.objects.values_list("name", flat=True):
        if other == name:
            raise StorefrontConfigInvalid(f"A system named {name} exists already.", field="name")
        if secret_env_name(System(name=other), "") == env_prefix:
            raise StorefrontConfigInvalid(
                f"System {other} exists already and would share the environment variables "
                f"{env_prefix}… with this one; choose another name.",
                field="name",
            )
    if adapter not in ADAPTERS:
        raise StorefrontConfigInvalid(f"Choose one of: {', '.join(ADAPTERS)}.", field="adapter")
    if adapter == "demo" and System.objects.filter(adapter="demo").exists():
        raise StorefrontConfigInvalid(
            "The demo storefront is connected already; there is only one.", field="adapter"
        )
    shape = _SHAPES[adapter]
    config: dict = {}
    if shape["url"]:
        config[shape["url"]] = _checked_url(url, adapter=adapter)
    if shape["location"]:
        config[shape["location"]] = _checked_location(location, adapter=adapter)
    probe = System(name=name)
    for field, secret_name, value in (
        ("token", "TOKEN", token),
        ("webhook_secret", "WEBHOOK_SECRET", webhook_secret),
    ):
        env_name = secret_env_name(probe, secret_name)
        if value:
            _require_secrets_key(field=field, env_name=env_name)
        elif shape[field] and not os.environ.get(env_name):
            raise StorefrontConfigInvalid(
                f"{ADAPTERS[adapter]} needs a {field.replace('_', ' ')}: enter it here or set "
                f"{env_name} in the environment.",
                field=field,
            )
    return config


@transaction.atomic
def storefront_connect(
    *,
    name: str,
    adapter: str,
    url: str = "",
    location: str = "",
    token: str = "",
    webhook_secret: str = "",
    actor: AbstractBaseUser | None,
) -> System:
    """Add a storefront in observe mode, store its secrets encrypted, make it read on-hand."""
    name, url, location = name.strip(), url.strip(), location.strip()
    config = storefront_config_check(
        name=name,
        adapter=adapter,
        url=url,
        location=location,
        token=token,
        webhook_secret=webhook_secret,
    )
    try:
        with transaction.atomic():
            system = System.objects.create(
                name=name,
                kind=System.Kind.STOREFRONT,
                adapter=adapter,
                config=config,
                token_encrypted=secret_encrypt(token) if token else "",
                webhook_secret_encrypted=secret_encrypt(webhook_secret) if webhook_secret else "",
            )
    except IntegrityError:  # added by someone else between the check and now
        raise StorefrontConfigInvalid(
            f"A system named {name} exists already.", field="name"
        ) from None
    on_hand = Ownership.objects.select_for_update().get(fact=Fact.ON_HAND)
    ownership_change(
        ownership=on_hand,
        owner=on_hand.owner,
        consumers=[*on_hand.consumers.all(), system],
        truth_moment=on_hand.truth_moment,
        reason=f"Storefront {name} connected ({ADAPTERS[adapter]}): it mirrors on-hand, "
        "observed until a manager takes it live.",
        actor=actor,
    )
    return system


storefront_connect.alters_data = True


@transaction.atomic
def storefront_secrets_set(
    *, storefront: System, token: str = "", webhook_secret: str = ""
) -> list[str]:
    """Replace the stored token and/or webhook secret (blank: keep); the next use reads them.

    Returns the fields replaced.
    """
    locked = System.objects.select_for_update().get(pk=storefront.pk)
    if locked.kind != System.Kind.STOREFRONT:
        raise StorefrontConfigInvalid(f"{locked.name} is not a storefront.", field="token")
    replaced = []
    for field, secret_name, value in (
        ("token", "TOKEN", token),
        ("webhook_secret", "WEBHOOK_SECRET", webhook_secret),
    ):
        if not value:
            continue
        _require_secrets_key(field=field, env_name=secret_env_name(locked, secret_name))
        setattr(locked, f"{field}_encrypted", secret_encrypt(value))
        replaced.append(field)
    if not replaced:
        raise StorefrontConfigInvalid("Enter a new token or webhook secret.", field="token")
    locked.save(update_fields=[f"{field}_encrypted" for field in replaced])
    for field in replaced:
        setattr(storefront, f"{field}_encrypted", getattr(locked, f"{field}_encrypted"))
    return replaced


storefront_secrets_set.alters_data = True


def storefront_connection_test(*, storefront: System) -> ConnectionReport:
    """Read one page of levels and of the catalog, and the token's permissions; say in words
    what works and what is missing. Writes nothing, neither here nor at the storefront."""
    problem = _secrets_problem(storefront)
    if problem:
        return ConnectionReport([ConnectionCheck("Token", False, problem)])
    try:
        adapter = adapter_for(storefront)
    except ValueError as error:
        return ConnectionReport([ConnectionCheck("Configuration", False, str(error))])
    steps: list[tuple[str, Callable[[], str]]] = [
        ("Stock levels", lambda: _read_levels(adapter)),
        ("Catalog", lambda: _read_catalog(adapter)),
    ]
    checks: list[ConnectionCheck] = []
    try:
        for label, step in steps:
            checks.append(_attempt(label, step))
            if isinstance(checks[-1], _Unreachable):
                return ConnectionReport(checks)
        checks += _access_checks(adapter)
    finally:
        if hasattr(adapter, "close"):
            adapter.close()
    return ConnectionReport(checks)


def storefront_webhooks_register(*, storefront: System, url: str) -> WebhookRegistration:
    """Subscribe ``url`` to the storefront's events through its API (idempotent).

    Raises ``StorefrontError`` with a sentence when the storefront refuses or cannot be reached.
    """
    problem = _secrets_problem(storefront)
    if problem:
        raise AuthenticationFailed(problem)
    adapter = adapter_for(storefront)
    try:
        return adapter.register_webhooks(url=url)
    finally:
        if hasattr(adapter, "close"):
            adapter.close()


# -- helpers -------------------------------------------------------------------------------


class _Unreachable(ConnectionCheck):
    """A failed check after which the others are not tried: the storefront did not answer."""


def _attempt(label: str, step: Callable[[], str]) -> ConnectionCheck:
    try:
        return ConnectionCheck(label, True, step())
    except StorefrontError as error:
        return _failed(label, error)


def _failed(label: str, error: StorefrontError) -> ConnectionCheck:
    if isinstance(error, StorefrontUnavailable):
        return _Unreachable(label, False, f"Could not reach the storefront: {error}.")
    if isinstance(error, AuthenticationFailed):
        return ConnectionCheck(label, False, f"The storefront refused the token: {error}.")
    if isinstance(error, MappingError):
        return ConnectionCheck(label, False, f"{str(error)[:1].upper()}{str(error)[1:]}.")
    return ConnectionCheck(label, False, f"The storefront refused the request: {error}.")


def _read_levels(adapter) -> str:
    page = adapter.read_levels(None)
    more = " (more pages follow)" if page.next_cursor else ""
    return f"Read {len(page.items)} stock level{'s' if len(page.items) != 1 else ''}{more}."


def _read_catalog(adapter) -> str:
    page = adapter.read_catalog()
    more = " (more pages follow)" if page.next_cursor else ""
    return f"Read {len(page.items)} catalog item{'s' if len(page.items) != 1 else ''}{more}."


def _access_checks(adapter) -> list[ConnectionCheck]:
    try:
        report = adapter.check_access()
    except StorefrontError as error:
        return [_failed("Permissions", error)]
    if report.missing:
        return [
            ConnectionCheck("Permissions", False, f"The token lacks {gap.name}: {gap.consequence}.")
            for gap in report.missing
        ]
    if not report.granted:
        return [ConnectionCheck("Permissions", True, "This storefront needs no token.")]
    granted = ", ".join(report.granted)
    detail = f"Everything OneFact needs is granted ({granted})."
    return [ConnectionCheck("Permissions", True, detail)]


def _secrets_problem(storefront: System) -> str:
    """A sentence when a secret the adapter needs is absent or unreadable; else ""."""
    shape = _SHAPES.get(storefront.adapter)
    if shape is None:
        return ""
    for field, secret_name in (("token", "TOKEN"), ("webhook_secret", "WEBHOOK_SECRET")):
        source = secret_source(storefront, secret_name)
        env_name = secret_env_name(storefront, secret_name)
        label = field.replace("_", " ")
        if source == "stored":
            try:
                secret_decrypt(getattr(storefront, f"{field}_encrypted"))
            except SecretsKeyMissing as error:
                return (
                    f"The stored {label} cannot be read: {error}. Enter it again or set {env_name}."
                )
        elif not source and shape[field] and field == "token":
            return f"No token: enter one on this page or set {env_name} in the environment."
    return ""


def _require_secrets_key(*, field: str, env_name: str) -> None:
    try:
        secret_encrypt("")
    except SecretsKeyMissing as error:
        raise StorefrontConfigInvalid(
            f"Secrets cannot be stored here: {error}. Set {env_name} in the environment "
            "instead (or set ONEFACT_SECRETS_KEY and restart).",
            field=field,
        ) from None


def _checked_url(url: str, *, adapter: str) -> str:
    label = "shop URL" if adapter == "shopify" else "API URL"
    if not url:
        raise StorefrontConfigInvalid(f"{ADAPTERS[adapter]} needs its {label}.", field="url")
    if adapter == "shopify" and "://" not in url:
        url = f"https://{url}"
    try:
        _URL(url)
    except ValidationError:
        example = (
            "https://your-shop.myshopify.com"
            if adapter == "shopify"
            else "https://your-saleor.example.com/graphql/"
        )
        raise StorefrontConfigInvalid(
            f"Enter the {label} as a web address, like {example}.", field="url"
        ) from None
    return url.rstrip("/") if adapter == "shopify" else url


def _checked_location(location: str, *, adapter: str) -> str:
    if adapter == "shopify":
        if not _SHOPIFY_LOCATION.match(location):
            raise StorefrontConfigInvalid(
                "Enter the Shopify location id: its number (Settings → Locations, the number "
                "at the end of the address) or gid://shopify/Location/<number>.",
                field="location",
            )
        return location
    if not location:
        raise StorefrontConfigInvalid(
            "Saleor needs the id of the warehouse OneFact mirrors (Configuration → "
            "Warehouses; the id in its address).",
            field="location",
        )
    return location
