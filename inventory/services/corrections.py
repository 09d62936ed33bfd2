"""A manager's decisions on corrections that wait: going live on a preview, releasing or
cancelling a batch the circuit breaker held.

Sending goes through the push path (compare-and-set, a stale answer recorded and the shelf's
number sent again, sync states and the sync log written, the discrepancies settled), with
each SKU's current number: a held batch is sent as held, or with the fresh number where the
shelf changed since.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inventory import selectors
from inventory.exceptions import InvalidMovement
from inventory.models import CorrectionBatch, Discrepancy, Fact, OutboxEntry, SyncLog, System
from inventory.services.adoption import storefront_mode_set
from inventory.services.breaker import batch_close
from inventory.services.discrepancies import discrepancies_create
from inventory.services.outbox import push_schedule
from inventory.services.push import (
    PushReport,
    _deliver,
    _lock,
    _record_error,
    _Row,
    _rows,
)
from inventory.storefront import adapter_for

Status = CorrectionBatch.Status


def _batch_rows(storefront: System, adapter, writes: list[list]) -> list[_Row]:
    """The batch's SKUs as push rows: their current value (the shelf may have moved since
    the batch was made), their newest version, and what the storefront held then."""
    expected = {sku_id: held for sku_id, _, _, held in writes}
    versions = dict(
        OutboxEntry.objects.filter(sku_id__in=list(expected))
        .values("sku_id")
        .annotate(v=Max("id"))
        .values_list("sku_id", "v")
    )
    now = timezone.now()
    pending = [
        {"sku": sku_id, "version": versions.get(sku_id, 0), "first_at": now} for sku_id in expected
    ]
    rows = _rows(storefront, adapter, pending)
    for row in rows:
        row.expected = expected[row.sku_id]
    return rows


def _gaps_for(storefront: System, owner: System | None, rows: list[_Row]) -> None:
    """Every correction leaves a discrepancy row: a SKU of the batch with no open gap of this
    storefront gets one now (the push settles it with the correction)."""
    have = set(
        Discrepancy.objects.open()
        .filter(
            kind=Discrepancy.Kind.STOREFRONT_GAP,
            consumer=storefront,
            sku_id__in=[r.sku_id for r in rows],
        )
        .values_list("sku_id", flat=True)
    )
    owner_name = owner.name if owner else "nobody"
    discrepancies_create(
        [
            Discrepancy(
                kind=Discrepancy.Kind.STOREFRONT_GAP,
                fact=Fact.ON_HAND,
                sku_id=r.sku_id,
                owner=owner,
                consumer=storefront,
                owner_value=r.value,
                consumer_value=r.expected,
                winner=owner,
                detail=(
                    f"{storefront.name} says {r.expected}, shelf says {r.value}; "
                    f"{owner_name} owns on-hand and wins (go-live correction)."
                )[:500],
            )
            for r in rows
            if r.sku_id not in have and r.value != r.expected
        ]
    )


def correction_batch_release(
    *, batch: CorrectionBatch, actor: AbstractBaseUser | None, note: str
) -> PushReport:
    """Send a held batch once, and resume the storefront's sync.

    The batch is locked and sent under the storefront's push lock, so a second release (a
    double click, two managers) finds it sent and sends nothing. A storefront error leaves
    it held (recorded on the SKUs' sync state) and is raised.
    """
    note = (note or "").strip()
    if not note:
        raise InvalidMovement("Say why the batch may go: releasing needs a reason.")
    storefront = batch.storefront
    adapter = adapter_for(storefront)
    owner = selectors.owner_of(fact=Fact.ON_HAND)
    report = PushReport(storefront=storefront.name)
    rows: list[_Row] = []
    with transaction.atomic():
        _lock(storefront)
        locked = CorrectionBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != Status.HELD:
            raise InvalidMovement(f"This batch is {locked.get_status_display().lower()} already.")
        rows = _batch_rows(storefront, adapter, locked.writes)
        _gaps_for(storefront, owner, rows)
        failure = (
            _deliver(storefront, adapter, owner, rows, report, "correction", SyncLog.Kind.BATCH)
            if rows
            else None
        )
        if failure is None:
            batch_close(batch=locked, status=Status.SENT, note=note, actor=actor,
                        result=report.summary())  # fmt: skip
            batch.status = locked.status
    if failure is not None:
        _record_error(storefront, rows, failure)
        raise failure
    push_schedule()  # whatever waited while the sync was paused
    return report


correction_batch_release.alters_data = True


@transaction.atomic
def correction_batch_cancel(
    *, batch: CorrectionBatch, actor: AbstractBaseUser | None, note: str
) -> CorrectionBatch:
    """Send nothing of a held batch. The storefront goes back to observe mode (audited), so
    whatever made the run look wrong cannot write to it until a manager takes it live again
    on a fresh preview; its gaps stay open, recorded."""
    note = (note or "").strip()
    if not note:
        raise InvalidMovement("Say why the batch is cancelled.")
    locked = CorrectionBatch.objects.select_for_update().get(pk=batch.pk)
    if locked.status != Status.HELD:
        raise InvalidMovement(f"This batch is {locked.get_status_display().lower()} already.")
    batch_close(batch=locked, status=Status.CANCELLED, note=note, actor=actor)
    storefront_mode_set(
        storefront=locked.storefront,
        mode=System.SyncMode.OBSERVE,
        reason=f"Held corrections cancelled: {note}",
        actor=actor,
    )
    return locked


correction_batch_cancel.alters_data = True


def storefront_go_live(
    *, storefront: System, preview: CorrectionBatch, actor: AbstractBaseUser | None, reason: str
) -> PushReport:
    """Take an observed storefront live on the preview the manager saw.

    The storefront becomes live (audited with the reason), the preview becomes the held
    batch, and it is released at once: its corrections go out as one batch through the push
    path, each with its discrepancy row. If the storefront cannot be reached the batch stays
    held (the sync paused) for a manager to release again.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMovement("Going live needs a reason.")
    with transaction.atomic():
        locked = CorrectionBatch.objects.select_for_update().get(pk=preview.pk)
        if locked.status != Status.PREVIEW or locked.storefront_id != storefront.pk:
            raise InvalidMovement(
                "This preview is no longer current: make a new one and check it again."
            )
        if storefront.sync_mode == System.SyncMode.LIVE:
            raise InvalidMovement(f"{storefront.name} is live already.")
        storefront_mode_set(storefront=storefront, mode=System.SyncMode.LIVE,
                            reason=f"Go live: {reason}", actor=actor)  # fmt: skip
        locked.status = Status.HELD
        locked.reason = (
            f"Go-live corrections confirmed{f' by {actor}' if actor else ''}: "
            f"{len(locked.writes)} SKUs, sending."
        )[:500]
        locked.save(update_fields=["status", "reason"])
    return correction_batch_release(batch=locked, actor=actor, note=f"Go live: {reason}")


storefront_go_live.alters_data = True
