"""The one interface every storefront adapter implements.

The shelf owns on-hand; a storefront mirrors it. Adapters translate between OneFact's
plain types below and one storefront's API. They never touch the database: the services
in ``inventory`` decide what to send and record what came back.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Mirrors(enum.StrEnum):
    """Which number the storefront keeps, and so which number we send it."""

    # It tracks its own commitments (Shopify, Saleor): it is sent the shelf's on-hand.
    ON_HAND = "on_hand"
    # It keeps one number decremented at order time: sent on-hand minus open commitments.
    AVAILABLE = "available"


@dataclass(frozen=True)
class Capabilities:
    compare_and_set: bool  # the storefront itself refuses a write whose expected value is stale
    idempotency_keys: bool  # the storefront deduplicates a mutation by a key we send
    max_batch: int  # the most quantities one set_levels call may carry
    mirrors: Mirrors
    # Reconciled in one read of the whole location rather than in SKU ranges (a bulk export
    # of everything is cheaper than ranges that each export everything).
    whole_reads: bool = False


class Level(NamedTuple):
    """One SKU's number as the storefront holds it. A named tuple, not a dataclass: a
    reconciliation reads a million of them, and a tuple costs half as much to make."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    title: str
    active: bool


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None  # None: this was the last page


@dataclass(frozen=True)
class LevelWrite:
    """Set the storefront's number for one SKU."""

    sku: str
    quantity: int  # the absolute value to hold from now on
    expected: int | None  # what we believe it holds now (compare-and-set); None: don't compare
    idempotency_key: str
    reason: str  # e.g. "correction", "movement"
    ledger_ref: str  # our reference, e.g. "onefact://movement/123"


class WriteStatus(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # the storefront held another value than expected; nothing written
    NOT_FOUND = "not_found"  # the storefront does not know the SKU
    REJECTED = "rejected"  # the storefront refused the value (validation)


@dataclass(frozen=True)
class WriteResult:
    sku: str
    status: WriteStatus
    actual: int | None = None  # for STALE: what the storefront holds
    message: str = ""


class EventType(enum.StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_FULFILLED = "order_fulfilled"
    RETURN_OPENED = "return_opened"
    REFUND_ISSUED = "refund_issued"
    CATALOG_CHANGED = "catalog_changed"
    # The storefront reports its own on-hand (a manual edit there, a refund with restock):
    # a write by a system that does not own on-hand, refused and corrected by the next push.
    INVENTORY_CHANGED = "inventory_changed"


@dataclass(frozen=True)
class EventLine:
    sku: str
    quantity: int
    line_ref: str = ""
    reason: str = ""  # return reason, restock type, …


@dataclass(frozen=True)
class InboundEvent:
    event_id: str  # unique per storefront; replays carry the same id
    type: EventType
    occurred_at: datetime | None
    order_ref: str = ""  # order id/name the event belongs to
    return_ref: str = ""
    customer_name: str = ""
    lines: list[EventLine] = field(default_factory=list)
    # INVENTORY_CHANGED: the quantity the storefront claims; CATALOG_CHANGED: items.
    quantity: int | None = None
    catalog: list[CatalogItem] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)  # the raw JSON, kept for audit


class Disposition(enum.StrEnum):
    """What became of a returned unit, in the words storefronts such as Shopify use."""

    RESTOCKED = "restocked"  # arrived sellable and is back on the shelf
    PROCESSING_REQUIRED = "processing_required"  # arrived damaged: held, repaired or written off
    NOT_RESTOCKED = "not_restocked"  # arrived and will not be sold again
    MISSING = "missing"  # expected, never arrived


@dataclass(frozen=True)
class ReturnDisposition:
    """How many units of one returned line ended in one disposition.

    ``quantity`` is the line's total for that disposition so far, not an increment: a report
    repeats everything known and replaces what was reported before, so sending it again (a
    retry, a replay) changes nothing.
    """

    line_ref: str  # the storefront's id of the returned order line
    sku: str
    quantity: int
    disposition: Disposition

    def __post_init__(self) -> None:
        if not isinstance(self.quantity, int) or isinstance(self.quantity, bool):
            raise ValueError(f"a disposition quantity is a whole number, not {self.quantity!r}")
        if self.quantity < 0:
            raise ValueError(f"a disposition quantity is never negative, got {self.quantity}")
        object.__setattr__(self, "disposition", Disposition(self.disposition))


@dataclass(frozen=True)
class MissingAccess:
    """A permission the storefront's token lacks, and what OneFact could not do without it."""

    name: str  # the storefront's own word for it: a Shopify scope, a Saleor permission
    consequence: str  # e.g. "OneFact could not correct stock"


@dataclass(frozen=True)
class AccessReport:
    """What the token may do, read from the storefront's API (not guessed from a failed call)."""

    granted: list[str]
    missing: list[MissingAccess]


@dataclass(frozen=True)
class WebhookRegistration:
    """What ``register_webhooks`` did: topics created now, and topics found subscribed already."""

    created: list[str]
    existing: list[str]


class StorefrontError(Exception):
    """Base of every adapter error. ``retryable`` says whether a task should try again."""

    retryable = False


class StorefrontUnavailable(StorefrontError):
    """Timeouts, connection errors, 5xx: transient, retried with backoff."""

    retryable = True


class RateLimited(StorefrontError):
    """The storefront asked us to wait ``retry_after`` seconds; retried after that."""

    retryable = True

    def __init__(self, message: str = "", *, retry_after: float) -> None:
        super().__init__(message or f"rate limited; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class AuthenticationFailed(StorefrontError):
    """Bad or revoked credentials: recorded and surfaced, not retried."""


class MappingError(StorefrontError):
    """A SKU or location OneFact cannot map to the storefront's ids: surfaced, not retried."""


class StorefrontValidationError(StorefrontError):
    """The storefront refused the request as invalid: surfaced, not retried."""


class WebhookSignatureInvalid(StorefrontError):
    """The inbound webhook is unsigned, badly signed, or too old: answered 401."""


class WebhookSecretMissing(WebhookSignatureInvalid):
    """No webhook secret is configured for the storefront (unset, empty or only whitespace):
    no delivery can be verified, so every one is refused (answered 401)."""

    code = "webhook_secret_missing"


class WebhookTimestampInvalid(WebhookSignatureInvalid):
    """The delivery's timestamp is missing, unreadable, too old or too far in the future.

    ``code`` says which: ``timestamp_missing``, ``too_old`` or ``from_the_future``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class EventFieldInvalid(StorefrontError):
    """A signed delivery carries a value its column cannot hold (too long, out of range, a
    control character): the whole delivery is refused (answered 400) and nothing is stored.
    ``field`` names it, e.g. ``lines[0].quantity``."""

    code = "field_invalid"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class WebhookRegistrationNotSupported(StorefrontError):
    """The storefront has no API to subscribe OneFact to its events: nothing to register."""


class DispositionsNotSupported(StorefrontError):
    """The storefront has no way to take per-line return outcomes: recorded, not retried."""


class StorefrontAdapter(abc.ABC):
    """One storefront. Subclasses set ``capabilities`` and implement every method."""

    capabilities: Capabilities
    # Deliveries are signed with a shared secret that OneFact must be given (Shopify, the demo);
    # False when the storefront signs with a key published by the storefront (Saleor's JWKS).
    webhook_secret_required: bool = False

    @abc.abstractmethod
    def read_levels(self, skus: Sequence[str] | None, cursor: str | None = None) -> Page[Level]:
        """One page of the storefront's quantities (for ``skus``, or all when None)."""

    @abc.abstractmethod
    def set_levels(self, writes: Sequence[LevelWrite]) -> list[WriteResult]:
        """Write at most ``capabilities.max_batch`` quantities; one result per write."""

    @abc.abstractmethod
    def read_catalog(self, cursor: str | None = None) -> Page[CatalogItem]:
        """One page of the storefront's catalog (SKU code, title, active)."""

    @abc.abstractmethod
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise ``WebhookSignatureInvalid`` unless ``body`` is signed by the storefront."""

    @abc.abstractmethod
    def parse_events(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Our events from one verified webhook delivery (may be none: an ignored topic)."""

    # How old (seconds) a delivery may be when it reaches us: the storefront's own redelivery
    # window, since a retry carries the first attempt's timestamp and refusing it would lose
    # the event. ONEFACT_WEBHOOK_MAX_AGE_SECONDS, when set, replaces it for every storefront.
    webhook_max_age: int = 300

    def webhook_sent_at(self, body: bytes, headers: Mapping[str, str]) -> datetime:
        """When the storefront issued this delivery (aware), from the stamp it always sends.

        Raise ``WebhookTimestampInvalid`` when the stamp is absent or unreadable. Called only
        after ``verify_webhook`` accepted the delivery. The default refuses every delivery: an
        adapter whose storefront sends webhooks says where its stamp is.
        """
        raise WebhookTimestampInvalid(
            f"{type(self).__name__} reads no delivery timestamp, so its deliveries are refused",
            code="timestamp_missing",
        )

    def check_access(self) -> AccessReport:
        """The permissions the token holds, and those the adapter needs but lacks.

        The default: a storefront without tokens (the demo) lacks nothing.
        """
        return AccessReport(granted=[], missing=[])

    def register_webhooks(self, *, url: str) -> WebhookRegistration:
        """Subscribe ``url`` to every event ``parse_events`` reads, through the storefront's API.

        Idempotent: events already subscribed to ``url`` are reported in ``existing`` and not
        created again. The default: this storefront has no such API.
        """
        raise WebhookRegistrationNotSupported(
            f"{type(self).__name__} has no API to subscribe to its events"
        )

    def read_return_lines(self, return_ref: str) -> list[EventLine]:
        """The lines of return ``return_ref``, read from the storefront, for a RETURN_OPENED
        event that lists none (Shopify's return webhooks may carry only a count).

        The default: this storefront's return events carry their lines, so there is none to read.
        """
        return []

    # Whether a RESTOCKED disposition makes the storefront add the units to its own number (Shopify
    # does). The shelf counted them already, so the caller pushes the shelf's number again after.
    restocked_disposition_adds_stock: bool = False

    def report_return_dispositions(
        self, *, return_ref: str, order_ref: str, dispositions: list[ReturnDisposition]
    ) -> None:
        """Tell the storefront what became of each returned line, so it can decide the refund.

        Quantities are totals per (line, disposition), see ``ReturnDisposition``: an adapter
        applies only what the storefront does not hold yet, so a repeated report is harmless.
        The default: this storefront takes no dispositions.
        """
        raise DispositionsNotSupported(
            f"{type(self).__name__} does not take return dispositions; the outcome of return "
            f"{return_ref} stays recorded in OneFact only"
        )


def webhook_secret_usable(secret: str | bytes) -> bool:
    """Whether ``secret`` can key a signature: an empty or whitespace-only one never does (an
    HMAC under an empty key is one anybody can compute)."""
    return bool(secret) and bool(secret.strip())


def webhook_timestamp(value: Any, *, source: str) -> datetime:
    """The aware time in the ISO 8601 stamp ``value`` (UTC when it names no zone); a missing
    or unreadable stamp refuses the delivery. ``source`` names it in the message."""
    if not value or not isinstance(value, str):
        raise WebhookTimestampInvalid(
            f"the delivery has no {source}; it is always sent, so the delivery is refused",
            code="timestamp_missing",
        )
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WebhookTimestampInvalid(
            f"{source} {value[:40]!r} is not an ISO 8601 time", code="timestamp_unreadable"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def webhook_check_age(
    sent_at: datetime, *, now: datetime, max_age: float, max_ahead: float
) -> None:
    """Refuse a delivery issued more than ``max_age`` seconds before ``now``, or more than
    ``max_ahead`` seconds after it (clocks differ a little, never by minutes)."""
    age = (now - sent_at).total_seconds()
    if age > max_age:
        raise WebhookTimestampInvalid(
            f"the delivery was issued at {sent_at.isoformat()}, {age:.0f} s ago; deliveries "
            f"older than {max_age:.0f} s are refused (an old delivery or a replay)",
            code="too_old",
        )
    if -age > max_ahead:
        raise WebhookTimestampInvalid(
            f"the delivery claims to be issued at {sent_at.isoformat()}, {-age:.0f} s from now; "
            f"more than {max_ahead:.0f} s ahead of our clock is refused",
            code="from_the_future",
        )


class HttpClientLifecycle:
    """For adapters that talk HTTP through ``self._client`` (an ``httpx.Client``): close it
    if the adapter created it (``self._owns_client``), and work as a context manager."""

    _client: Any
    _owns_client: bool

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
