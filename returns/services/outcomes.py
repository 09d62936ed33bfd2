"""Outcomes back to the storefront."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.models import System
from inventory.services import (
    outbox_record,
)
from inventory.storefront import adapter_for
from inventory.storefront.base import (
    RateLimited,
    ReturnDisposition,
    StorefrontError,
)
from returns.exceptions import (
    ReturnsError,
)
from returns.models import (
    ReturnAuthorisation,
    ReturnOutcome,
)
from returns.services.common import Disposition
from returns.services.receiving import _enqueue_outcomes

log = logging.getLogger(__name__)


@dataclass
class SendReport:
    rma: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    error: str = ""
    skus_pushed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _dispositions(*, rma: ReturnAuthorisation) -> list[ReturnDisposition]:
    """Totals per (line, disposition) over every confirmed box of the return."""
    rows = (
        ReturnOutcome.objects.filter(rma=rma)
        .values("line__line_ref", "line__sku_code", "disposition")
        .annotate(total=Sum("quantity"))
        .order_by("line__line_ref", "disposition")
    )
    return [
        ReturnDisposition(
            line_ref=row["line__line_ref"],
            sku=row["line__sku_code"],
            quantity=row["total"],
            disposition=row["disposition"],
        )
        for row in rows
    ]


def _backoff(attempts: int) -> float:
    return float(min(settings.ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX, 30 * 2 ** max(0, attempts - 1)))


@transaction.atomic
def return_outcomes_send(*, rma: ReturnAuthorisation, now: datetime | None = None) -> SendReport:
    """Send the return's outcome per line to its storefront; record what happened.

    Rows due are locked (skipped when another worker holds them). The report carries the
    totals of every box, so a repeat is harmless. A transient error is retried with backoff,
    up to a limit; any other error (the storefront takes no dispositions, does not know the
    return) is kept as not sent, with its reason, never dropped.
    """
    now = now or timezone.now()
    report = SendReport(rma=rma.number)
    due = list(
        ReturnOutcome.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(rma=rma, status=ReturnOutcome.Status.PENDING, next_attempt_at__lte=now)
        .select_related("line__sku")
        .order_by("pk")
    )
    if not due:
        return report
    rma = ReturnAuthorisation.objects.select_related("storefront").get(pk=rma.pk)
    if rma.storefront is not None and rma.storefront.sync_mode != System.SyncMode.LIVE:
        # An observed storefront is never written to: the outcomes wait, pending, for it to
        # go live (the sweep takes them then).
        report.error = f"{rma.storefront.name} is observed: outcomes wait until it goes live"
        return report
    adapter = None
    try:
        if rma.storefront is None:
            raise ValueError("this return has no storefront to tell")
        adapter = adapter_for(rma.storefront)
        adapter.report_return_dispositions(
            return_ref=rma.return_ref, order_ref=rma.order_ref, dispositions=_dispositions(rma=rma)
        )
    except (StorefrontError, ValueError) as error:
        _outcomes_failed(due=due, error=error, now=now, report=report)
        return report
    finally:
        if close := getattr(adapter, "close", None):
            close()  # an HTTP client the adapter opened for this send
    ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
        status=ReturnOutcome.Status.SENT,
        sent_at=now,
        last_error="",
        attempts=F("attempts") + 1,
    )
    report.sent = len(due)
    if adapter.restocked_disposition_adds_stock:
        # The storefront added restocked units to its own number; the shelf counted them
        # already. Push the shelf's number again: compare-and-set puts the storefront back.
        restocked = {
            o.line.sku.pk: o.line.sku
            for o in due
            if o.disposition == Disposition.RESTOCKED and o.line.sku_id
        }
        for sku in sorted(restocked.values(), key=lambda s: s.pk):
            outbox_record(sku=sku)
        report.skus_pushed = sorted(s.code for s in restocked.values())
    return report


return_outcomes_send.alters_data = True


def _outcomes_failed(
    *, due: list[ReturnOutcome], error: Exception, now: datetime, report: SendReport
) -> None:
    text = f"{type(error).__name__}: {error}"[:500]
    attempts = max(o.attempts for o in due) + 1
    retryable = isinstance(error, StorefrontError) and error.retryable
    if retryable and attempts < settings.ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS:
        asked = error.retry_after if isinstance(error, RateLimited) else 0.0
        wait = max(_backoff(attempts), asked)
        ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
            attempts=F("attempts") + 1,
            last_error=text,
            next_attempt_at=now + timedelta(seconds=wait),
        )
        report.retry_in = wait
    else:
        ReturnOutcome.objects.filter(pk__in=[o.pk for o in due]).update(
            attempts=F("attempts") + 1, last_error=text, status=ReturnOutcome.Status.FAILED
        )
        report.failed = len(due)
    report.error = text
    log.warning("Outcomes of return %s not sent: %s", report.rma, text)


def return_outcomes_send_due(*, now: datetime | None = None, limit: int = 200) -> list[dict]:
    """The beat's catch-up: every return with outcomes due (new, or waiting out a backoff)."""
    now = now or timezone.now()
    ids = list(
        ReturnOutcome.objects.filter(status=ReturnOutcome.Status.PENDING, next_attempt_at__lte=now)
        .exclude(rma__storefront__sync_mode=System.SyncMode.OBSERVE)
        .values_list("rma_id", flat=True)
        .distinct()
        .order_by("rma_id")[:limit]
    )
    return [
        return_outcomes_send(rma=rma, now=now).as_dict()
        for rma in ReturnAuthorisation.objects.filter(pk__in=ids).order_by("pk")
    ]


@transaction.atomic
def return_outcomes_retry(*, rma: ReturnAuthorisation) -> int:
    """A manager asks to send outcomes that were not sent again (e.g. after fixing a storefront
    setting). Returns how many rows wait to be sent."""
    if rma.storefront_id is None:
        raise ReturnsError(_("This return has no storefront to tell."))
    changed = ReturnOutcome.objects.filter(rma=rma, status=ReturnOutcome.Status.FAILED).update(
        status=ReturnOutcome.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if changed:
        transaction.on_commit(partial(_enqueue_outcomes, rma.pk), robust=True)
    return changed


return_outcomes_retry.alters_data = True
