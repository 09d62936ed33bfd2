"""Fault: PostgreSQL restarts during load.

A PostgreSQL server of the test's own (initdb into a temporary directory, a free loopback
port, trust auth, fsync on) so it can be stopped and started without disturbing the shared
one; gunicorn with several workers and a real Celery worker on a private redis-server point
at it. Client threads post movements with Idempotency-Keys while the server is stopped for
two seconds and started again. Afterwards: the requests in flight and during the outage got
a JSON 503, every 201 is in the ledger exactly once, nothing else is, the failed requests
retried with their keys apply exactly once, ``verify_ledger`` is clean and the demo
storefront ends equal to the shelf.
"""

from __future__ import annotations

import glob
import io
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from django.core.management import call_command
from django.db import connections

from inventory.bench.loadtest import celery_worker, free_port, gunicorn, service_env
from tests.conftest import needs
from tests.integration.conftest import wait_for

BINS = ["PG-A1", "PG-A2", "PG-A3"]
SKUS = ["PG-SKU-1", "PG-SKU-2", "PG-SKU-3", "PG-SKU-4"]
CLIENTS = 6
OUTAGE_SECONDS = 2.0
BACKOFF_SECONDS = 0.2


def _postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live: pg_config's bindir, else Debian's versioned folders."""
    candidates = []
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(result.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in filter(None, candidates):
        if all(os.access(Path(folder, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own on a free loopback port, which a test may restart.

    initdb refuses to run as root, so as root the binaries run as the ``postgres`` user
    (``runuser``) in a directory it owns.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="onefact-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{tail}")

    def init(self) -> None:
        # --no-sync only skips initdb's own final flush; the server runs with fsync on.
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o",
                  options, "-w", "-t", "30", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def dsn(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def _django_on(server: PrivatePostgres, name: str):
    """Point Django's default connection (this process) at the private server meanwhile."""
    from django.contrib.contenttypes.models import ContentType

    default = connections["default"]
    saved = {k: default.settings_dict[k] for k in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    default.close()
    default.settings_dict.update(NAME=name, USER="postgres", PASSWORD="", HOST="127.0.0.1",
                                 PORT=str(server.port))  # fmt: skip
    ContentType.objects.clear_cache()  # ids differ from the test database's
    try:
        yield
    finally:
        default.close()
        default.settings_dict.update(saved)
        ContentType.objects.clear_cache()


@pytest.fixture
def private_postgres(postgres, django_db_blocker):
    """A migrated database ``onefact`` on a private PostgreSQL server; Django points at it."""
    bindir = _postgres_bindir()
    needs(bindir is not None, "needs PostgreSQL's server binaries (initdb, pg_ctl: postgresql)")
    if os.geteuid() == 0:
        needs(shutil.which("runuser") is not None, "needs runuser to run initdb as postgres")
    server = PrivatePostgres(bindir)
    try:
        server.init()
        server.start()
        with psycopg.connect(server.dsn(), autocommit=True) as admin:
            assert admin.execute("SHOW fsync").fetchone() == ("on",)
            admin.execute("CREATE DATABASE onefact")
        with django_db_blocker.unblock(), _django_on(server, "onefact"):
            call_command("migrate", verbosity=0)
            yield server
    finally:
        server.remove()


@contextmanager
def _unreachable_database():
    """Point Django's default connection at a database that cannot be reached (no mock: a
    loopback port nobody listens on, or an SQLite file in a folder that does not exist)."""
    default = connections["default"]
    saved = dict(default.settings_dict)
    # Django never closes an in-memory SQLite database (closing would destroy it): set the
    # open connection aside instead, and put it back afterwards.
    kept, default.connection = default.connection, None
    if default.vendor == "postgresql":
        default.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        default.settings_dict["NAME"] = str(Path(tempfile.gettempdir(), uuid.uuid4().hex, "db"))
    try:
        yield
    finally:
        if default.connection is not None:
            default.connection.close()
        default.connection = kept
        default.settings_dict.clear()
        default.settings_dict.update(saved)


def test_api_answers_json_503_when_the_database_is_unreachable(client, django_db_blocker):
    with django_db_blocker.unblock(), _unreachable_database():
        response = client.post(
            "/api/movements",
            {"sku": "SKU-1", "bin": "A-14", "kind": "receive", "quantity": 1},
            content_type="application/json",
            headers={"Authorization": "Bearer any", "Idempotency-Key": "k-1"},
        )
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == "2"
    assert response.json()["code"] == "database_unavailable"
    assert "same Idempotency-Key" in response.json()["detail"]


@dataclass
class Attempt:
    key: str
    body: dict
    status: int
    answer: dict | str
    retry_after: str | None
    started: float
    ended: float


class MovementClient(threading.Thread):
    """Posts movements (mostly receipts, some shipments) with fresh keys until stopped."""

    def __init__(self, base_url: str, token: str, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base_url, self.token, self.stop = base_url, token, stop
        self.rng = random.Random(seed)
        self.attempts: list[Attempt] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            while not self.stop.is_set():
                receive = self.rng.random() < 0.7
                body = {"sku": self.rng.choice(SKUS), "bin": self.rng.choice(BINS),
                        "kind": "receive" if receive else "ship",
                        "quantity": self.rng.randint(1, 3) if receive else -1}  # fmt: skip
                attempt = post_movement(http, self.token, uuid.uuid4().hex, body)
                self.attempts.append(attempt)
                if attempt.status == 503:
                    self.stop.wait(BACKOFF_SECONDS)  # a client backs off, then sends new work


def post_movement(http: httpx.Client, token: str, key: str, body: dict) -> Attempt:
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    try:
        response = http.post("/api/movements", json=body, headers=headers)
    except httpx.HTTPError as error:
        return Attempt(key, body, 599, repr(error), None, started, time.monotonic())
    is_json = response.headers.get("content-type", "").startswith("application/json")
    answer = response.json() if is_json else response.text
    return Attempt(key, body, response.status_code, answer, response.headers.get("Retry-After"),
                   started, time.monotonic())  # fmt: skip


def _seed() -> str:
    """Bins and SKUs at zero (counted: none there), the demo storefront at zero for each SKU
    and live; the shelf's token."""
    from inventory.models import ShelfEvidence, System
    from inventory.services import shelf_evidence_record, storefront_mode_set
    from inventory.storefront.demo.services import demo_storefront_seed
    from tests.factories import BinFactory, SkuFactory

    for n, code in enumerate(BINS):
        BinFactory(code=code, zone="P", walk_order=n)
    skus = [SkuFactory(code=code) for code in SKUS]
    shelf_evidence_record(skus=skus, kind=ShelfEvidence.Kind.ZERO, reference="empty warehouse")
    assert demo_storefront_seed() == len(SKUS)
    storefront_mode_set(storefront=System.objects.get(name="storefront"), mode="live",
                        reason="counted empty, in step at zero", actor=None)  # fmt: skip
    return System.objects.get(name="shelf").issue_token()


def _storefront_gaps() -> dict[str, tuple[int, int]]:
    """SKU → (demo storefront's number, shelf's available) wherever they differ."""
    from inventory import selectors
    from inventory.storefront.demo.models import DemoLevel

    levels = dict(DemoLevel.objects.values_list("sku_code", "quantity"))
    shelf = {s.code: max(s.available, 0) for s in selectors.skus_with_stock()}
    return {c: (levels.get(c), v) for c, v in shelf.items() if levels.get(c) != v}


def test_postgres_restart_during_load_loses_and_doubles_nothing(private_postgres, private_redis):
    from inventory.models import Discrepancy, OnHand, StockMovement, System

    token = _seed()
    env = service_env(private_postgres.dsn("onefact")) | {"REDIS_URL": private_redis.url}
    base_url, server = gunicorn(env, workers=3)
    with celery_worker(env), server:
        stop = threading.Event()
        clients = [MovementClient(base_url, token, n, stop) for n in range(CLIENTS)]
        for client in clients:
            client.start()
        time.sleep(2)
        down = time.monotonic()
        private_postgres.stop("fast")  # in-flight transactions are aborted
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        up = time.monotonic()
        time.sleep(3)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        attempts = [a for c in clients for a in c.attempts]
        statuses = Counter(a.status for a in attempts)
        after = sorted((a for a in attempts if a.started >= up), key=lambda a: a.started)
        resumed = min((round(a.ended - up, 2) for a in after if a.status == 201), default=None)
        print(f"\n{len(attempts)} requests {dict(statuses)}; server down {up - down:.1f} s; "
              f"first 201 {resumed} s after it was back")  # fmt: skip

        # Clear errors for the requests in flight and during the outage: JSON 503s, no other.
        assert set(statuses) <= {201, 409, 503}, statuses
        failed = [a for a in attempts if a.status == 503]
        assert failed, "no request met the outage"
        for a in failed:
            assert isinstance(a.answer, dict), a
            assert a.answer["code"] == "database_unavailable", a
            assert "Idempotency-Key" in a.answer["detail"] and a.retry_after == "2", a
        # Service resumed at once (CONN_HEALTH_CHECKS): every request sent after the server
        # was back succeeded or was refused for stock.
        assert resumed is not None and resumed < 2, "no success soon after the restart"
        assert not [a for a in after if a.status == 503], "refused after the server was back"

        # Nothing lost, doubled or half-written.
        connections["default"].close()  # this process's connection died with the server
        shelf = System.objects.get(name="shelf")
        rows = list(
            StockMovement.objects.filter(source_system=shelf).values_list(
                "id", "source_event_id", "sku__code", "bin__code", "quantity"
            )
        )
        per_key = Counter(key for _, key, *_ in rows)
        accepted = {a.key: a for a in attempts if a.status == 201}
        assert len(rows) == len(accepted) and set(per_key) == set(accepted)
        assert all(n == 1 for n in per_key.values())
        for pk, key, sku, bin_code, quantity in rows:
            body = accepted[key].body
            assert (pk, sku, bin_code, quantity) == (
                accepted[key].answer["id"], body["sku"], body["bin"], body["quantity"]
            )  # fmt: skip

        # The failed requests, retried with their keys, apply exactly once.
        with httpx.Client(base_url=base_url, timeout=30) as http:
            retried = [post_movement(http, token, a.key, a.body) for a in failed]
            assert {r.status for r in retried} <= {201, 409}, Counter(r.status for r in retried)
            again = [post_movement(http, token, r.key, r.body) for r in retried if r.status == 201]
        assert all(r.status == 200 and r.answer["replayed"] for r in again)
        for first, second in zip([r for r in retried if r.status == 201], again, strict=True):
            assert second.answer["id"] == first.answer["id"]
        keys = [r.key for r in retried]
        per_retry = Counter(
            StockMovement.objects.filter(source_event_id__in=keys).values_list(
                "source_event_id", flat=True
            )
        )
        assert per_retry == Counter(r.key for r in retried if r.status == 201)

        out = io.StringIO()
        call_command("verify_ledger", stdout=out)
        assert "Ledger verified" in out.getvalue()
        assert not OnHand.objects.filter(quantity__lt=0).exists()
        # The worker drains the outbox: the storefront ends equal to the shelf.
        wait_for(lambda: not _storefront_gaps(), timeout=30, what="the storefront to converge")
        assert not Discrepancy.objects.exists()
