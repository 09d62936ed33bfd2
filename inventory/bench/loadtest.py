"""A bounded load run against real parts on loopback: a throwaway PostgreSQL database, a
gunicorn server with several workers, a Celery worker on Redis, and many HTTP clients
mixing API movements, transfers, replays and signed storefront order webhooks (some on
one hot SKU). Afterwards it checks that nothing was lost, doubled or half-written.

Used by ``python manage.py loadtest`` (and by the benchmark's API section).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from django.conf import settings
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_dsn(name: str = "postgres") -> str:
    db = settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgresql://{auth}@{host}:{port}/{name}"


@contextmanager
def throwaway_database(prefix: str):
    """Create an empty database on the configured PostgreSQL server; drop it afterwards.
    Django's default connection points at it meanwhile. Yields (name, DATABASE_URL)."""
    name = f"{prefix}_{os.getpid()}"
    admin = psycopg.connect(server_dsn(), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    default = connections["default"]
    original = default.settings_dict["NAME"]
    default.close()
    default.settings_dict["NAME"] = name
    try:
        yield name, server_dsn(name)
    finally:
        default.close()
        default.settings_dict["NAME"] = original
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class RoundTrips:
    """How many round trips a connection made: ``count``, set when the block ends."""

    count: int | None = None


@contextmanager
def round_trips(alias: str = "default"):
    """Count the round trips Django's connection ``alias`` makes in the block, as the wire
    sees them: libpq traces the protocol, and every round trip ends with the server's
    ReadyForQuery. Django's health-check ping, BEGIN and COMMIT count too (a query log sees
    none of them). PostgreSQL only; the connection must stay the same in the block."""
    db = connections[alias]
    db.ensure_connection()
    raw = db.connection
    counted = RoundTrips()
    with tempfile.TemporaryFile("w+") as trace:
        raw.pgconn.trace(trace.fileno())
        try:
            yield counted
        finally:
            raw.pgconn.untrace()
        if db.connection is not raw:
            raise RuntimeError("The connection was replaced during the count.")
        trace.seek(0)
        counted.count = sum("\tReadyForQuery" in line for line in trace)


def wsgi_post(path: str, body, headers: dict[str, str], handler=None) -> tuple[int, dict]:
    """POST through Django's WSGI handler in this process, as a server does (the request
    signals, and so the health check of a persistent connection, included; the test client
    leaves them out). Returns (status, JSON body)."""
    from django.core.handlers.wsgi import WSGIHandler

    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "443", "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "https", "wsgi.errors": sys.stderr,
        "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json",
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }  # fmt: skip
    status = []
    response = (handler or WSGIHandler())(environ, lambda s, h: status.append(int(s.split()[0])))
    try:
        content = b"".join(response)
    finally:
        response.close()  # request_finished, as the server sends it
    return status[0], json.loads(content) if content else {}


async def _movement_client(port, token, skus, deadline, seed, done) -> None:
    """One API client: a loop of receipts of random SKUs until the deadline, each request
    written whole from bytes and its response read by its Content-Length. The connection
    is kept while the server keeps it (gunicorn's sync workers close each: then every
    request opens a new one, as a real client of theirs does)."""
    import asyncio

    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    reader = writer = None
    while loop.time() < deadline:
        sku = rng.randint(1, skus)
        body = json.dumps({"sku": f"S-{sku:06}", "bin": f"B-{1 + sku % 200:04}",
                           "kind": "receive", "quantity": 1}).encode()  # fmt: skip
        request = (
            f"POST /api/movements HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            status = int(head.split(None, 2)[1])
            length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
            await reader.readexactly(length)
            accepted = status == 201
            if "connection: close" in head:
                writer.close()
                writer = None
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            if writer is not None:
                writer.close()
                writer = None
            accepted = False
        done.append((loop.time(), (time.perf_counter() - started) * 1000, accepted))
    if writer is not None:
        writer.close()


def _in_own_thread(call):
    """``call()`` in a thread of its own, so its event loop is the only one there: the caller
    may be inside another's (a test process where Playwright's runs), and ``asyncio.run``
    refuses to start inside a running loop. ``time.process_time`` still counts its CPU."""
    result: list = []
    error: list[BaseException] = []

    def target():
        try:
            result.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            error.append(exc)

    thread = threading.Thread(target=target, name="load-generator")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def movements_under_load(base_url: str, *, token: str, skus: int, clients: int,
                         seconds: float) -> dict:  # fmt: skip
    """``clients`` concurrent clients post receipts of random SKUs (S-000001…, into bin
    B-(1 + n % 200)) for ``seconds``; movements/s accepted, latency p50/p95, errors.

    The clients are coroutines of one process, so the load generator takes as little of the
    machine as it can (16 client processes on 2 cores took CPU from the server they timed);
    ``client_cpu_share`` is the share of the machine's CPU it used, and ``server_cpu_share``
    that of the server's processes, when the server is a child of this process."""
    import asyncio

    port = int(base_url.rsplit(":", 1)[1])
    done: list[tuple[float, float, bool]] = []  # (finished at, ms, accepted)

    async def run() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start_at = loop.time()
        deadline = start_at + seconds
        await asyncio.gather(*(_movement_client(port, token, skus, deadline, seed, done)
                               for seed in range(clients)))  # fmt: skip
        return start_at, deadline

    server = descendants_cpu_seconds()
    cpu = time.process_time()
    wall = time.perf_counter()
    start_at, deadline = _in_own_thread(lambda: asyncio.run(run()))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    server = descendants_cpu_seconds() - server
    times = sorted(ms for _, ms, _ in done) or [0.0]
    accepted = sum(ok for _, _, ok in done)
    span = max((at for at, _, _ in done), default=deadline) - start_at
    cpus = os.cpu_count() or 1
    return {
        "clients": clients,
        "movements_per_s": round(accepted / span),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "errors": len(done) - accepted,
        "client_cpu_share": round(cpu / (wall * cpus), 3),
        "client_cpu_ms_per_request": round(cpu * 1000 / max(len(done), 1), 3),
        "server_cpu_share": round(server / (wall * cpus), 3),
    }


def descendants_cpu_seconds() -> float:
    """CPU seconds used so far by every live descendant of this process (Linux's /proc;
    0 elsewhere): the servers a run started (gunicorn's master and workers, a Celery
    worker and its pool)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(name)] = int(fields[1])
        used[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    mine, found = set(), {os.getpid()}
    while found:
        mine |= found
        found = {pid for pid, parent in parents.items() if parent in found} - mine
    return sum(used[pid] for pid in mine - {os.getpid()})


def service_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or "loadtest-" + uuid.uuid4().hex * 2,
        # DEBUG is off, so the demo storefront has no built-in webhook secret: give it one.
        STOREFRONT_STOREFRONT_WEBHOOK_SECRET=env.get("STOREFRONT_STOREFRONT_WEBHOOK_SECRET")
        or "loadtest-" + uuid.uuid4().hex,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_STATIC_MANIFEST="0",
        DJANGO_LOG_LEVEL="WARNING",
        ONEFACT_LOGIN_RATE_LIMIT="0",
    )
    return env


@contextmanager
def running(args: list[str], env: dict[str, str], ready, what: str, timeout: float = 60,
            cwd: Path = ROOT):  # fmt: skip
    """Start a process, wait until ``ready()`` is true, stop it (TERM, then KILL) after.

    Its stderr goes to a temporary file, not a pipe: nobody reads a pipe while the process
    runs, and once its logs (a traceback per 5xx) fill the pipe's buffer, every write blocks.
    """
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, once the process is gone
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=log, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 2000))
                raise RuntimeError(f"{what} exited: {log.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout:.0f}s")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def gunicorn(env: dict[str, str], *, workers: int, root: Path = ROOT):
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/api/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    binary = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    args = [binary, "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
            "--timeout", "60", "--graceful-timeout", "10"]  # fmt: skip
    return url, running(args, env, ready, "gunicorn", cwd=root)


def celery_worker(env: dict[str, str], *, concurrency: int = 2):
    binary = shutil.which("celery", path=os.path.dirname(sys.executable)) or "celery"
    args = [binary, "-A", "config", "worker", "-l", "warning", "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    started = time.monotonic()
    return running(args, env, lambda: time.monotonic() - started > 3, "celery worker")


@dataclass
class Outcome:
    op: str
    key: str
    status: int
    ms: float
    movement_ids: list[int] = field(default_factory=list)
    replay_of: str = ""


@dataclass
class LoadReport:
    seconds: float
    clients: int
    outcomes: list[Outcome]
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def summary(self) -> dict:
        times = sorted(o.ms for o in self.outcomes) or [0.0]
        statuses = Counter(o.status for o in self.outcomes)
        return {
            "requests": len(self.outcomes),
            "per_s": round(len(self.outcomes) / self.seconds, 1),
            "clients": self.clients,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "by_op": dict(Counter(o.op for o in self.outcomes)),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
            "server_errors": sum(v for k, v in statuses.items() if k >= 500),
            "checks": self.checks,
            **self.details,
        }


class Client(threading.Thread):
    """One client: a loop of mixed requests until the deadline."""

    def __init__(self, base_url, token, secret, skus, bins, hot, deadline, seed, ops):
        super().__init__(daemon=True)
        self.base_url, self.token, self.secret = base_url, token, secret
        self.skus, self.bins, self.hot, self.deadline = skus, bins, hot, deadline
        self.rng = random.Random(seed)
        self.ops = ops
        self.outcomes: list[Outcome] = []
        self.open_orders: list[tuple[str, str, int]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            self.http = http
            while time.monotonic() < self.deadline:
                op = self.rng.choices(list(self.ops), weights=list(self.ops.values()))[0]
                getattr(self, op)()

    def _post(self, op, path, *, key="", replay_of="", headers=None, **kw):
        start = time.perf_counter()
        try:
            response = self.http.post(path, headers=headers or {}, **kw)
            status = response.status_code
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
        except httpx.HTTPError:
            status, body = 599, {}
        ms = (time.perf_counter() - start) * 1000
        ids = [body["id"]] if isinstance(body, dict) and "id" in body else []
        if isinstance(body, dict) and "movements" in body:  # a transfer's two legs
            ids = [leg["id"] for leg in body["movements"]]
        self.outcomes.append(Outcome(op, key, status, ms, ids, replay_of))
        return status, body

    def _auth(self, key):
        return {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}

    def movement(self):
        sku = self.hot if self.rng.random() < 0.2 else self.rng.choice(self.skus)
        receive = self.rng.random() < 0.5
        body = {"sku": sku, "bin": self.rng.choice(self.bins),
                "kind": "receive" if receive else "ship",
                "quantity": self.rng.randint(1, 3) * (1 if receive else -1)}  # fmt: skip
        key = uuid.uuid4().hex
        self._post("movement", "/api/movements", key=key, headers=self._auth(key), json=body)
        if self.rng.random() < 0.1:  # a client retrying the same request
            self._post("replay", "/api/movements", key=key, replay_of=key,
                       headers=self._auth(key), json=body)  # fmt: skip

    def transfer(self):
        a, b = self.rng.sample(self.bins, 2)
        key = uuid.uuid4().hex
        body = {"sku": self.rng.choice([self.hot, *self.skus[:20]]), "from_bin": a, "to_bin": b,
                "quantity": self.rng.randint(1, 2)}  # fmt: skip
        self._post("transfer", "/api/transfers", key=key, headers=self._auth(key), json=body)

    def order(self):
        from inventory.storefront.base import EventLine, EventType, InboundEvent
        from inventory.storefront.demo.adapter import SIGNATURE_HEADER, demo_sign, demo_webhook_body

        if self.open_orders and self.rng.random() < 0.6:
            number, sku, qty = self.open_orders.pop(0)
            kind = (
                EventType.ORDER_FULFILLED if self.rng.random() < 0.8 else EventType.ORDER_CANCELLED
            )
        else:
            number = f"L-{uuid.uuid4().hex[:10]}"
            sku, qty = (self.hot if self.rng.random() < 0.3 else self.rng.choice(self.skus)), 1
            kind = EventType.ORDER_PLACED
            self.open_orders.append((number, sku, qty))
        event = InboundEvent(event_id=f"{number}:{kind}", type=kind, occurred_at=None,
                             order_ref=number,
                             lines=[EventLine(sku=sku, quantity=qty, line_ref="1")])  # fmt: skip
        body = demo_webhook_body(event)
        for _ in range(2 if self.rng.random() < 0.1 else 1):  # some delivered twice
            self._post("webhook", "/webhooks/storefront/", key=event.event_id, content=body,
                       headers={SIGNATURE_HEADER: demo_sign(body, self.secret),
                                "Content-Type": "application/json"})  # fmt: skip


def drive(*, base_url, token, secret, skus, bins, hot, seconds, clients, ops) -> list[Outcome]:
    deadline = time.monotonic() + seconds
    threads = [Client(base_url, token, secret, skus, bins, hot, deadline, n, ops)
               for n in range(clients)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return [o for t in threads for o in t.outcomes]


def demo_secret(env) -> str:
    return env["STOREFRONT_STOREFRONT_WEBHOOK_SECRET"]  # service_env always sets one


def settle(timeout: float = 120) -> bool:
    """Wait for every stored event to be processed, then push the storefront up to date."""
    from inventory.models import InboxEvent, System
    from inventory.services import inbox_process, storefront_push

    deadline = time.monotonic() + timeout
    while InboxEvent.objects.filter(status=InboxEvent.Status.PENDING).exists():
        if time.monotonic() > deadline:
            for pk in InboxEvent.objects.filter(status="pending").values_list("pk", flat=True):
                inbox_process(pk=pk)  # what the beat sweep would do
            break
        time.sleep(0.5)
    storefront_push(storefront=System.objects.get(name="storefront"))
    return not InboxEvent.objects.filter(status=InboxEvent.Status.PENDING).exists()


def checks(outcomes, settled: bool) -> dict[str, bool]:
    """The invariants a load run must hold, each true or false."""
    from django.db.models import Count, Min

    from inventory import selectors
    from inventory.models import InboxEvent, OnHand, StockMovement
    from inventory.storefront.demo.models import DemoLevel

    firsts = {o.key: o for o in outcomes if o.op in ("movement", "transfer")}
    # A refusal changes nothing and is not remembered: a client's retry of a refused request
    # is a new attempt, which may be accepted once the stock is there.
    retried = [o for o in outcomes if o.op == "replay" and o.status in (200, 201)]
    applied_anew = [o for o in retried if firsts[o.replay_of].status not in (200, 201)]
    accepted = [o for o in firsts.values() if o.status in (200, 201)] + applied_anew
    refused = [o for o in firsts.values() if o.status == 409]
    ids = [i for o in accepted for i in o.movement_ids]
    counted = dict(
        StockMovement.objects.filter(source_event_id__in=[o.key for o in accepted])
        .values("source_event_id")
        .annotate(n=Count("id"))
        .values_list("source_event_id", "n")
    )
    expected_legs = {o.key: len(o.movement_ids) for o in accepted}
    applied_keys = {o.key for o in accepted}
    levels = dict(DemoLevel.objects.values_list("sku_code", "quantity"))
    shelf = {s.code: max(s.available, 0) for s in selectors.skus_with_stock()}
    return {
        "no_server_errors": not [o for o in outcomes if o.status >= 500],
        "ledger_verified": selectors.ledger_mismatches() == [],
        "no_negative_balance": (OnHand.objects.aggregate(m=Min("quantity"))["m"] or 0) >= 0,
        "accepted_in_ledger_once": all(counted.get(k) == n for k, n in expected_legs.items())
        and len(ids) == len(set(ids)),
        "refused_left_nothing": not StockMovement.objects.filter(
            source_event_id__in=[o.key for o in refused if o.key not in applied_keys]
        ).exists(),
        "replays_return_the_first": all(
            o.movement_ids == firsts[o.replay_of].movement_ids
            for o in retried
            if o not in applied_anew
        ),
        "inbox_processed": settled
        and not InboxEvent.objects.filter(status=InboxEvent.Status.FAILED).exists(),
        "storefront_equals_shelf": all(levels.get(code, 0) == v for code, v in shelf.items()),
    }
