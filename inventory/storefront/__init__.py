"""Storefront adapters: one interface (``base``), one module per storefront."""

import logging
import os

from django.conf import settings

from inventory.models import System
from inventory.storefront.base import Capabilities, StorefrontAdapter
from inventory.storefront.secrets import SecretsKeyMissing, secret_decrypt

logger = logging.getLogger(__name__)

# Where each secret is stored when it was entered on the connect page.
STORED_SECRETS = {"TOKEN": "token_encrypted", "WEBHOOK_SECRET": "webhook_secret_encrypted"}


def secret_env_name(system: System, name: str) -> str:
    """The environment variable that holds one of a storefront's secrets."""
    return f"STOREFRONT_{system.name.upper().replace('-', '_')}_{name}"


# The demo storefront's webhook secret when none is configured: only with DEBUG (the embedded
# default); outside it a demo storefront without a secret refuses every delivery.
DEMO_DEBUG_WEBHOOK_SECRET = "demo-secret"


def secret_source(system: System, name: str) -> str:
    """Where the adapter takes the secret from: "env", "stored" or "" (none)."""
    if os.environ.get(secret_env_name(system, name), "").strip():
        return "env"
    return "stored" if getattr(system, STORED_SECRETS[name]) else ""


def _secret(system: System, name: str) -> str:
    """The environment's value wins; else the one stored encrypted; else "".

    A value that is empty or only whitespace is no secret: it counts as unset.
    """
    if (value := os.environ.get(secret_env_name(system, name), "")).strip():
        return value
    try:
        stored = secret_decrypt(getattr(system, STORED_SECRETS[name]))
    except SecretsKeyMissing as error:
        logger.warning("storefront %s: its stored %s is unreadable: %s", system.name, name, error)
        return ""
    return stored if stored.strip() else ""


def _adapter_class(system: System) -> type[StorefrontAdapter]:
    if system.adapter == "demo":
        from inventory.storefront.demo.adapter import DemoAdapter as adapter
    elif system.adapter == "shopify":
        from inventory.storefront.shopify import ShopifyAdapter as adapter
    elif system.adapter == "saleor":
        from inventory.storefront.saleor import SaleorAdapter as adapter
    else:
        raise ValueError(f"System {system.name} has no storefront adapter ({system.adapter!r}).")
    return adapter


def capabilities_of(system: System) -> Capabilities:
    """What a storefront's adapter can do, without connecting to it."""
    return _adapter_class(system).capabilities


def webhook_secret_lacking(system: System) -> bool:
    """Whether the storefront signs its deliveries with a shared secret that OneFact lacks
    (so every delivery is refused). The demo's built-in secret counts only with DEBUG."""
    try:
        required = _adapter_class(system).webhook_secret_required
    except ValueError:
        return False
    if not required or (system.adapter == "demo" and settings.DEBUG):
        return False
    return not _secret(system, "WEBHOOK_SECRET")


def adapter_for(system: System) -> StorefrontAdapter:
    """The adapter for a storefront system, configured from ``system.config`` and the env."""
    config = dict(system.config or {})
    if system.adapter == "demo":
        from inventory.storefront.demo.adapter import DemoAdapter

        fallback = DEMO_DEBUG_WEBHOOK_SECRET if settings.DEBUG else ""
        return DemoAdapter(webhook_secret=_secret(system, "WEBHOOK_SECRET") or fallback)
    if system.adapter == "shopify":
        from inventory.storefront.shopify import ShopifyAdapter

        return ShopifyAdapter(
            shop_url=config.get("shop_url") or os.environ.get("STOREFRONT_URL", ""),
            access_token=_secret(system, "TOKEN"),
            location_id=config.get("location_id", ""),
            webhook_secret=_secret(system, "WEBHOOK_SECRET"),
            **({"api_version": config["api_version"]} if config.get("api_version") else {}),
            **({"timeout": float(config["timeout"])} if config.get("timeout") else {}),
        )
    if system.adapter == "saleor":
        from inventory.storefront.saleor import SaleorAdapter

        return SaleorAdapter(
            api_url=config.get("api_url") or os.environ.get("STOREFRONT_URL", ""),
            token=_secret(system, "TOKEN"),
            warehouse_id=config.get("warehouse_id", ""),
            channel=config.get("channel") or None,
            jwks_url=config.get("jwks_url") or None,
            **({"version": str(config["version"])} if config.get("version") else {}),
            **({"timeout": float(config["timeout"])} if config.get("timeout") else {}),
        )
    raise ValueError(f"System {system.name} has no storefront adapter ({system.adapter!r}).")
