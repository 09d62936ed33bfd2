"""A real Celery worker (threads) consuming a real Redis, on PostgreSQL."""

import shutil
import socket
import subprocess
import time

import pytest
import redis

from tests.conftest import needs


def wait_for(check, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until ``check()`` is truthy; bounded, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def celery_live_worker(postgres, redis_url, transactional_db):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from inventory.services.outbox import push_kicks_forget

    assert not app.conf.task_always_eager, "REDIS_URL is set: tasks must go through Redis"
    app.control.purge()  # tasks left by earlier tests' commits belong to other databases
    push_kicks_forget()  # … and so do the drains they were promised
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                      shutdown_timeout=20):  # fmt: skip
        yield app


class PrivateRedis:
    """A redis-server of our own on a free loopback port, which a test may stop and start."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.ping, timeout=10, what="private redis-server")

    def ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(redis_url):
    needs(shutil.which("redis-server") is not None, "needs the redis-server binary")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
