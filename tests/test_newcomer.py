"""The newcomer's path: `make run` on any port, quiet output at INFO, a favicon, and the demo
users on the login page of a local run."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from inventory.management.commands.seed_demo import DEMO_USERS
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("AXES: BEGIN", "{'", "[{")  # the axes banner; a dict or a list of dicts


def _newcomer_env(**extra: str) -> dict[str, str]:
    """`make run`'s environment: DEBUG on, no Redis, the default log level."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_LOG_LEVEL")}
    return {**env, "DJANGO_DEBUG": "1", **extra}


def _manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8001",), "8001")])
def test_make_run_serves_on_the_port_given(args, port):
    if shutil.which("make") is None:
        pytest.skip("needs make")
    plan = subprocess.run(
        ["make", "--dry-run", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert f"runserver 127.0.0.1:{port}\n" in plan
    assert f"OneFact on http://127.0.0.1:{port} " in plan


def test_a_command_prints_no_axes_banner():
    output = _manage("check", env=_newcomer_env())
    assert "System check identified no issues" in output
    assert "AXES" not in output


@pytest.mark.slow
def test_make_runs_migrate_and_seed_print_no_banner_and_no_dicts(tmp_path):
    """What `make run` prints before serving, on a fresh SQLite file: plain sentences."""
    env = _newcomer_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    _manage("migrate", "--noinput", env=env)
    output = _manage("seed_demo", env=env)
    assert "Demo data ready" in output
    for username, password, *_ in DEMO_USERS:
        assert f"login: {username} / {password}" in output
    assert [line for line in output.splitlines() if any(n in line for n in NOISE)] == []


def test_a_login_logs_nothing_at_info(client, staff_user, caplog):
    response = client.post(
        reverse("login"), {"username": "staff-t", "password": "pw-for-tests-only"}
    )
    assert response.status_code == 302
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_a_failed_login_still_logs_one_warning(client, staff_user, caplog):
    client.post(reverse("login"), {"username": "staff-t", "password": "wrong"})
    logged = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.levelname for r in logged] == ["WARNING"]
    assert "AXES: New login failure" in logged[0].getMessage()


def test_favicon_answers_at_the_root_without_a_login(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_every_page_links_the_icon(client):
    html = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert client.get("/static/favicon.svg").status_code == 200


def _seeded_demo_users() -> None:
    """The demo users as seed_demo leaves them (the rest of the seed does not matter here)."""
    for username, password, group, *_ in DEMO_USERS:
        UserFactory(username=username, password=password, group=group)


def test_login_page_lists_no_demo_users_before_the_seed(client, settings, staff_user):
    settings.DEBUG = True
    html = client.get(reverse("login")).content.decode()
    assert 'data-testid="demo-users"' not in html


def test_login_page_lists_no_demo_users_with_debug_off(client, settings, db):
    _seeded_demo_users()
    settings.DEBUG = False
    html = client.get(reverse("login")).content.decode()
    assert 'data-testid="demo-users"' not in html
    assert "onefact-manager" not in html


def test_login_page_lists_the_demo_users_of_a_seeded_local_run(
    client, settings, db, django_assert_max_num_queries
):
    _seeded_demo_users()
    settings.DEBUG = True
    with django_assert_max_num_queries(1):
        html = client.get(reverse("login")).content.decode()
    assert 'data-testid="demo-users"' in html
    for username, password, group, *_ in DEMO_USERS:
        assert (
            f"<td><code>{username}</code></td><td><code>{password}</code></td><td>{group}</td>"
            in html
        )
