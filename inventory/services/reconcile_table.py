"""The compare table: a storefront's levels loaded beside the shelf's numbers, diffed in SQL,
and the gaps read back in chunks (used by reconcile)."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from inventory.models import (
    Commitment,
    OnHand,
    OutboxEntry,
    ShelfEvidence,
    Sku,
    SyncState,
    System,
)
from inventory.storefront.base import (
    Level,
)

# This connection's temporary tables (PostgreSQL's pg_temp, SQLite's temp schema).
LEVELS, MARKS = "onefact_reconcile_levels", "onefact_reconcile_marks"

# Gaps are recorded, counted and corrected this many at a time.
CHUNK = 1000


DIFF = "onefact_reconcile_diff"


@dataclass(frozen=True)
class ReadMark:
    """Taken just before a page is read: the newest outbox version, and the clock."""

    version: int
    at: datetime


def read_mark() -> ReadMark:
    """The newest version: in the outbox, or acknowledged by a storefront (a push prunes
    the outbox rows every storefront has acknowledged, so the outbox alone can be empty)."""
    q = connection.ops.quote_name
    outbox, states = q(OutboxEntry._meta.db_table), q(SyncState._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {outbox}), (SELECT MAX(pushed_version) FROM {states})"
        )
        versions = cursor.fetchone()
    return ReadMark(max(v or 0 for v in versions), timezone.now())


def _temp(name: str) -> str:
    return f"{'pg_temp' if connection.vendor == 'postgresql' else 'temp'}.{name}"


@contextmanager
def _levels_table() -> Iterator[None]:
    """The storefront's numbers as read, and the marks of their pages, for this connection
    only; dropped afterwards."""
    _drop_tables()  # a run killed before its cleanup left them in this session
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {_temp(LEVELS)} (code varchar(255) NOT NULL, "
            "quantity bigint NOT NULL, mark integer NOT NULL)"
        )
        cursor.execute(
            f"CREATE TEMP TABLE {_temp(MARKS)} (mark integer PRIMARY KEY, "
            f"version bigint NOT NULL, read_at {connection.data_types['DateTimeField']} NOT NULL)"
        )
    try:
        yield
    finally:
        with suppress(DatabaseError):  # a broken transaction: the next run drops them first
            _drop_tables()


def _drop_tables() -> None:
    with connection.cursor() as cursor:
        for name in (DIFF, MARKS, LEVELS):
            cursor.execute(f"DROP TABLE IF EXISTS {_temp(name)}")


# COPY's text format: a backslash, tab, newline or carriage return in a code is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escapes_needed(text: str, rows: int) -> bool:
    """Whether a code in these COPY lines holds a character the text format escapes."""
    return (
        text.count("\t") != 2 * rows or text.count("\n") != rows or any(c in text for c in "\\\r")
    )


class _Loader:
    """Appends pages to the levels table, about ``FLUSH_ROWS`` rows a statement: one COPY
    on PostgreSQL, one executemany else. Holds at most that many rows in memory.

    Each row carries the number of the mark taken before its page was read. A mark less
    than ``MARK_FOR`` old is used again: an older mark only makes the in-flight test
    stricter (more SKUs count as changed or pushed since).
    """

    FLUSH_ROWS = 10_000
    MARK_FOR = timedelta(seconds=1)

    def __init__(self) -> None:
        self.rows = 0
        self._copy = connection.vendor == "postgresql"
        self._mark: ReadMark | None = None
        self._number = 0
        self._marks: list[tuple] = []  # not yet written
        self._levels: list = []  # not yet written: text (COPY) or rows
        self._count = 0

    def before_read(self, mark: ReadMark | None = None) -> None:
        """Take the mark of the page about to be read (or note ``mark``, taken earlier)."""
        if mark is None:
            if self._mark is not None and timezone.now() - self._mark.at < self.MARK_FOR:
                return
            mark = read_mark()
        self._mark, self._number = mark, self._number + 1
        at = connection.ops.adapt_datetimefield_value(mark.at)
        self._marks.append((self._number, mark.version, at))

    def add(self, levels: list[Level]) -> None:
        """Stage one page: its rows become COPY text (or parameter tuples) at once, so
        the page's ``Level`` objects are let go when the caller drops the page."""
        if self._copy:
            tail = f"\t{self._number}\n"
            text = "".join([f"{sku}\t{int(quantity)}{tail}" for sku, quantity in levels])
            if _escapes_needed(text, len(levels)):
                text = "".join(
                    [f"{sku.translate(_COPY_ESCAPES)}\t{int(quantity)}{tail}"
                     for sku, quantity in levels]
                )  # fmt: skip
            self._levels.append(text)
        else:
            self._levels += [(sku, quantity, self._number) for sku, quantity in levels]
        self._count += len(levels)
        self.rows += len(levels)
        if self._count >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        with connection.cursor() as cursor:
            if self._marks:
                cursor.executemany(
                    f"INSERT INTO {_temp(MARKS)} (mark, version, read_at) VALUES (%s, %s, %s)",
                    self._marks,
                )
            if self._count and self._copy:
                sql = f"COPY {_temp(LEVELS)} (code, quantity, mark) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for text in self._levels:
                        copy.write(text)
            elif self._count:
                cursor.executemany(
                    f"INSERT INTO {_temp(LEVELS)} (code, quantity, mark) VALUES (%s, %s, %s)",
                    self._levels,
                )
        self._marks, self._levels, self._count = [], [], 0


def _diff(storefront: System, mirrors_available: bool, *, few: bool, live: bool) -> dict[str, int]:
    """Compare the whole levels table with the shelf in one query; keep what needs a look.

    Hash joins and aggregates over the shelf's tables, or (``few``: a range of the catalog)
    aggregates of only the SKUs loaded. Returns how many rows were SKUs not in the catalog
    (``unknown``), SKUs the shelf has not counted yet that disagree (``uncounted``), in
    flight, and gaps. An observed storefront is never pushed to, so only a change after its
    page was read is in flight there.
    """
    t = {
        model: connection.ops.quote_name(model._meta.db_table)
        for model in (Sku, OnHand, Commitment, OutboxEntry, SyncState, ShelfEvidence)
    }
    levels = _temp(LEVELS)
    loaded = (
        f"sku_id IN (SELECT s.id FROM {t[Sku]} s JOIN {levels} f ON f.code = s.code)"
        if few
        else "TRUE"
    )
    params: list = []
    shelf = "COALESCE(oh.q, 0)"
    committed = ""
    if mirrors_available:
        shelf = "COALESCE(oh.q, 0) - COALESCE(cm.q, 0)"
        committed = (
            f"LEFT JOIN (SELECT sku_id, SUM(quantity) AS q FROM {t[Commitment]} "
            f"WHERE status = %s AND {loaded} GROUP BY sku_id) cm ON cm.sku_id = s.id"
        )
        params.append(Commitment.Status.OPEN)
    # Not yet acknowledged; or changed after its page was read: a newer outbox row, a push of
    # a newer version (its outbox row may be pruned already), or a push after the read.
    in_flight = (
        "ob.v > COALESCE(ss.pushed_version, 0) OR ob.v > m.version "
        "OR ss.pushed_version > m.version OR ss.pushed_at > m.read_at"
        if live
        else "ob.v > m.version OR ss.pushed_at > m.read_at"
    )
    ours = f"CASE WHEN {shelf} > 0 THEN {shelf} ELSE 0 END"
    # Known only by a first receipt that took no storefront to hold any, and never told: a
    # storefront that says it holds some proves the assumption wrong. Not yet counted.
    assumed = "ev.kind = 'first_receipt' AND ss.pushed_value IS NULL AND f.quantity > 0"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A temporary table has no statistics else: the planner guesses a tenth of a
            # whole catalog's rows, and sorts the join on disk instead of hashing it.
            cursor.execute(f"ANALYZE {levels}")
        cursor.execute(
            f"CREATE TEMP TABLE {_temp(DIFF)} (n bigint PRIMARY KEY, code varchar(255), "
            "sku_id bigint, theirs bigint, ours bigint, state varchar(10))"
        )
        cursor.execute(
            f"""
            INSERT INTO {_temp(DIFF)} (n, code, sku_id, theirs, ours, state)
            SELECT ROW_NUMBER() OVER (ORDER BY f.code), f.code, s.id, f.quantity, {ours},
                   CASE WHEN s.id IS NULL THEN 'unknown'
                        WHEN ev.sku_id IS NULL OR ({assumed}) THEN 'uncounted'
                        WHEN {in_flight} THEN 'in_flight'
                        ELSE 'gap' END
            FROM {levels} f
            JOIN {_temp(MARKS)} m ON m.mark = f.mark
            LEFT JOIN {t[Sku]} s ON s.code = f.code
            LEFT JOIN (SELECT sku_id, SUM(quantity) AS q FROM {t[OnHand]}
                       WHERE {loaded} GROUP BY sku_id) oh ON oh.sku_id = s.id
            LEFT JOIN (SELECT sku_id, MAX(id) AS v FROM {t[OutboxEntry]}
                       WHERE {loaded} GROUP BY sku_id) ob ON ob.sku_id = s.id
            LEFT JOIN {t[SyncState]} ss ON ss.sku_id = s.id AND ss.storefront_id = %s
            LEFT JOIN {t[ShelfEvidence]} ev ON ev.sku_id = s.id
            {committed}
            WHERE s.id IS NULL OR f.quantity <> {ours}
               OR (ev.sku_id IS NOT NULL AND NOT ({assumed}) AND ({in_flight}))
            """,
            [storefront.pk, *params],
        )
        cursor.execute(f"SELECT state, COUNT(*) FROM {_temp(DIFF)} GROUP BY state")
        return dict(cursor.fetchall())


def _gap_chunks(state: str = "gap") -> Iterator[list[tuple[dict, int, int]]]:
    """The gaps found (or the SKUs not yet counted), ``CHUNK`` at a time: (shelf row, shelf
    value, storefront value)."""
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT n, code, sku_id, ours, theirs FROM {_temp(DIFF)} "
                "WHERE state = %s AND n > %s ORDER BY n LIMIT %s",
                [state, after, CHUNK],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield [
            ({"n": n, "pk": pk, "code": code}, ours, theirs) for n, code, pk, ours, theirs in rows
        ]


def _levels_total() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(SUM(quantity), 0) FROM {_temp(LEVELS)}")
        return int(cursor.fetchone()[0])
