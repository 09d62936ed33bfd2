import io
import json
import os

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from inventory.models import StockMovement
from inventory.selectors import ledger_mismatches
from replenishment.models import PurchaseOrder, ReorderPolicy, Supplier
from replenishment.selectors import coverage_rows

pytestmark = pytest.mark.django_db

RUN_KEYS = {"calibration", "sections_seconds", "sections_loading_seconds", "setup_seconds",
            "drop_seconds", "total_seconds", "warehouses"}  # fmt: skip


def test_seed_replenishment_gives_a_meaningful_list_and_runs_again_unchanged(db):
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_replenishment", stdout=out)
    assert "SKUs to reorder now" in out.getvalue()
    counts = (Supplier.objects.count(), ReorderPolicy.objects.count(),
              PurchaseOrder.objects.count(), StockMovement.objects.count())  # fmt: skip

    call_command("seed_replenishment", stdout=io.StringIO())

    assert counts == (Supplier.objects.count(), ReorderPolicy.objects.count(),
                      PurchaseOrder.objects.count(), StockMovement.objects.count())  # fmt: skip
    assert ledger_mismatches() == []
    rows = coverage_rows()
    needed = [c for c in rows if c.suggested]
    assert len(needed) >= 20
    assert {c.urgency_label for c in needed} >= {"urgent", "reorder"}
    assert len({c.supplier_name for c in needed}) >= 3
    assert any(c.shipped and c.in_stock_days < c.window_days for c in rows)  # stock-out days
    assert any(c.in_transit for c in rows)
    assert ReorderPolicy.objects.filter(sku=None).count() == 1
    assert set(PurchaseOrder.objects.values_list("status", flat=True)) == {
        "sent", "partially_received", "draft"}  # fmt: skip


def test_seed_replenishment_needs_the_shelf_first(db):
    with pytest.raises(CommandError, match="run `manage.py seed_demo` first"):
        call_command("seed_replenishment")


def test_benchmark_coverage_reports_its_figures_as_json(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("benchmark", "--quick", "--json", "--allow-sqlite", "--only", "coverage",
                 "--scale", "0.001", stdout=out, stderr=err)  # fmt: skip

    result = json.loads(out.getvalue())
    # The section's figures, beside the run's own (calibration, seconds per section).
    assert [key for key in result if key not in RUN_KEYS] == ["coverage"]
    figures = result["coverage"]
    assert {"skus", "ledger_rows", "ms"} <= set(figures)
    assert (figures["skus"], figures["ledger_rows"]) == (100, 1000)
    assert figures["ms"] >= 0 and figures["suggestions"] > 0
    assert "coverage: loading 1,000 ledger rows" in err.getvalue()
    assert "dropped" in err.getvalue() or connection.vendor == "sqlite"
    if connection.vendor == "postgresql":  # the throwaway database is gone
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                [f"onefact_bench_{os.getpid()}%"],
            )
            assert cursor.fetchone()[0] == 0


def test_benchmark_refuses_sqlite_unknown_sections_and_bad_scales(db, monkeypatch):
    with pytest.raises(CommandError, match="Unknown section"):
        call_command("benchmark", "--only", "teleport", "--allow-sqlite")
    with pytest.raises(CommandError, match="--scale"):
        call_command("benchmark", "--scale", "0", "--allow-sqlite")
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="--allow-sqlite"):
        call_command("benchmark", "--only", "coverage")
