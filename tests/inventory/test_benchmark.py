"""The benchmark command keeps working (tiny data; no timing assertions)."""

import json

import pytest
from django.core.management import call_command

KEYS = {
    "write_path": {"service_per_s", "raw_sql_per_s", "ratio", "statements_per_movement"},
    "write_path_concurrent": {"clients", "service_per_s", "raw_sql_per_s", "ratio",
                              "hot_sku_service_per_s", "errors"},
    "reconcile": {"skus", "gaps", "ms", "raw_diff_ms", "ratio", "discrepancies_written",
                  "peak_rss_mb"},
    "reconcile_1m": {"peak_rss_mb", "fake_mb", "onefact_mb", "fake_ms"},
    "dashboard": {"p50_ms", "p95_ms", "queries"},
    "sku_list": {"p50_ms", "p95_ms", "queries"},
    "sku_detail": {"p50_ms", "p95_ms", "queries"},
    "push": {"movements", "skus", "adapter_calls", "p50_ms", "p95_ms"},
    "api": {"movements_per_s", "p50_ms", "p95_ms", "clients"},
}  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_benchmark_inventory_sections_report_their_keys(postgres, redis_url, capsys):
    """PostgreSQL only: the sections re-point the default connection at their database,
    which would drop SQLite's in-memory test database."""
    args = ["benchmark", "--json", "--scale", "0.002"]
    for name in KEYS:
        args += ["--only", name]
    call_command(*args)
    result = json.loads(capsys.readouterr().out)
    for name, keys in KEYS.items():
        assert keys <= set(result[name]), (name, result[name])
    assert result["write_path_concurrent"]["errors"] == 0
    assert result["dashboard"]["queries"] > 0
