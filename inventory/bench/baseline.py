"""What the benchmark's figures are compared with: the machine's calibration, the raw
write a movement is, and the server's ceiling for a commit that updates and inserts.

- ``calibrate``: a fixed pure-Python loop (seconds) and one connection's autocommit commit
  rate on the configured server, taken at the top of every run, so figures of two days
  can be compared by their ratio to it.
- ``RawMovements``: a movement's exact effect (the conditional balance update, the
  idempotency check, the ledger row, the outbox row) as one prepared statement in
  autocommit, sent by psycopg with no Django in between: the tightest equivalent of the
  service's write, which ``write_path`` compares it with.
- ``ceiling_tps``: pgbench's kind of ceiling, the simplest update + insert in one statement
  (no checks), on 1 or more connections: the real ``pgbench`` when it is on PATH, psycopg
  threads otherwise.

Everything here talks to the database given by a Django ``settings_dict`` (the section's
throwaway database), never to the configured one.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

from inventory.models import OnHand, OutboxEntry, StockMovement

T_ONHAND, T_MOVE = OnHand._meta.db_table, StockMovement._meta.db_table
T_OUTBOX = OutboxEntry._meta.db_table

# About half a second of one core on the machine the README's figures come from.
PYTHON_LOOP_ITERATIONS = 4_000_000
COMMIT_SECONDS = 1.5


def connect(settings_dict: dict):
    """A plain connection to the database of ``settings_dict`` in autocommit: psycopg on
    PostgreSQL, the sqlite3 module on SQLite (no transaction unless one is begun)."""
    if "sqlite" in settings_dict["ENGINE"]:
        return sqlite3.connect(settings_dict["NAME"], isolation_level=None, timeout=30)
    import psycopg

    return psycopg.connect(**_libpq(settings_dict), autocommit=True)


def _libpq(s: dict) -> dict:
    params = {
        "dbname": s["NAME"],
        "user": s["USER"] or None,
        "password": s["PASSWORD"] or None,
        "host": s["HOST"] or None,
        "port": s["PORT"] or None,
        # The server settings Django's connections get (jit=off): the same on both sides.
        "options": (s.get("OPTIONS") or {}).get("options"),
    }
    return {k: v for k, v in params.items() if v is not None}


def _vendor(settings_dict: dict) -> str:
    return "sqlite" if "sqlite" in settings_dict["ENGINE"] else "postgresql"


def python_loop_seconds(iterations: int = PYTHON_LOOP_ITERATIONS) -> float:
    """Seconds for a fixed, deterministic pure-Python loop (integer arithmetic only)."""
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total = (total * 31 + i) % 1_000_003
    elapsed = time.perf_counter() - started
    assert total >= 0
    return elapsed


def commits_per_s(settings_dict: dict, seconds: float = COMMIT_SECONDS) -> float:
    """One connection's rate of autocommit single-row INSERTs into a table of its own."""
    conn = connect(settings_dict)
    try:
        conn.execute("CREATE TABLE bench_calibration (id integer PRIMARY KEY, n integer)")
        insert = "INSERT INTO bench_calibration (id, n) VALUES (%s, 1)"
        if _vendor(settings_dict) == "sqlite":
            insert = insert.replace("%s", "?")
        kwargs = {} if _vendor(settings_dict) == "sqlite" else {"prepare": True}
        n, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            n += 1
            conn.execute(insert, (n,), **kwargs)
        conn.execute("DROP TABLE bench_calibration")
    finally:
        conn.close()
    return n / elapsed


def calibrate(settings_dict: dict) -> dict:
    """The calibration line of a run (printed first, ``calibration`` in the JSON)."""
    return {
        "python_loop_s": round(python_loop_seconds(), 3),
        "commits_per_s": round(commits_per_s(settings_dict)),
        "database": _vendor(settings_dict),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


# The service's one statement (``inventory.services.stock``), written out by hand: the same
# conditional update (never below zero, nothing when the event id was already applied), the
# same ledger row and outbox row, each written only if the update happened.
RAW_MOVEMENT = f"""
WITH upd AS (
    UPDATE {T_ONHAND} SET quantity = quantity + %(delta)s, updated_at = now()
    WHERE bin_id = %(bin)s AND sku_id = %(sku)s AND quantity + %(delta)s >= 0
      AND NOT EXISTS (
          SELECT 1 FROM {T_MOVE} WHERE source_system_id = %(src)s
             AND source_event_id = %(event)s AND leg = 0)
    RETURNING quantity
), mv AS (
    INSERT INTO {T_MOVE} (kind, bin_id, sku_id, quantity, balance_after, source_system_id,
                          source_event_id, leg, reference, actor_id, note, created_at)
    SELECT %(kind)s, %(bin)s, %(sku)s, %(delta)s, upd.quantity, %(src)s, %(event)s, 0,
           '', NULL, '', now() FROM upd
    RETURNING id, balance_after, created_at
), ob AS (
    INSERT INTO {T_OUTBOX} (sku_id, created_at) SELECT %(sku)s, now() FROM upd RETURNING id
)
SELECT mv.id, mv.balance_after, mv.created_at FROM mv, ob
"""

# SQLite has no writes in a WITH: the same effect in one transaction of three statements.
_SQLITE_MOVEMENT = (
    f"UPDATE {T_ONHAND} SET quantity = quantity + :delta, updated_at = CURRENT_TIMESTAMP "
    f"WHERE bin_id = :bin AND sku_id = :sku AND quantity + :delta >= 0 AND NOT EXISTS ("
    f"SELECT 1 FROM {T_MOVE} WHERE source_system_id = :src AND source_event_id = :event "
    f"AND leg = 0) RETURNING quantity",
    f"INSERT INTO {T_MOVE} (kind, bin_id, sku_id, quantity, balance_after, source_system_id, "
    f"source_event_id, leg, reference, actor_id, note, created_at) VALUES (:kind, :bin, :sku, "
    f":delta, :balance, :src, :event, 0, '', NULL, '', CURRENT_TIMESTAMP)",
    f"INSERT INTO {T_OUTBOX} (sku_id, created_at) VALUES (:sku, CURRENT_TIMESTAMP)",
)


class RawMovements:
    """One connection writing movements as raw SQL: ``apply`` takes (bin id, SKU id) pairs
    and returns the seconds they took. A movement that writes nothing raises: the baseline
    must do the same work as the service, not less."""

    def __init__(self, settings_dict: dict, *, source_system_id: int, kind: str = "receive"):
        self.vendor = _vendor(settings_dict)
        self.conn = connect(settings_dict)
        self.src, self.kind = source_system_id, kind

    @property
    def description(self) -> str:
        if self.vendor == "sqlite":
            return "the same effect by hand: sqlite3, one transaction of three statements"
        return "the service's one statement by hand: psycopg, prepared, autocommit"

    def apply(self, moves: Sequence[tuple[int, int]], *, tag: str, delta: int = 1) -> float:
        params = {"delta": delta, "src": self.src, "kind": self.kind}
        run = self._sqlite if self.vendor == "sqlite" else self._postgresql
        started = time.perf_counter()
        for n, (bin_id, sku_id) in enumerate(moves):
            run(params | {"bin": bin_id, "sku": sku_id, "event": f"{tag}-{n}"})
        return time.perf_counter() - started

    def _postgresql(self, params: dict) -> None:
        cursor = self.conn.execute(RAW_MOVEMENT, params, prepare=True)
        if cursor.fetchone() is None:
            raise RuntimeError(f"the raw movement wrote nothing: {params}")

    def _sqlite(self, params: dict) -> None:
        update, move, outbox = _SQLITE_MOVEMENT
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(update, params).fetchone()
            if row is None:
                raise RuntimeError(f"the raw movement wrote nothing: {params}")
            self.conn.execute(move, params | {"balance": row[0]})
            self.conn.execute(outbox, params)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RawMovements:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


CEILING_TABLES = """
CREATE TABLE bench_ceiling_balance (id integer PRIMARY KEY, quantity integer NOT NULL);
INSERT INTO bench_ceiling_balance SELECT g, 0 FROM generate_series(1, {rows}) g;
CREATE TABLE bench_ceiling_history (balance_id integer, delta integer, at timestamptz);
VACUUM ANALYZE bench_ceiling_balance;
"""
# pgbench's kind of transaction cut to one statement: update a balance, append a history row.
CEILING_STATEMENT = (
    "WITH u AS (UPDATE bench_ceiling_balance SET quantity = quantity + 1 WHERE id = {id} "
    "RETURNING id) INSERT INTO bench_ceiling_history (balance_id, delta, at) "
    "SELECT id, 1, now() FROM u"
)


def ceiling_tps(
    settings_dict: dict, *, clients: int, per_client: int, rows: int = 100_000
) -> tuple[float, str]:
    """Transactions per second of the one-statement update + insert on ``clients``
    connections, ``per_client`` transactions each, random rows among ``rows``; and the tool
    that measured it (``pgbench`` or ``psycopg``). PostgreSQL only."""
    conn = connect(settings_dict)
    try:
        conn.execute("DROP TABLE IF EXISTS bench_ceiling_balance, bench_ceiling_history")
        for statement in CEILING_TABLES.format(rows=rows).strip().split(";\n"):
            conn.execute(statement.rstrip(";"))
    finally:
        conn.close()
    if shutil.which("pgbench"):
        return _pgbench(settings_dict, clients=clients, per_client=per_client, rows=rows), "pgbench"
    return _psycopg_ceiling(settings_dict, clients=clients, per_client=per_client, rows=rows), (
        "psycopg"
    )


def _pgbench(settings_dict: dict, *, clients: int, per_client: int, rows: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(f"\\set id random(1, {rows})\n" + CEILING_STATEMENT.format(id=":id") + ";\n")
        script.flush()
        env = os.environ | {
            {"dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD",
             "host": "PGHOST", "port": "PGPORT", "options": "PGOPTIONS"}[k]: str(v)
            for k, v in _libpq(settings_dict).items()
        }  # fmt: skip
        out = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-f", script.name, "-c", str(clients),
             "-j", str(clients), "-t", str(per_client)],
            env=env, capture_output=True, text=True, check=True, timeout=600,
        ).stdout  # fmt: skip
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if not found:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(found.group(1))


def _psycopg_ceiling(settings_dict: dict, *, clients: int, per_client: int, rows: int) -> float:
    import random

    statement = CEILING_STATEMENT.format(id="%s")
    conns = [connect(settings_dict) for _ in range(clients)]

    def client(conn, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(per_client):
            conn.execute(statement, (rng.randint(1, rows),), prepare=True)

    try:
        wall, errors = in_threads([lambda c=c, n=n: client(c, n) for n, c in enumerate(conns)])
    finally:
        for conn in conns:
            conn.close()
    if errors:
        raise errors[0]
    return clients * per_client / wall


def in_threads(
    works: Sequence[Callable[[], object]],
    *,
    prepare: Callable[[], object] = lambda: None,
    finish: Callable[[], object] = lambda: None,
) -> tuple[float, list[Exception]]:
    """Run each work in a thread of its own, all released together after each thread's
    ``prepare`` (opening a connection is not timed): the wall seconds from the release to
    the last one done, and the errors raised. ``finish`` runs last in every thread."""
    errors: list[Exception] = []
    ready = threading.Barrier(len(works) + 1)
    done = threading.Barrier(len(works) + 1)

    def run(work) -> None:
        try:
            try:
                prepare()
            finally:
                ready.wait()
            work()
        except Exception as error:  # noqa: BLE001 - reported as errors
            errors.append(error)
        finally:
            done.wait()
            finish()

    threads = [threading.Thread(target=run, args=(w,)) for w in works]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    done.wait()
    wall = time.perf_counter() - started
    for t in threads:
        t.join()
    return wall, errors
