"""The benchmark command keeps working (tiny data; no timing assertions), and its baselines
are what they claim to be."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from inventory.bench.baseline import RawMovements
from inventory.bench.runner import Section, run_sections
from inventory.models import Bin, OnHand, OutboxEntry, StockMovement, Warehouse
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory

KEYS = {
    "write_path": {"service_per_s", "raw_sql_per_s", "ratio", "statements_per_movement",
                   "ceiling_1_conn_tps", "ceiling_8_conn_tps", "ceiling_tool"},
    "write_path_concurrent": {"clients", "service_per_s", "raw_sql_per_s", "ratio",
                              "hot_sku_service_per_s", "errors", "ceiling_1_conn_tps",
                              "ceiling_8_conn_tps", "ceiling_tool"},
    "reconcile": {"skus", "gaps", "ms", "raw_diff_ms", "ratio", "discrepancies_written",
                  "peak_rss_mb"},
    "reconcile_1m": {"peak_rss_mb", "fake_mb", "onefact_mb", "fake_ms"},
    "dashboard": {"p50_ms", "p95_ms", "queries"},
    "sku_list": {"p50_ms", "p95_ms", "queries"},
    "sku_detail": {"p50_ms", "p95_ms", "queries"},
    "push": {"movements", "skus", "adapter_calls", "p50_ms", "p95_ms", "writes_per_s",
             "writes_per_s_push_off", "writer_cpu_share", "worker_cpu_share",
             "kick_ms_per_movement"},
    "api": {"movements_per_s", "p50_ms", "p95_ms", "clients", "client_cpu_share",
            "server_cpu_share"},
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
    assert result["push"]["storefront_equals_shelf"] is True
    assert result["push"]["adapter_calls"] > 0
    assert result["api"]["errors"] == 0 and result["api"]["client_cpu_share"] > 0
    assert result["dashboard"]["queries"] > 0
    assert result["write_path"]["ceiling_1_conn_tps"] > 0
    assert result["write_path"]["ceiling_tool"] in ("pgbench", "psycopg")


@pytest.mark.django_db(transaction=True)
def test_every_run_starts_with_the_calibration_and_reports_where_its_time_went(postgres, capsys):
    call_command("benchmark", "--json", "--scale", "0.002", "--only", "sku_list")
    out, err = capsys.readouterr()
    result = json.loads(out)
    calibration = result["calibration"]
    assert calibration["python_loop_s"] > 0
    assert calibration["commits_per_s"] > 0
    # The calibration line comes before any section's progress.
    lines = err.splitlines()
    first_section = next(n for n, line in enumerate(lines) if "sku_list:" in line)
    assert any("calibration:" in line for line in lines[:first_section])
    assert set(result["sections_seconds"]) == {"sku_list"}
    assert result["total_seconds"] >= result["sections_seconds"]["sku_list"]


def _state(skus) -> tuple[list, list, list]:
    """Balances, ledger rows and outbox rows of these SKUs, by position among them (so two
    sets of SKUs compare), without ids, event ids or times."""
    position = {sku.pk: n for n, sku in enumerate(skus)}
    balances = sorted(
        (position[sku_id], bin_id, q)
        for sku_id, bin_id, q in OnHand.objects.filter(sku__in=skus).values_list(
            "sku_id", "bin_id", "quantity"
        )
    )
    moves = [
        (position[m.sku_id], m.bin_id, m.kind, m.quantity, m.balance_after, m.source_system_id,
         m.leg, m.reference, m.note, m.actor_id)
        for m in StockMovement.objects.filter(sku__in=skus).order_by("id")
    ]  # fmt: skip
    outbox = [
        position[sku_id]
        for sku_id in OutboxEntry.objects.filter(sku__in=skus)
        .order_by("id")
        .values_list("sku_id", flat=True)
    ]
    return balances, moves, outbox


@pytest.mark.django_db(transaction=True)
def test_the_raw_baseline_has_exactly_the_effect_of_the_service(postgres, shelf):
    """The same movements through ``on_hand_adjust`` and as the raw statement, on two sets of
    SKUs stocked alike: the same balances, ledger rows and outbox rows."""
    bins = [BinFactory() for _ in range(3)]
    service_skus = [SkuFactory() for _ in range(4)]
    raw_skus = [SkuFactory() for _ in range(4)]
    for skus in (service_skus, raw_skus):
        for n, sku in enumerate(skus):
            on_hand_adjust(bin=bins[n % 3], sku=sku, delta=5 + n, kind="receive",
                           source_system=shelf, source_event_id=f"seed-{sku.pk}")  # fmt: skip
    picks = [0, 1, 1, 3, 2, 0, 0, 3, 1, 2] * 3
    for n, i in enumerate(picks):
        sku = service_skus[i]
        on_hand_adjust(bin=bins[i % 3], sku=sku, delta=1, kind="receive", source_system=shelf,
                       source_event_id=f"service-{n}")  # fmt: skip
    with RawMovements(connection.settings_dict, source_system_id=shelf.pk) as raw:
        raw.apply([(bins[i % 3].pk, raw_skus[i].pk) for i in picks], tag="raw")

        assert _state(raw_skus) == _state(service_skus)
        # Like the service's statement, it writes nothing for an event id already applied
        # (the service then answers with the first movement) or below zero.
        before = _state(raw_skus)
        with pytest.raises(RuntimeError, match="wrote nothing"):
            raw.apply([(bins[0].pk, raw_skus[0].pk)], tag="raw")
        with pytest.raises(RuntimeError, match="wrote nothing"):
            raw.apply([(bins[0].pk, raw_skus[0].pk)], tag="too-many", delta=-1000)
        assert _state(raw_skus) == before


def _section(name, calls, *, change=False):
    def build():
        calls.append(name)
        Bin.objects.create(code="BUILT", zone="B")
        return "built"

    def run(ctx):
        value = ctx.from_template("one-bin", build)
        seen = sorted(Bin.objects.using(ctx.alias).values_list("code", flat=True))
        if change:
            Bin.objects.using(ctx.alias).create(code="CHANGED", zone="C")
        return {"value": value, "bins": seen}

    return Section(name=name, run=run)


@pytest.mark.django_db(transaction=True)
def test_data_built_once_per_run_is_copied_untouched_for_each_section(postgres):
    """The second section gets a copy of what the first built, not the first's changes."""
    calls = []
    results = run_sections(
        [_section("first", calls, change=True), _section("second", calls)],
        scale=1.0,
        progress=lambda text: None,
    )
    assert calls == ["first"]
    assert results["second"] == results["first"] == {"value": "built", "bins": ["BUILT"]}


@pytest.mark.django_db(transaction=True)
def test_bins_are_dealt_round_the_warehouses_asked_for(postgres, capsys):
    """``--warehouses 3``: the shelf's bins are in the default warehouse, WH-2 and WH-3, and
    the sections run on that shelf as on one warehouse's."""
    from inventory.bench.runner import BenchContext

    call_command("benchmark", "--json", "--scale", "0.002", "--warehouses", "3",
                 "--only", "sku_detail")  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["warehouses"] == 3 and result["sku_detail"]["queries"] > 0
    ctx = BenchContext(alias="default", scale=1.0, progress=lambda text: None, warehouses=3)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ctx.bin_warehouse('i')} FROM generate_series(1, 6) AS n(i)")
        dealt = [row[0] for row in cursor.fetchall()]
    codes = dict(Warehouse.objects.values_list("pk", "code"))
    assert [codes[pk] for pk in dealt] == ["WH-2", "WH-3", "MAIN"] * 2
    with pytest.raises(CommandError, match="1 to 10"):
        call_command("benchmark", "--warehouses", "0", "--only", "sku_list")
