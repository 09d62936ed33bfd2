"""Staging a storefront's levels for reconciliation: pages stream into the compare table one
at a time and are let go, and COPY (PostgreSQL) stages exactly what the row-by-row fallback
does."""

import weakref

import pytest
from django.db import connection

from inventory.models import ShelfEvidence, StockMovement
from inventory.services import on_hand_adjust
from inventory.services import reconcile as reconcile_module
from inventory.services.reconcile import storefront_reconcile
from inventory.services.reconcile_table import DIFF, LEVELS, _diff, _levels_table, _Loader, _temp
from inventory.storefront import adapter_for
from inventory.storefront.base import Level, Page
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind


class _Items(list):
    """A page's items, watched by a weak reference."""


class _StreamingStorefront:
    """The real adapter, except that its levels come from a generator a page at a time, and
    each read first checks that the page handed out before has been let go."""

    def __init__(self, adapter, levels: list[Level], size: int) -> None:
        self.adapter, self.pages = adapter, -(-len(levels) // size)
        self._pages = (levels[i : i + size] for i in range(0, len(levels), size))
        self.previous, self.reads = None, 0

    def __getattr__(self, name):
        return getattr(self.adapter, name)

    def read_levels(self, skus, cursor=None):
        assert self.previous is None or self.previous() is None, "the last page is still held"
        items = _Items(next(self._pages))
        self.previous, self.reads = weakref.ref(items), self.reads + 1
        return Page(items, str(self.reads) if self.reads < self.pages else None)


def _shelf(shelf, codes: list[str], quantity: int = 5) -> None:
    bin = BinFactory(code="A-14")
    for code in codes:
        on_hand_adjust(bin=bin, sku=SkuFactory(code=code), delta=quantity, kind=Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"r-{code}")  # fmt: skip


def test_pages_stream_into_the_table_one_at_a_time_and_none_is_kept(storefront, shelf, monkeypatch):
    codes = [f"ST-{i:03}" for i in range(20)]
    _shelf(shelf, codes)
    # 5 disagree; received but never told to a storefront, they are not yet counted.
    levels = [Level(code, 5 if i % 4 else 6) for i, code in enumerate(codes)]
    adapter = _StreamingStorefront(adapter_for(storefront), levels, size=3)
    monkeypatch.setattr(reconcile_module, "adapter_for", lambda system: adapter)
    monkeypatch.setattr(_Loader, "FLUSH_ROWS", 4)
    held = []
    flush = _Loader.flush

    def flush_and_note(loader):
        held.append(loader._count)
        flush(loader)

    monkeypatch.setattr(_Loader, "flush", flush_and_note)
    report = storefront_reconcile(storefront=storefront)
    assert adapter.reads == report.pages == 7
    assert (report.skus_compared, report.unknown_skus) == (20, 0)
    assert (report.not_yet_counted, report.gaps) == (5, 0)
    # Staged a few rows at a time: never more than a flush's worth plus one page.
    assert sum(held) == 20 and max(held) <= 4 - 1 + 3


def _staged(storefront, levels: list[Level], *, copy: bool) -> tuple[dict, list, list]:
    """Stage ``levels`` by COPY or row by row, diff them: the states, the levels table and
    the compare's rows."""
    with _levels_table():
        loader = _Loader()
        loader._copy = copy
        loader.before_read()
        loader.add(levels[: len(levels) // 2])
        loader.before_read()
        loader.add(levels[len(levels) // 2 :])
        loader.flush()
        states = _diff(storefront, False, few=False, live=False)  # never pushed: observed
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT code, quantity FROM {_temp(LEVELS)} ORDER BY code")
            staged = cursor.fetchall()
            cursor.execute(
                f"SELECT n, code, sku_id, theirs, ours, state FROM {_temp(DIFF)} ORDER BY n"
            )
            rows = cursor.fetchall()
    return states, staged, rows


def test_copy_and_the_row_by_row_fallback_stage_and_find_the_same(postgres, storefront, shelf):
    odd = ["TAB\tCODE", "BACK\\SLASH", "NEW\nLINE", "CR\rHERE", "\\N", "QUOTE'S", "ÜMLAUT"]
    plain = [f"CP-{i:03}" for i in range(12)]
    _shelf(shelf, odd + plain)
    ShelfEvidence.objects.update(kind=ShelfEvidence.Kind.COUNT)  # counted: a difference is a gap
    SkuFactory(code="NEVER-COUNTED")  # known, never counted: not yet counted, not a gap
    levels = [Level(code, 5) for code in odd[:3]] + [Level(code, 7) for code in odd[3:]]
    levels += [Level(code, 5 if i % 3 else 9) for i, code in enumerate(plain)]
    levels += [Level("NOT-OURS", 4), Level("NEVER-COUNTED", 2)]
    by_copy = _staged(storefront, levels, copy=True)
    by_rows = _staged(storefront, levels, copy=False)
    assert by_copy == by_rows
    states, staged, rows = by_copy
    assert staged == sorted((level.sku, level.quantity) for level in levels)
    assert states == {"gap": 8, "unknown": 1, "uncounted": 1}
    assert [(code, theirs, ours, state) for _, code, _, theirs, ours, state in rows] == [
        ("CP-000", 9, 5, "gap"), ("CP-003", 9, 5, "gap"), ("CP-006", 9, 5, "gap"),
        ("CP-009", 9, 5, "gap"), ("CR\rHERE", 7, 5, "gap"), ("NEVER-COUNTED", 2, 0, "uncounted"),
        ("NOT-OURS", 4, 0, "unknown"), ("QUOTE'S", 7, 5, "gap"), ("\\N", 7, 5, "gap"),
        ("ÜMLAUT", 7, 5, "gap"),
    ]  # fmt: skip


@pytest.mark.parametrize("copy", [True, False])
def test_a_page_is_staged_whatever_its_codes_hold(storefront, db, copy):
    """Either path, on either database (COPY only on PostgreSQL)."""
    if copy and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    codes = ["A\tB", "C\\D", "E\nF", "G\rH", "\\N", "plain"]
    _, staged, _ = _staged(storefront, [Level(code, n) for n, code in enumerate(codes)],
                           copy=copy)  # fmt: skip
    assert staged == sorted((code, n) for n, code in enumerate(codes))
