"""The benchmark's machinery (``python manage.py benchmark``): time OneFact's hot paths on
data of production size.

Every section runs in a throwaway database on the configured server, so the real data is
never touched: on PostgreSQL ``onefact_bench_<pid>`` is created and migrated once, and each
section gets its own copy of it (``CREATE DATABASE … TEMPLATE``); on SQLite (only with
``--allow-sqlite``: its figures say little about production) a temporary file is used.
Everything is dropped at the end, even on failure. Progress goes to stderr; the result is
a table on stdout, or one JSON object with ``--json``: ``{"<section>": {...}, ...}`` beside
the run's own figures: ``calibration`` (taken first, see ``inventory.bench.baseline``; two
runs compare by their ratio to it), ``sections_seconds`` (each section's wall time),
``sections_loading_seconds`` (of which loading data) and ``total_seconds``.

Data a section loads and others load alike (the shelf of 100,000 SKUs and 1,000,000 ledger
rows) is built once per run: ``ctx.from_template(key, build)`` runs ``build`` the first
time and hands every later section a fresh copy of the result (``CREATE DATABASE …
TEMPLATE``), so what is measured stays the same and the loading is not repeated. Data of a
shape no other section loads is built in place (a template would be a copy made for
nothing). Large data is made by the server, not sent from Python: ``ctx.bulk_load``.

Sections are a small registry. An app adds one in ``<app>/benchmarks.py`` (inventory's own
are in ``inventory/bench/sections.py``)::

    from inventory.bench import register

    @register("coverage", help="…")
    def coverage(ctx: BenchContext) -> dict:
        with ctx.bulk_load("…") as cursor:  # INSERT … SELECT … FROM {ctx.numbers(n)}
            cursor.execute("…", [...])
        ctx.bulk_insert("…", [...], rows)   # a few rows: COPY (SQLite: multi-row inserts)
        ...
        return {"skus": ..., "ledger_rows": ..., "ms": ...}

``ctx.alias`` names the Django connection of the section's database, ``ctx.scaled(n)``
scales a full-size count by ``--scale`` (``--quick`` = 0.1), ``ctx.progress(text)`` reports.
Inventory never imports the apps: their modules are found by ``discover_sections``.
The command (``inventory/management/commands/benchmark.py``) only parses and prints.
"""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import TypeVar

from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.utils import load_backend

ALIAS = "benchmark"
T = TypeVar("T")


@dataclass
class BenchContext:
    """What a section gets: its database (a Django alias), the scale and a progress line."""

    alias: str
    scale: float
    progress: Callable[[str], None]
    databases: _Databases | None = None
    loading_s: float = 0.0
    # How many warehouses the sections' bins are dealt round (the default one, WH-2 … WH-n).
    warehouses: int = 1

    @property
    def connection(self):
        return connections[self.alias]

    @property
    def vendor(self) -> str:
        return self.connection.vendor

    def scaled(self, full_size: int) -> int:
        return max(1, round(full_size * self.scale))

    def bulk_insert(self, table: str, columns: list[str], rows: Iterable[tuple]) -> int:
        """Load rows fast, straight into a table: COPY on PostgreSQL, batched INSERTs on SQLite.

        Benchmark data only: no model code runs, so the section keeps the invariants itself.
        """
        names = ", ".join(columns)
        with self._loading():
            return self._bulk_insert(table, names, columns, rows)

    def _bulk_insert(self, table: str, names: str, columns: list[str], rows: Iterable) -> int:
        loaded = 0
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy_:
                    for row in rows:
                        copy_.write_row(row)
                        loaded += 1
                return loaded
            sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
            for batch in _batches((_sqlite_row(row) for row in rows), 5000):
                cursor.executemany(sql, batch)
                loaded += len(batch)
        return loaded

    @contextmanager
    def bulk_load(self, *tables: str, seed: float = 0.5) -> Iterator:
        """A cursor, in one transaction, to fill ``tables`` with statements the server runs
        on its own rows (``INSERT … SELECT`` over ``ctx.numbers(n)``, draws from
        ``ctx.random``), so no row passes through Python.

        Benchmark data only, as ``bulk_insert``. On PostgreSQL the draws are seeded (the same
        data every run) and the tables' plain indexes and foreign keys are dropped for the
        block and made again at its end: a million rows then cost one sorted build of each
        index instead of a million insertions into it, and one join checking each foreign key
        instead of a million deferred checks at commit (every row is still checked). Primary
        keys and unique constraints stay. The database is analyzed at the end.
        """
        atomic = transaction.atomic(using=self.alias)
        with self._loading(), atomic, self.connection.cursor() as cursor:
            if self.vendor != "postgresql":
                yield cursor
                return
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SELECT setseed(%s)", [seed])
            names = list(tables)
            cursor.execute(_PLAIN_INDEXES, [names])
            indexes = cursor.fetchall()
            cursor.execute(_FOREIGN_KEYS, [names])
            foreign_keys = cursor.fetchall()
            for table, name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            yield cursor
            for _, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
            cursor.execute("ANALYZE")  # the whole database, as autovacuum would soon

    def numbers(self, count: int, name: str = "numbers") -> str:
        """A FROM item of the integers 1…``count`` in column ``i``, made by the server."""
        if self.vendor == "postgresql":
            return f"generate_series(1, {int(count)}) AS {name}(i)"
        return (f"(WITH RECURSIVE {name}(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM {name} "
                f"WHERE i < {int(count)}) SELECT i FROM {name}) AS {name}")  # fmt: skip

    def bin_warehouse(self, number: str) -> str:
        """SQL for the warehouse of bin number ``number`` (an SQL integer): the default
        warehouse, or with ``warehouses`` above 1 the bins dealt round it and WH-2 … WH-n
        (created here when missing)."""
        Warehouse = apps.get_model("inventory", "Warehouse")
        rows = Warehouse.objects.using(self.alias)
        ids = [rows.get(is_default=True).pk] + [
            rows.get_or_create(code=f"WH-{n}", defaults={"name": f"Warehouse {n}"})[0].pk
            for n in range(2, self.warehouses + 1)
        ]
        if len(ids) == 1:
            return str(ids[0])
        cases = " ".join(f"WHEN {k} THEN {pk}" for k, pk in enumerate(ids))
        n = len(ids)  # the remainder by integer division: no "%", which the driver would read
        return f"CASE ({number}) - (({number}) / {n}) * {n} {cases} END"

    def zero_padded(self, number: str, width: int) -> str:
        """SQL for ``f"{number:0{width}}"``: at least ``width`` digits (LPAD alone cuts)."""
        text = f"CAST({number} AS TEXT)"
        return f"CASE WHEN {number} < {10**width} THEN LPAD({text}, {width}, '0') ELSE {text} END"

    @property
    def random(self) -> str:
        """SQL for a uniform draw in [0, 1) (SQLite: Django's ``RAND``, unseeded)."""
        return "random()" if self.vendor == "postgresql" else "RAND()"

    def days_before(self, at: str, days: str) -> str:
        """SQL for the time ``days`` (an SQL number) before ``at`` (an SQL time)."""
        if self.vendor == "postgresql":
            return f"({at} - ({days}) * INTERVAL '1 day')"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {at}, '-' || (({days}) * 86400) || ' seconds')"

    def param(self, value: object) -> object:
        """``value`` as a parameter of the section's raw SQL (SQLite: naive UTC text)."""
        return value if self.vendor == "postgresql" else _sqlite_row((value,))[0]

    def from_template(
        self, key: str, build: Callable[[], T], *, reload: Callable[[], T] | None = None
    ) -> T:
        """The section's data, built once per run and copied for every section that asks for
        the same ``key``.

        The first section to ask runs ``build`` in its own database, which is then copied
        (``CREATE DATABASE … TEMPLATE`` on PostgreSQL, a file copy on SQLite) before the
        section goes on; a later section is pointed at a fresh copy of that one instead of
        building it again. What it returns comes from ``reload``, run on the copy, or (without
        one) is a copy of what ``build`` returned, kept in memory for the run. ``key`` must
        name everything the data depends on (sizes included). Outside a run, ``build`` just
        runs.
        """
        dbs = self.databases
        if dbs is None:
            return build()
        with self._loading():
            if key in dbs.templates:
                template, value = dbs.templates[key]
                self.progress(f"copying the data built for {key} (not building it again)")
                own = self.connection.settings_dict["NAME"]
                if dbs.pending.pop(own, None) is not None:  # not made yet: made as the copy
                    dbs.create(own, template=template)
                else:
                    self._switch_to(dbs.create(dbs.next_name(), template=template))
                return reload() if reload is not None else copy.deepcopy(value)
            value = build()
            self.connection.close()  # a template has no other session
            own = self.connection.settings_dict["NAME"]
            kept = None if reload is not None else copy.deepcopy(value)
            dbs.templates[key] = (dbs.create(dbs.next_name(), template=own), kept)
            return value

    def _switch_to(self, db_name: str) -> None:
        self.connection.close()
        self.connection.settings_dict["NAME"] = db_name

    @contextmanager
    def _loading(self) -> Iterator[None]:
        """Count the block as loading data (``sections_loading_seconds``), not nested."""
        started, self._load_depth = time.perf_counter(), getattr(self, "_load_depth", 0) + 1
        try:
            yield
        finally:
            self._load_depth -= 1
            if not self._load_depth:
                self.loading_s += time.perf_counter() - started

    def timed(self, func: Callable[[], object], *, runs: int = 3) -> tuple[float, object]:
        """The median wall time of ``runs`` calls, in milliseconds, and the last result."""
        times, result = [], None
        for _ in range(runs):
            started = time.perf_counter()
            result = func()
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1), result


# The plain indexes and the foreign keys of some tables (``bulk_load``): name, definition.
_PLAIN_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = ANY(%s::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])
"""


def _sqlite_row(row: tuple) -> tuple:
    """Datetimes as Django's SQLite backend stores them: naive UTC text."""
    return tuple(
        value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        if isinstance(value, datetime)
        else value
        for value in row
    )


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Section:
    name: str
    run: Callable[[BenchContext], dict]
    help: str = ""


SECTIONS: dict[str, Section] = {}


def register(name: str, *, help: str = "") -> Callable:
    """Add a section to the benchmark (see the module docstring)."""

    def decorator(func: Callable[[BenchContext], dict]) -> Callable[[BenchContext], dict]:
        SECTIONS[name] = Section(name=name, run=func, help=help)
        return func

    return decorator


def discover_sections() -> dict[str, Section]:
    """Inventory's own sections, then every app's ``<app>/benchmarks.py`` that exists."""
    import inventory.bench.sections  # noqa: F401 - inventory's own sections register here

    for app_config in apps.get_app_configs():
        if (Path(app_config.path) / "benchmarks.py").is_file():
            import_module(f"{app_config.name}.benchmarks")
    return dict(sorted(SECTIONS.items()))


@dataclass
class _Databases:
    """Throwaway databases on the configured server: one migrated template, a copy each."""

    progress: Callable[[str], None]
    base: dict = field(
        default_factory=lambda: copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    )
    created: list[str] = field(default_factory=list)
    tmpdir: str | None = None
    prefix: str = field(default_factory=lambda: f"onefact_bench_{os.getpid()}")
    # Data built once per run (``BenchContext.from_template``): key → (database, value).
    templates: dict[str, tuple[str, object]] = field(default_factory=dict)
    # Databases named but not made yet (PostgreSQL): name → template. A section's database
    # is made when it first connects, so one that starts from a copy of built data is made
    # from that copy directly (one database less to create and drop).
    pending: dict[str, str] = field(default_factory=dict)
    named: int = 0

    def next_name(self) -> str:
        self.named += 1
        return f"{self.prefix}_{self.named}"

    def reserve(self, name: str, *, template: str) -> str:
        """A database to be made from ``template`` on its first connection (``use``)."""
        if self.vendor != "postgresql":
            return self.create(name, template=template)
        self.pending[name] = template
        return name

    def materialize(self, name: str) -> None:
        if name in self.pending:
            self.create(name, template=self.pending.pop(name))

    @property
    def vendor(self) -> str:
        return connections[DEFAULT_DB_ALIAS].vendor

    def _admin(self):
        import psycopg

        s = self.base
        return psycopg.connect(
            dbname=s["NAME"],
            user=s["USER"] or None,
            password=s["PASSWORD"] or None,
            host=s["HOST"] or None,
            port=s["PORT"] or None,
            autocommit=True,
        )

    def create(self, name: str, *, template: str | None = None) -> str:
        """Create a database (a copy of ``template`` when given); returns its NAME."""
        if self.vendor == "postgresql":
            with self._admin() as admin:
                clause = f" TEMPLATE {template}" if template else ""
                admin.execute(f'CREATE DATABASE "{name}"{clause}')
            self.created.append(name)
            return name
        self.tmpdir = self.tmpdir or tempfile.mkdtemp(prefix="onefact-bench-")
        path = os.path.join(self.tmpdir, f"{name}.sqlite3")
        self.created.append(path)
        if template:
            shutil.copyfile(template, path)
        return path

    @contextmanager
    def use(self, db_name: str) -> Iterator[str]:
        """Point the benchmark alias at a database for the block.

        The connection is made here, not added to ``DATABASES``: nothing else in the process
        (the request cycle, the test runner) ever sees it.
        """
        settings_dict = self.base | {"NAME": db_name, "TEST": dict(self.base["TEST"])}
        wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, ALIAS)
        connect = wrapper.get_new_connection

        def get_new_connection(conn_params):
            self.materialize(wrapper.settings_dict["NAME"])
            return connect(conn_params)

        wrapper.get_new_connection = get_new_connection
        connections[ALIAS] = wrapper
        try:
            with _routed_to(ALIAS):
                yield ALIAS
        finally:
            wrapper.close()
            del connections[ALIAS]

    def drop_all(self) -> None:
        if self.vendor == "postgresql" and self.created:
            with self._admin() as admin:
                for name in reversed(self.created):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.progress(f"dropped {', '.join(self.created)}")
            self.created.clear()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class _EverythingTo:
    """A database router sending every read, write and migration to one alias.

    While a section runs, code that names no database (the migrations' data steps, the
    services) works on the benchmark database, never on the configured one.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model, **hints):
        return self.alias

    def db_for_write(self, model, **hints):
        return self.alias

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == self.alias


@contextmanager
def _routed_to(alias: str) -> Iterator[None]:
    saved = router.__dict__.get("routers")
    router.routers = [_EverythingTo(alias)]
    try:
        yield
    finally:
        if saved is None:
            del router.__dict__["routers"]
        else:
            router.routers = saved


def run_sections(
    sections: list[Section],
    scale: float,
    progress: Callable[[str], None],
    *,
    report: dict | None = None,
    warehouses: int = 1,
) -> dict[str, dict]:
    """Run each section in its own copy of a freshly migrated throwaway database, its bins
    dealt round ``warehouses`` warehouses.

    Before the first section, the machine's calibration (``baseline.calibrate``) is taken and
    reported; ``report``, when given, receives it (``calibration``) and the wall seconds of
    each section (``sections_seconds``), of its loading of data
    (``sections_loading_seconds``) and of the whole run (``total_seconds``).
    """
    from inventory.bench.baseline import calibrate

    report = {} if report is None else report
    run_started = time.perf_counter()
    dbs = _Databases(progress=progress)
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    loading: dict[str, float] = {}
    try:
        template = dbs.create(dbs.prefix)
        progress(f"migrating the throwaway database {dbs.prefix}")
        with dbs.use(template) as alias:
            call_command("migrate", database=alias, verbosity=0, interactive=False)
            report["calibration"] = calibrate(connections[alias].settings_dict)
            connections[alias].close()
        progress("calibration: " + ", ".join(f"{k} {v}" for k, v in report["calibration"].items()))
        report["setup_seconds"] = round(time.perf_counter() - run_started, 1)
        for n, section in enumerate(sections, start=1):
            started = time.perf_counter()
            # Each section starts from the freshly migrated database: a copy of it, or
            # (the last one) the template itself.
            last = n == len(sections)
            db_name = template if last else dbs.reserve(dbs.next_name(), template=template)
            with dbs.use(db_name) as alias:
                progress(f"{section.name}: starting (scale {scale:g})")
                ctx = BenchContext(
                    alias=alias,
                    scale=scale,
                    progress=lambda text, s=section.name: progress(f"{s}: {text}"),
                    databases=dbs,
                    warehouses=warehouses,
                )
                results[section.name] = section.run(ctx)
                progress(f"{section.name}: {results[section.name]}")
            seconds[section.name] = round(time.perf_counter() - started, 1)
            loading[section.name] = round(ctx.loading_s, 1)
    finally:
        dropping = time.perf_counter()
        dbs.drop_all()
        report["sections_seconds"] = seconds
        report["sections_loading_seconds"] = loading
        report["drop_seconds"] = round(time.perf_counter() - dropping, 1)
        report["total_seconds"] = round(time.perf_counter() - run_started, 1)
    return results
