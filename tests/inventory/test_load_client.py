"""The API benchmark's load generator: one process of coroutines, which counts what a
server answers, keeps a connection the server keeps, and reports its own CPU beside the
server's. A tiny HTTP server in a thread stands in for gunicorn (no database needed)."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inventory.bench.loadtest import descendants_cpu_seconds, movements_under_load


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    keep_alive = False

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append((body, self.headers["Idempotency-Key"]))
        created = body["sku"].endswith(("1", "3", "5", "7", "9"))  # odd SKUs accepted
        answer = json.dumps({"id": 1} if created else {"code": "insufficient_stock"}).encode()
        self.send_response(201 if created else 409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if not self.keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[False, True], ids=["closes", "keeps-alive"])
def server(request):
    handler = type("Handler", (_Handler,), {"keep_alive": request.param})
    connections = []

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def process_request(self, request, client_address):
            connections.append(client_address)
            super().process_request(request, client_address)

    httpd = Server(("127.0.0.1", 0), handler)
    httpd.bodies, httpd.connections, httpd.keep_alive = [], connections, request.param
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_movements_under_load_counts_the_servers_answers_and_its_own_cpu(server):
    port = server.server_address[1]
    run = movements_under_load(f"http://127.0.0.1:{port}", token="t0k", skus=50, clients=4,
                               seconds=0.5)  # fmt: skip
    sent = len(server.bodies)
    assert sent > 20
    accepted = sum(body["sku"].endswith(("1", "3", "5", "7", "9")) for body, _ in server.bodies)
    assert run["errors"] == sent - accepted  # a 409 counts as not accepted
    assert run["movements_per_s"] > 0 and run["clients"] == 4
    assert 0 < run["client_cpu_share"] <= 1 and run["client_cpu_ms_per_request"] > 0
    assert len({key for _, key in server.bodies}) == sent  # a new Idempotency-Key each
    assert all(body["kind"] == "receive" and body["quantity"] == 1 for body, _ in server.bodies)
    if server.keep_alive:  # one connection per client, kept for the whole run
        assert len(server.connections) <= 4
    else:  # the server closes each: a new connection per request
        assert len(server.connections) == sent


def test_the_generator_runs_from_inside_another_event_loop(server):
    """A test process may be inside Playwright's event loop when it runs the benchmark: the
    generator's loop runs in a thread of its own, not refused by ``asyncio.run``."""
    port = server.server_address[1]

    async def caller():
        return movements_under_load(f"http://127.0.0.1:{port}", token="t0k", skus=50,
                                    clients=2, seconds=0.2)  # fmt: skip

    assert asyncio.run(caller())["movements_per_s"] > 0


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads Linux's /proc")
def test_descendants_cpu_seconds_counts_a_childs_cpu():
    before = descendants_cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.3: pass\n"
                              "time.sleep(30)"])  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while descendants_cpu_seconds() - before < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert descendants_cpu_seconds() - before >= 0.25
    finally:
        child.kill()
        child.wait()
