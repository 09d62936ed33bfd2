"""Saleor webhook deliveries: the detached JWS signature (RFC 7797) and the order events."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt
from jwt.exceptions import InvalidKeyError

from inventory.storefront.base import EventLine, EventType, InboundEvent, WebhookSignatureInvalid
from inventory.storefront.http import parse_time, person_name


def order_event(
    event_name: str, event_type: EventType, payload: dict[str, Any], occurred_at: datetime | None
) -> InboundEvent | None:
    order = payload.get("order") or {}
    if not order.get("id"):
        return None
    lines = [
        EventLine(
            sku=line.get("productSku") or (line.get("variant") or {}).get("sku") or "",
            quantity=int(line.get("quantity") or 0),
            line_ref=str(line.get("id") or ""),
        )
        for line in order.get("lines") or []
    ]
    return InboundEvent(
        event_id=delivery_event_id(event_name, order["id"], payload),
        type=event_type,
        occurred_at=occurred_at or parse_time(order.get("updatedAt")),
        order_ref=str(order["id"]),
        customer_name=person_name(order.get("user"), first="firstName", last="lastName")
        or person_name(order.get("billingAddress"), first="firstName", last="lastName"),
        lines=lines,
        payload=payload,
    )


def delivery_event_id(event_name: str, object_id: str, payload: Mapping[str, Any]) -> str:
    """``<event>:<object id>:<issuedAt>``; a body hash stands in when issuedAt is missing."""
    issued_at = payload.get("issuedAt")
    if not issued_at:
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return f"{event_name}:{object_id}:{digest}"
    return f"{event_name}:{object_id}:{issued_at}"


def verify_signature(key: jwt.PyJWK, signing_input: bytes, signature: bytes) -> bool:
    try:
        return bool(key.Algorithm.verify(signing_input, key.key, signature))
    except (InvalidKeyError, ValueError, TypeError):
        return False


def split_detached_jws(value: str) -> tuple[bytes, dict[str, Any], bytes]:
    """``<protected>..<signature>`` → (protected segment, decoded header, signature bytes)."""
    parts = value.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise WebhookSignatureInvalid("Saleor-Signature is not a detached JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise WebhookSignatureInvalid(f"Saleor-Signature is malformed: {exc}") from exc
    if not isinstance(header, dict):
        raise WebhookSignatureInvalid("JWS protected header is not an object")
    return parts[0].encode("ascii"), header, signature


def jws_signing_input(protected_segment: bytes, header: Mapping[str, Any], body: bytes) -> bytes:
    """RFC 7515 §5.1 signing input, with RFC 7797's unencoded payload when ``b64`` is false."""
    critical = header.get("crit") or []
    if not isinstance(critical, list) or any(name != "b64" for name in critical):
        raise WebhookSignatureInvalid(f"unsupported critical JWS header parameters {critical!r}")
    if header.get("b64", True) is False:
        return protected_segment + b"." + body
    return protected_segment + b"." + base64.urlsafe_b64encode(body).rstrip(b"=")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
