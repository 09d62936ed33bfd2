"""Writes of the adoption path: a storefront's sync mode, and the shelf's evidence per SKU.

An owner that has never looked is a gap, not a zero. A storefront joins in observe mode
(read and compared, never written) until a manager takes it live; a SKU's shelf number is
believed (pushed, and used to correct a storefront) only once the shelf has evidence for it:
a count, a count that found none, or the first receipt of a SKU new to both sides.
"""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from inventory.exceptions import InvalidMovement
from inventory.models import (
    Discrepancy,
    OutboxEntry,
    ShelfEvidence,
    Sku,
    StockMovement,
    SyncModeChange,
    System,
)
from inventory.selectors.adoption import storefronts_hold_none
from inventory.services.outbox import push_schedule


@transaction.atomic
def storefront_mode_set(
    *, storefront: System, mode: str, reason: str, actor: AbstractBaseUser | None
) -> SyncModeChange | None:
    """Switch a storefront between observe and live; audited with who, when and why.

    Going live this way sends nothing by itself: the next push and reconciliation correct
    the known SKUs, through the circuit breaker. The go-live preview
    (``storefront_go_live``) is the way that shows the corrections first. Returns None when
    the storefront is already in that mode.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMovement("Every change of a storefront's sync mode needs a reason.")
    if mode not in System.SyncMode.values:
        raise InvalidMovement(f"Unknown sync mode {mode!r}: observe or live.")
    locked = System.objects.select_for_update().get(pk=storefront.pk)
    if locked.kind != System.Kind.STOREFRONT:
        raise InvalidMovement(f"{locked.name} is not a storefront; only storefronts sync.")
    if locked.sync_mode == mode:
        return None
    change = SyncModeChange.objects.create(
        system=locked, before=locked.sync_mode, after=mode, changed_by=actor, reason=reason
    )
    locked.sync_mode = mode
    locked.save(update_fields=["sync_mode"])
    storefront.sync_mode = mode
    if mode == System.SyncMode.LIVE:
        push_schedule()
    return change


storefront_mode_set.alters_data = True


@transaction.atomic
def shelf_evidence_record(
    *,
    skus: Iterable[Sku | int],
    kind: str,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    announce: bool = True,
) -> list[int]:
    """The shelf has looked at these SKUs: each becomes known (its first evidence is kept,
    except that a count replaces a first receipt's assumption).

    A newly known SKU gets an outbox row (unless the caller's movement wrote one:
    ``announce=False``), so its number, now believed, reaches the live storefronts through
    the ordinary push. Returns the ids of the SKUs newly known.
    """
    if kind not in ShelfEvidence.Kind.values:
        raise InvalidMovement(f"Unknown kind of shelf evidence {kind!r}.")
    ids = sorted({s.pk if isinstance(s, Sku) else int(s) for s in skus})
    if not ids:
        return []
    known = dict(ShelfEvidence.objects.filter(sku_id__in=ids).values_list("sku_id", "kind"))
    if kind != ShelfEvidence.Kind.FIRST_RECEIPT:
        # A count confirms what a first receipt only assumed: the evidence becomes the count.
        assumed = [pk for pk, k in known.items() if k == ShelfEvidence.Kind.FIRST_RECEIPT]
        ShelfEvidence.objects.filter(sku_id__in=assumed).update(
            kind=kind, reference=reference[:200], recorded_by=actor, recorded_at=timezone.now()
        )
    new = [pk for pk in ids if pk not in known]
    if not new:
        return []
    ShelfEvidence.objects.bulk_create(
        [
            ShelfEvidence(sku_id=pk, kind=kind, reference=reference[:200], recorded_by=actor)
            for pk in new
        ],
        ignore_conflicts=True,
    )
    # The request to count them is answered: each "not yet counted" row is resolved by it.
    Discrepancy.objects.open().filter(kind=Discrepancy.Kind.NOT_YET_COUNTED, sku_id__in=new).update(
        status=Discrepancy.Status.RESOLVED,
        resolution=Discrepancy.Resolution.COUNT,
        resolved_at=timezone.now(),
        resolved_by=actor,
        resolution_reference=reference[:200],
        resolution_note=f"The shelf's number is known now ({ShelfEvidence.Kind(kind).label}).",
    )
    if announce:
        OutboxEntry.objects.bulk_create([OutboxEntry(sku_id=pk) for pk in new])
        push_schedule()
    return new


shelf_evidence_record.alters_data = True


def first_receipt_note(*, move: StockMovement) -> None:
    """A receipt of a SKU new to both sides is the whole truth: no bin ever held it, and no
    storefront holds any, so the units received are all there are. Any other receipt (or a
    return) into a SKU never counted proves nothing about units in bins not counted yet.

    Called by the write path for a receipt that took a bin from zero (the only way a SKU's
    first units arrive), so it costs nothing on the plain path.
    """
    sku = move.sku
    if ShelfEvidence.objects.filter(sku=sku).exists():
        return
    if StockMovement.objects.filter(sku=sku).exclude(pk=move.pk).exists():
        return
    if not storefronts_hold_none(sku=sku):
        return
    shelf_evidence_record(
        skus=[sku],
        kind=ShelfEvidence.Kind.FIRST_RECEIPT,
        reference=move.reference or move.note,
        announce=False,  # the receipt's own outbox row pushes it
    )
