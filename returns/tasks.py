"""Celery tasks of returns intake: thin, idempotent (acks late), arguments are ids."""

from celery import shared_task

from returns.models import ReturnAuthorisation
from returns.services import return_outcomes_send, return_outcomes_send_due, returns_flag_late

RETRY_MAX_SECONDS = 300  # well below the broker's visibility timeout


@shared_task(bind=True, acks_late=True, max_retries=8)
def send_return_outcomes_task(self, return_id: int | None = None) -> dict | list[dict]:
    """Tell the storefront the outcome per returned line.

    With a return id (enqueued after a box is confirmed): that return, retried with backoff
    on a transient error while a worker runs it. Without (beat, every minute): every return
    whose outcomes are due, so nothing waits for a lost message or a broker that was down.
    """
    if return_id is None:
        return return_outcomes_send_due()
    rma = ReturnAuthorisation.objects.filter(pk=return_id).first()
    if rma is None:
        return {"rma": None}
    report = return_outcomes_send(rma=rma)
    if report.retry_in is not None and not self.request.is_eager:
        # In-process (the embedded default) a retry would run at once; the beat catches up.
        raise self.retry(countdown=min(report.retry_in, RETRY_MAX_SECONDS))
    return report.as_dict()


@shared_task(acks_late=True)
def flag_late_returns_task() -> int:
    """Beat: flag returns whose expected units are overdue (once each)."""
    return returns_flag_late()
