"""``python manage.py loadtest``: many concurrent clients against gunicorn, a Celery worker
and PostgreSQL on loopback, for a bounded time; then proves nothing was lost or doubled."""

import json
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from inventory.bench import loadtest
from inventory.models import OnHand, StockMovement, System


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
                    base_url=base_url, token=token, secret=loadtest.demo_secret(env), skus=skus,
                    bins=bins, hot=hot, seconds=options["seconds"], clients=options["clients"],
                    ops={"movement": 6, "transfer": 1, "order": 3},
                )  # fmt: skip
                elapsed = time.monotonic() - started
                say("settling: processing the inbox and pushing to the storefront…")
                settled = loadtest.settle()
            report = loadtest.LoadReport(seconds=elapsed, clients=options["clients"],
                                         outcomes=outcomes)  # fmt: skip
            report.checks = loadtest.checks(outcomes, settled)
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
