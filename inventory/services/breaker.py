"""The circuit breaker of a live storefront: no run zeroes a storefront without a manager.

Before a reconciliation or a push sends corrections, they are measured against what the
storefront holds. A run that would set more than ``ONEFACT_BREAKER_ZERO_SKUS`` SKUs to zero
(or 5 % of the catalog, if that is more), or lower the storefront's units by more than
``ONEFACT_BREAKER_DROP_PERCENT``, sends nothing (a run that changes a single SKU is never
held, as a single movement's push is not): its corrections are held as one batch, the
storefront's sync pauses, and a manager releases or cancels it (``services.corrections``).
While a batch is held, every further correction joins it.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.models import CorrectionBatch, Sku, SyncState, System

# (SKU id, code, the shelf's value to send, what the storefront holds or was last told)
Write = tuple[int, str, int, int | None]


@dataclass(frozen=True)
class Measure:
    """What a batch of writes would do to a storefront."""

    raised: int = 0
    lowered: int = 0
    zeroed: int = 0
    units_up: int = 0
    units_down: int = 0

    @classmethod
    def of(cls, writes: Iterable[Write]) -> "Measure":
        raised = lowered = zeroed = up = down = 0
        for _, _, value, expected in writes:
            before = expected or 0
            if value > before:
                raised, up = raised + 1, up + value - before
            elif value < before:
                lowered, down = lowered + 1, down + before - value
                zeroed += value == 0
        return cls(raised, lowered, zeroed, up, down)

    def as_fields(self) -> dict:
        return {
            "skus_raised": self.raised,
            "skus_lowered": self.lowered,
            "skus_zeroed": self.zeroed,
            "units_up": self.units_up,
            "units_down": self.units_down,
        }


@dataclass(frozen=True)
class Trip:
    """Why the breaker held a run, and the figures behind it."""

    reason: str
    measure: Measure
    storefront_skus: int
    storefront_units: int


def _percent(part: float, whole: float) -> str:
    return f"{round(100 * part / whole)} %" if whole else "all"


@dataclass(frozen=True)
class Breaker:
    storefront: System
    storefront_skus: int
    zero_limit: int
    drop_percent: float

    @classmethod
    def for_storefront(cls, storefront: System) -> "Breaker":
        """The limits for this storefront: its SKUs are the catalog it mirrors."""
        skus = Sku.objects.filter(active=True).count()
        zero_limit = max(settings.ONEFACT_BREAKER_ZERO_SKUS, math.ceil(skus * 0.05))
        return cls(storefront, skus, zero_limit, settings.ONEFACT_BREAKER_DROP_PERCENT)

    def told_units(self) -> int:
        """The storefront's units as we last told or saw them (a push has no fresh read)."""
        return SyncState.objects.filter(storefront=self.storefront).aggregate(
            t=Coalesce(Sum("pushed_value"), 0)
        )["t"]

    def check(self, writes: list[Write], storefront_units: int | None = None) -> Trip | None:
        """None when the writes may go; else the trip, with its sentence."""
        return self.check_measure(Measure.of(writes), storefront_units)

    def check_measure(self, measure: Measure, storefront_units: int | None = None) -> Trip | None:
        """``check`` of writes already measured; ``storefront_units`` is what it holds (read
        now), else what we last told it."""
        if measure.raised + measure.lowered < 2:
            return None  # one SKU's correction, like one movement, is never held
        net_drop = measure.units_down - measure.units_up
        zeroes = measure.zeroed > self.zero_limit
        if not zeroes and net_drop <= 0:
            return None
        units = self.told_units() if storefront_units is None else storefront_units
        drop = net_drop > 0 and (units <= 0 or 100 * net_drop > self.drop_percent * units)
        if not zeroes and not drop:
            return None
        parts = []
        if zeroes:
            parts.append(
                f"zero {measure.zeroed} SKUs ({_percent(measure.zeroed, self.storefront_skus)})"
            )
        if drop:
            parts.append(
                f"lower its units from {units} to {units - net_drop} (−{_percent(net_drop, units)})"
            )
        reason = (
            f"Corrections to {self.storefront.name} paused: this run would "
            f"{' and '.join(parts)}. Review, then release or cancel."
        )
        return Trip(reason, measure, self.storefront_skus, units)


def _merged(batch: CorrectionBatch, writes: list[Write]) -> list[list]:
    """The held writes with these added; a SKU's newer write replaces its older one."""
    by_sku = {w[0]: list(w) for w in batch.writes}
    for w in writes:
        by_sku[w[0]] = list(w)
    return list(by_sku.values())


@transaction.atomic
def batch_hold(
    *,
    storefront: System,
    origin: str,
    writes: list[Write],
    trip: Trip | None,
) -> CorrectionBatch:
    """Hold these corrections for a manager: a new held batch (the breaker tripped), or the
    one already held (sync is paused, so nothing is sent meanwhile) with these joined."""
    batch = (
        CorrectionBatch.objects.select_for_update()
        .filter(storefront=storefront, status=CorrectionBatch.Status.HELD)
        .first()
    )
    if batch is None:
        try:
            with transaction.atomic():
                return CorrectionBatch.objects.create(
                    storefront=storefront,
                    origin=origin,
                    status=CorrectionBatch.Status.HELD,
                    reason=(trip.reason if trip else "Held.")[:500],
                    writes=[list(w) for w in writes],
                    storefront_skus=trip.storefront_skus if trip else 0,
                    storefront_units=trip.storefront_units if trip else 0,
                    **Measure.of(writes).as_fields(),
                )
        except IntegrityError:  # a concurrent run held one first: join it
            batch = CorrectionBatch.objects.select_for_update().get(
                storefront=storefront, status=CorrectionBatch.Status.HELD
            )
    batch.writes = _merged(batch, writes)
    for name, value in Measure.of(batch.writes).as_fields().items():
        setattr(batch, name, value)
    batch.save()
    return batch


batch_hold.alters_data = True


def batch_close(
    *, batch: CorrectionBatch, status: str, note: str, actor, result: dict | None = None
) -> None:
    """End a batch (sent, cancelled or superseded) with who, when and why."""
    batch.status = status
    batch.decision_note = note
    batch.decided_by = actor
    batch.decided_at = timezone.now()
    batch.result = result or {}
    batch.save(update_fields=["status", "decision_note", "decided_by", "decided_at", "result"])
