import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from inventory.models import Bin, OnHand, Sku, StockMovement
from inventory.roles import MANAGERS
from inventory.selectors import ledger_mismatches

ROOT = Path(__file__).resolve().parents[2]


def test_verify_ledger_passes_on_a_clean_shelf(stocked_bin, capsys):
    call_command("verify_ledger")
    assert "every balance equals its ledger" in capsys.readouterr().out


@pytest.mark.ledger_broken
def test_verify_ledger_lists_each_mismatch_and_fails(stocked_bin, sku, capsys):
    OnHand.objects.filter(bin=stocked_bin, sku=sku).update(quantity=4)
    with pytest.raises(CommandError, match="1 balance"):
        call_command("verify_ledger")
    assert "MISMATCH bin A-14 sku SKU-1: balance 4, ledger sum 10" in capsys.readouterr().out


def test_seed_demo_gives_a_consistent_demo_and_runs_again_unchanged(db, capsys):
    """One seed, checked for all it promises, then a second run that changes nothing (the
    seed costs seconds, so one test reads everything it left)."""
    from datetime import timedelta

    from django.utils import timezone

    from driftwalks.models import CountTask
    from inventory.models import Discrepancy
    from inventory.storefront.demo.models import DemoLevel

    call_command("seed_demo")
    # The demo storefront is filled, one level per SKU.
    assert "Demo storefront: 560 levels created" in capsys.readouterr().out
    assert DemoLevel.objects.count() == 560
    # The dashboard opens on gaps a reconciliation found, with some history.
    found = Discrepancy.objects.filter(kind=Discrepancy.Kind.STOREFRONT_GAP)
    assert found.count() >= 10 and found.filter(status="open").exists()
    assert found.filter(status="resolved", corrected_at__isnull=False).exists()
    assert found.filter(created_at__lt=timezone.now() - timedelta(days=5)).exists()  # history
    assert CountTask.objects.filter(triggers__discrepancy__in=found).exists()
    for gap in found:  # the storefront was corrected to the shelf's number
        level = DemoLevel.objects.get(sku_code=gap.sku.code)
        assert level.quantity == gap.correction == gap.owner_value
    counts = (Bin.objects.count(), Sku.objects.count(), StockMovement.objects.count())
    gaps = found.count()

    call_command("seed_demo")
    assert (Bin.objects.count(), Sku.objects.count(), StockMovement.objects.count()) == counts
    assert Discrepancy.objects.count() == gaps  # found once, on a fresh database
    assert counts[1] == 560
    assert OnHand.objects.filter(quantity__gt=0).values("sku").distinct().count() > 400
    assert ledger_mismatches() == []
    names = ["staff", "manager", "manager2", "admin"]
    users = get_user_model().objects.filter(username__in=names)
    assert sorted(u.username for u in users) == sorted(names)
    # Two managers: a count one of them recounted has another manager to decide it.
    assert users.filter(groups__name=MANAGERS).count() == 2
    assert users.get(username="admin").is_staff
    assert not users.get(username="staff").is_staff


def test_check_deploy_reports_nothing_with_production_values():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env |= {
        "DJANGO_SECRET_KEY": "prod-" + "k3y!" * 16,
        "DJANGO_ALLOWED_HOSTS": "onefact.example.com",
        "DATABASE_URL": "postgres://onefact@db.example.com:5432/onefact",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_settings_refuse_to_start_without_a_secret_key_in_production():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.ledger_broken
def test_verify_ledger_records_each_mismatch_once_and_asks_for_a_count(
    stocked_bin, sku, monkeypatch
):
    from inventory import hooks
    from inventory.models import Discrepancy

    requested = []
    monkeypatch.setattr(hooks, "_count_subscribers", [requested.append])
    OnHand.objects.filter(bin=stocked_bin, sku=sku).update(quantity=4)
    for _ in range(2):
        with pytest.raises(CommandError):
            call_command("verify_ledger")
    found = Discrepancy.objects.get(kind="ledger_mismatch")
    assert (found.bin, found.sku, found.owner_value, found.consumer_value) == (
        stocked_bin, sku, 10, 4
    )  # fmt: skip
    assert found.count_requested_at is not None
    assert [(r.sku, r.bins, r.trigger) for r in requested] == [
        (sku, [stocked_bin], "verify_ledger")
    ]


def test_loadtest_checks_take_a_refused_request_retried_later_as_a_new_attempt(
    db, stocked_bin, sku, shelf
):
    from inventory.bench.loadtest import Outcome, checks
    from inventory.services import on_hand_adjust

    def ship(key):
        return on_hand_adjust(bin=stocked_bin, sku=sku, delta=-1, kind="ship",
                              source_system=shelf, source_event_id=key).pk  # fmt: skip

    later = ship("refused-then-retried")  # the retry, once stock was there
    first = ship("accepted")
    outcomes = [
        Outcome("movement", "refused-then-retried", 409, 1.0),
        Outcome("replay", "refused-then-retried", 201, 1.0, [later], "refused-then-retried"),
        Outcome("movement", "accepted", 201, 1.0, [first]),
        Outcome("replay", "accepted", 200, 1.0, [first], "accepted"),
    ]
    held = checks(outcomes, settled=True)
    assert held["refused_left_nothing"] and held["replays_return_the_first"]
    assert held["accepted_in_ledger_once"]
    ship("refused-and-left-a-row")  # a refusal that wrote anyway is still caught
    outcomes.append(Outcome("movement", "refused-and-left-a-row", 409, 1.0))
    assert not checks(outcomes, settled=True)["refused_left_nothing"]
    outcomes.append(Outcome("replay", "accepted", 200, 1.0, [later], "accepted"))
    assert not checks(outcomes, settled=True)["replays_return_the_first"]
