"""A storefront's token and webhook secret, stored encrypted when entered on the connect page.

Encryption is ``cryptography``'s Fernet (AES-128-CBC with HMAC-SHA256, authenticated) under
``ONEFACT_SECRETS_KEY``, a Fernet key from the environment; several keys separated by commas
rotate (the first encrypts, every one decrypts: ``MultiFernet``). Without a key nothing is
stored: the secrets come from the environment only (``STOREFRONT_<NAME>_TOKEN``,
``STOREFRONT_<NAME>_WEBHOOK_SECRET``), which win over stored ones anyway.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretsKeyMissing(Exception):
    """ONEFACT_SECRETS_KEY is unset or unusable: secrets cannot be stored or read back."""


def secrets_key_configured() -> bool:
    try:
        _fernet()
    except SecretsKeyMissing:
        return False
    return True


def secret_encrypt(value: str) -> str:
    """The Fernet token of ``value`` (text, safe to store); raises ``SecretsKeyMissing``."""
    return _fernet().encrypt(value.encode()).decode()


def secret_decrypt(stored: str) -> str:
    """The plaintext of a stored value; "" when nothing is stored.

    Raises ``SecretsKeyMissing`` when no key can read it (the key is unset, or was replaced
    without keeping the old one after it).
    """
    if not stored:
        return ""
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretsKeyMissing(
            "the stored secret cannot be decrypted with ONEFACT_SECRETS_KEY (was the key "
            "replaced? keep the old key after the new one, comma-separated, to read it)"
        ) from None


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in (settings.ONEFACT_SECRETS_KEY or "").split(",") if key.strip()]
    if not keys:
        raise SecretsKeyMissing("ONEFACT_SECRETS_KEY is not set")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise SecretsKeyMissing(
            "ONEFACT_SECRETS_KEY is not a Fernet key (32 url-safe base64-encoded bytes; make "
            'one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())")'
        ) from None
