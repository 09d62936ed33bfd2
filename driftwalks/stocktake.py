"""The opening stock-take: count tasks for every SKU a storefront sells that the shelf has
not counted yet, so that the shelf earns the right to be believed before going live.

The SKUs are the storefront's not-yet-counted ones (its open ``not_yet_counted``
discrepancies that say it holds some) and the SKUs not yet known that hold stock in bins on
record. Each gets one task per bin that has a balance row for it (where it is expected), or
a find-it task where no bin is known. Set-based, a chunk of SKUs at a time, for the job's
progress bar; opening it again opens no duplicate (the partial unique constraints), and
attaches each discrepancy to its tasks once.

This module is the stock-take's service; it lives beside ``services.py`` (already past the
size at which STYLE.md splits a module) and writes only through its helpers.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from driftwalks.models import CountTask, TaskTrigger
from driftwalks.services import TRIGGER_RULES
from driftwalks.services.opening import _place_unplaced
from inventory import selectors as inventory_selectors
from inventory.models import Discrepancy, ShelfEvidence, System

CAUSE = CountTask.Cause.OPENING
CHUNK = 500


@dataclass
class StockTakeReport:
    skus: int = 0  # SKUs to count
    bin_tasks: int = 0  # tasks opened in a bin where the SKU is expected
    find_tasks: int = 0  # find-it tasks opened (no bin known)
    already_open: int = 0  # wanted tasks that were already open

    def as_dict(self) -> dict:
        return {
            "SKUs to count": self.skus,
            "count tasks opened in bins": self.bin_tasks,
            "find-it tasks opened (no bin known)": self.find_tasks,
            "already open": self.already_open,
        }


def _not_known():
    return ~Exists(ShelfEvidence.objects.filter(sku=OuterRef("sku")))


def stock_take_skus(*, storefront: System) -> dict[int, tuple[Discrepancy | None, str]]:
    """Each SKU to count: the storefront's open "not yet counted" row (or None) and why."""
    wanted: dict[int, tuple[Discrepancy | None, str]] = {}
    for d in (
        Discrepancy.objects.open()
        .filter(kind=Discrepancy.Kind.NOT_YET_COUNTED, consumer=storefront, consumer_value__gt=0)
        .filter(_not_known())
        .select_related("sku")
        .order_by("sku__code", "pk")
    ):
        wanted.setdefault(d.sku_id, (d, f"{storefront.name} says {d.consumer_value}; the "
                                         f"shelf has not counted {d.sku.code} yet."))  # fmt: skip
    held = (
        inventory_selectors.on_hand_held_of_active_skus()
        .filter(_not_known())
        .values_list("sku_id", "sku__code")
        .distinct()
    )
    for sku_id, code in held:
        wanted.setdefault(
            sku_id, (None, f"Bins hold {code} on record; the shelf has not counted it yet.")
        )
    return wanted


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _open_chunk(
    *,
    chunk: list[int],
    wanted: dict[int, tuple[Discrepancy | None, str]],
    storefront: System,
    actor: AbstractBaseUser | None,
    report: StockTakeReport,
) -> None:
    priority, due_days = TRIGGER_RULES[CAUSE]
    due_on = timezone.localdate() + timedelta(days=due_days)
    expected: dict[int, list[int]] = {}
    for sku_id, bin_id in inventory_selectors.active_bins_of_skus(sku_ids=chunk):
        expected.setdefault(sku_id, []).append(bin_id)
    wanted_keys = {(b, s) for s in chunk for b in expected.get(s, [None])}
    active = Q(status__in=CountTask.ACTIVE, sku_id__in=chunk)
    now = timezone.now()  # marks the tasks this run opens (a concurrent run's conflict not)

    def reason(sku_id: int) -> str:
        return f"Opening stock-take of {storefront.name}: {wanted[sku_id][1]}"[:500]

    CountTask.objects.bulk_create(
        [
            CountTask(
                bin_id=bin_id,
                sku_id=sku_id,
                cause=CAUSE,
                priority=priority,
                due_on=due_on,
                reason=reason(sku_id),
                created_at=now,
            )  # fmt: skip
            for bin_id, sku_id in sorted(wanted_keys, key=lambda k: (k[1], k[0] or 0))
        ],
        ignore_conflicts=True,  # one unfinished task per bin+SKU, one find-it per SKU
    )
    tasks = [t for t in CountTask.objects.filter(active) if (t.bin_id, t.sku_id) in wanted_keys]
    new = [t for t in tasks if t.created_at == now and t.cause == CAUSE]
    report.bin_tasks += sum(t.bin_id is not None for t in new)
    report.find_tasks += sum(t.bin_id is None for t in new)
    report.already_open += len(tasks) - len(new)
    # A new task records why it was opened; an open one gets the discrepancy (once).
    TaskTrigger.objects.bulk_create(
        [
            TaskTrigger(
                task=t,
                cause=CAUSE,
                reason=reason(t.sku_id),
                discrepancy=wanted[t.sku_id][0],
                created_by=actor,
            )  # fmt: skip
            for t in tasks
            if t in new or wanted[t.sku_id][0] is not None
        ],
        ignore_conflicts=True,
    )
    _place_unplaced(new)


def opening_stock_take_open(
    *,
    storefront: System,
    actor: AbstractBaseUser | None,
    progress: Callable[[int, int], None] | None = None,
) -> StockTakeReport:
    """Open the opening stock-take's tasks (see the module), one transaction per chunk of
    SKUs; ``progress(done, total)`` hears after each chunk."""
    wanted = stock_take_skus(storefront=storefront)
    ids = sorted(wanted)
    report = StockTakeReport(skus=len(ids))
    chunks = list(_chunks(ids, CHUNK))
    if progress:
        progress(0, len(chunks))
    for n, chunk in enumerate(chunks, start=1):
        with transaction.atomic():
            _open_chunk(chunk=chunk, wanted=wanted, storefront=storefront, actor=actor,
                        report=report)  # fmt: skip
        if progress:
            progress(n, len(chunks))
    return report


opening_stock_take_open.alters_data = True
