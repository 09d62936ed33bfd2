"""The load run, short: many clients on gunicorn + a worker + PostgreSQL, then the checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loadtest_holds_every_invariant(postgres, redis_url):
    env = dict(os.environ, DJANGO_DEBUG="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "loadtest", "--seconds", "6", "--clients", "6",
         "--workers", "2", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["server_errors"] == 0
    assert all(summary["checks"].values()), summary["checks"]
    assert summary["by_op"]["movement"] > 0 and summary["by_op"]["webhook"] > 0
