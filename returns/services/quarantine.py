"""Quarantine and mismatches (managers)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from inventory.exceptions import InvalidMovement
from inventory.models import Discrepancy, StockMovement
from inventory.services import (
    discrepancy_resolve,
    on_hand_adjust,
)
from returns.exceptions import (
    ReturnsError,
)
from returns.models import (
    QuarantineItem,
)
from returns.services.receiving import _bin_for_code


@transaction.atomic
def quarantine_write_off(
    *, item: QuarantineItem, reason: str, actor: AbstractBaseUser | None
) -> QuarantineItem:
    """Damaged units that will not be sold again: written off with a reason. On-hand never
    held them, so nothing moves; the damage discrepancy is resolved by this decision."""
    reason = (reason or "").strip()
    if not reason:
        raise ReturnsError(_("Say why it is written off."), field="reason")
    item = (
        QuarantineItem.objects.select_for_update(of=("self",))
        .select_related("unit__discrepancy")
        .get(pk=item.pk)
    )
    if item.status != QuarantineItem.Status.HELD:
        return item  # decided already: a double submission
    item.status = QuarantineItem.Status.WRITTEN_OFF
    item.reason = reason[:2000]
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.save(update_fields=["status", "reason", "resolved_at", "resolved_by"])
    _resolve_unit_discrepancy(item=item, actor=actor, note=f"Written off: {reason}")
    return item


quarantine_write_off.alters_data = True


@transaction.atomic
def quarantine_restock(
    *, item: QuarantineItem, bin_code: str, actor: AbstractBaseUser | None, note: str = ""
) -> QuarantineItem:
    """Repaired units go onto the shelf: a return_restock movement into the named bin."""
    found_bin = _bin_for_code(bin_code)
    item = (
        QuarantineItem.objects.select_for_update(of=("self",))
        .select_related("unit__discrepancy", "sku", "rma")
        .get(pk=item.pk)
    )
    if item.status != QuarantineItem.Status.HELD:
        return item  # decided already: a double submission
    if item.sku is None:
        raise ReturnsError(
            _("%(sku)s is not in the catalog, so it cannot go on the shelf.")
            % {"sku": item.sku_code},
            field="bin",
        )
    note = (note or "").strip()
    try:
        move = on_hand_adjust(
            bin=found_bin,
            sku=item.sku,
            delta=item.quantity,
            kind=StockMovement.Kind.RETURN_RESTOCK,
            source_system=inventory_selectors.shelf_system(),
            source_event_id=f"return-quarantine:{item.pk}",
            reference=item.rma.number[:100],
            actor=actor,
            note=f"repaired after return {item.rma.number}{': ' + note if note else ''}"[:255],
        )
    except InvalidMovement as refused:
        raise ReturnsError(str(refused), field="bin") from None
    item.status = QuarantineItem.Status.RESTOCKED
    item.bin = found_bin
    item.movement = move
    item.reason = note[:2000]
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.save(update_fields=["status", "bin", "movement", "reason", "resolved_at", "resolved_by"])
    _resolve_unit_discrepancy(
        item=item, actor=actor, note=f"Repaired and restocked into {found_bin.code}."
    )
    return item


quarantine_restock.alters_data = True


def _resolve_unit_discrepancy(
    *, item: QuarantineItem, actor: AbstractBaseUser | None, note: str
) -> None:
    if item.unit.discrepancy_id:
        discrepancy_resolve(
            discrepancy=item.unit.discrepancy,
            resolution=Discrepancy.Resolution.DECISION,
            actor=actor,
            note=note,
            reference=f"quarantine {item.pk}",
        )


@transaction.atomic
def return_mismatch_resolve(
    *, discrepancy: Discrepancy, note: str, actor: AbstractBaseUser | None
) -> Discrepancy:
    """A manager closes a return mismatch (missing, wrong item, late) with a reason."""
    if discrepancy.kind != Discrepancy.Kind.RETURN_MISMATCH:
        raise ReturnsError(_("Only return mismatches are resolved here."), field="note")
    if not (note or "").strip():
        raise ReturnsError(_("Say what was decided."), field="note")
    held = QuarantineItem.objects.filter(
        unit__discrepancy=discrepancy, status=QuarantineItem.Status.HELD
    ).exists()
    if held:
        raise ReturnsError(
            _("These units are in quarantine: write them off or restock them there."), field="note"
        )
    return discrepancy_resolve(
        discrepancy=discrepancy,
        resolution=Discrepancy.Resolution.DECISION,
        actor=actor,
        note=note.strip(),
        reference="returns overview",
    )


return_mismatch_resolve.alters_data = True
