"""Reads of the kept sales history (``services.sales_history``): is it still the ledger's?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from inventory.models import Sku
from replenishment.models import SalesHistoryState, SalesWindow
from replenishment.selectors.coverage import (
    CoverageWindow,
    _tail_skus,
    coverage_window,
    window_figures,
)


@dataclass(frozen=True)
class HistoryDrift:
    sku_code: str
    kept: tuple[int, int]
    ledger: tuple[int, int]

    def line(self) -> str:
        return (
            f"SALES HISTORY sku {self.sku_code}: kept {self.kept[0]} shipped on "
            f"{self.kept[1]} in-stock days, the ledger says {self.ledger[0]} on "
            f"{self.ledger[1]}: run rebuild_sales_history."
        )


def kept_window(*, using: str = "default") -> CoverageWindow | None:
    """The window the kept history is of (None before the first build)."""
    state = SalesHistoryState.objects.using(using).filter(pk=1).first()
    if state is None or state.first_day is None:
        return None
    tz = timezone.get_current_timezone()
    end = datetime.combine(state.first_day + timedelta(days=state.days), time.min, tzinfo=tz)
    return coverage_window(now=end, days=state.days)


def sales_history_drift(*, using: str = "default") -> list[HistoryDrift]:
    """Every SKU whose kept figures differ from the same figures recomputed from the raw
    ledger, for the window kept. The SKUs the unfolded tail touched are left out: reads
    recompute those from the ledger until the next fold."""
    window = kept_window(using=using)
    if window is None:
        return []
    with transaction.atomic(using=using):
        tail = _tail_skus(window=window, using=using, sku_ids=None, limit=None) or []
        ledger = {
            sku_id: (shipped, days)
            for sku_id, shipped, days in window_figures(window=window, using=using)
        }
        kept = {
            row[0]: (row[1], row[2])
            for row in SalesWindow.objects.using(using).values_list(
                "sku_id", "shipped", "sellable_days"
            )
        }
    skip = set(tail)
    wrong = sorted(
        sku_id
        for sku_id in ledger.keys() | kept.keys()
        if sku_id not in skip and kept.get(sku_id, (0, 0)) != ledger.get(sku_id, (0, 0))
    )
    codes = dict(Sku.objects.using(using).filter(id__in=wrong).values_list("id", "code"))
    return [
        HistoryDrift(
            sku_code=codes.get(sku_id, str(sku_id)),
            kept=kept.get(sku_id, (0, 0)),
            ledger=ledger.get(sku_id, (0, 0)),
        )
        for sku_id in wrong
    ]


def ledger_check_lines(*, using: str = "default") -> list[str]:
    """``verify_ledger``'s check of the kept history: one line per SKU that drifted."""
    return [drift.line() for drift in sales_history_drift(using=using)]
