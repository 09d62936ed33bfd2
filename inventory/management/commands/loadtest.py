"""``python manage.py loadtest``: many concurrent clients against gunicorn, a Celery worker
and PostgreSQL on loopback, for a bounded time; then proves nothing was lost or doubled."""

import json
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min

from inventory import loadtest, selectors
from inventory.models import DemoLevel, InboxEvent, OnHand, StockMovement, System


class Command(BaseCommand):
    help = "Drive the API and webhooks from many clients, then check the ledger and the sync."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument("--clients", type=int, default=16)
        parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError("loadtest needs PostgreSQL (DATABASE_URL=postgres://…).")
        if not settings.REDIS_URL:
            raise CommandError("loadtest needs Redis and a worker (REDIS_URL=redis://…).")
        say = self.stderr.write
        with loadtest.throwaway_database("onefact_load") as (name, url):
            say(f"database {name}: migrating and loading the demo data…")
            call_command("migrate", verbosity=0)
            call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
            shelf = System.objects.get(name="shelf")
            token = shelf.issue_token()
            env = loadtest.service_env(url)
            skus = list(
                OnHand.objects.filter(quantity__gt=0).values_list("sku__code", flat=True)[:200]
            )
            bins = list(
                OnHand.objects.filter(quantity__gt=0)
                .values_list("bin__code", flat=True)
                .distinct()[:40]
            )
            hot = skus[0]
            from config.celery import app

            app.control.purge()
            base_url, server = loadtest.gunicorn(env, workers=options["workers"])
            with loadtest.celery_worker(env), server:
                say(f"{options['clients']} clients for {options['seconds']:.0f}s on {base_url}…")
                started = time.monotonic()
                outcomes = loadtest.drive(
                    base_url=base_url, token=token, secret=_demo_secret(env), skus=skus,
                    bins=bins, hot=hot, seconds=options["seconds"], clients=options["clients"],
                    ops={"movement": 6, "transfer": 1, "order": 3},
                )  # fmt: skip
                elapsed = time.monotonic() - started
                say("settling: processing the inbox and pushing to the storefront…")
                settled = _settle()
            report = loadtest.LoadReport(seconds=elapsed, clients=options["clients"],
                                         outcomes=outcomes)  # fmt: skip
            report.checks = _checks(outcomes, settled)
            report.details["hot_sku_movements"] = StockMovement.objects.filter(
                sku__code=hot
            ).count()
        summary = report.summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            for key, value in summary.items():
                self.stdout.write(f"{key:>20}: {value}")
        if not report.ok:
            failed = [k for k, v in report.checks.items() if not v]
            raise CommandError(f"load run broke invariants: {', '.join(failed)}")


def _demo_secret(env) -> str:
    return env["STOREFRONT_STOREFRONT_WEBHOOK_SECRET"]  # service_env always sets one


def _settle(timeout: float = 120) -> bool:
    """Wait for every stored event to be processed, then push the storefront up to date."""
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


def _checks(outcomes, settled: bool) -> dict[str, bool]:
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
