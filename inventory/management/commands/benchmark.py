"""``python manage.py benchmark``: the thin command over ``inventory.bench``."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from inventory.bench import discover_sections, run_sections


class Command(BaseCommand):
    help = "Time OneFact's hot paths on production-size data in a throwaway database."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="10× smaller data (scale 0.1).")
        parser.add_argument("--scale", type=float, help="Data size as a fraction of full size.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--allow-sqlite", action="store_true", help="Run on SQLite (figures say little)."
        )
        parser.add_argument(
            "--only", action="append", default=[], help="Only this section (repeatable)."
        )
        parser.add_argument(
            "--warehouses",
            type=int,
            default=1,
            help="Deal the bins round this many warehouses (1-10; 1: the default one).",
        )

    def handle(self, *args, **options):
        sections = discover_sections()
        wanted = [n for names in options["only"] for n in names.split(",") if n] or list(sections)
        unknown = sorted(set(wanted) - set(sections))
        if unknown:
            raise CommandError(
                f"Unknown section(s) {', '.join(unknown)}; known: {', '.join(sections)}."
            )
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        if vendor == "sqlite" and not options["allow_sqlite"]:
            raise CommandError(
                "The configured database is SQLite: set DATABASE_URL to PostgreSQL, or pass "
                "--allow-sqlite to run anyway (the figures say little about production)."
            )
        if vendor not in ("postgresql", "sqlite"):
            raise CommandError(f"The benchmark runs on PostgreSQL or SQLite, not {vendor}.")
        scale = options["scale"]
        if scale is None:
            scale = 0.1 if options["quick"] else 1.0
        if not 0 < scale <= 10:
            raise CommandError("--scale must be above 0 and at most 10.")

        if not 1 <= options["warehouses"] <= 10:
            raise CommandError("--warehouses must be 1 to 10.")
        report: dict = {"warehouses": options["warehouses"]}
        results = run_sections([sections[n] for n in wanted], scale, self._progress,
                               report=report, warehouses=options["warehouses"])  # fmt: skip
        if options["json"]:
            # The sections' results, then the run's own figures beside them: the calibration
            # (compare two runs by their ratio to it) and where the wall time went.
            self.stdout.write(json.dumps(results | report))
            return
        self.stdout.write(f"OneFact benchmark · {vendor} · scale {scale:g}")
        self.stdout.write(f"{'section':<14} result")
        for name, result in results.items():
            text = ", ".join(
                f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}"
                for key, value in result.items()
            )
            self.stdout.write(f"{name:<14} {text}")
        seconds = ", ".join(f"{name} {s:g}" for name, s in report["sections_seconds"].items())
        self.stdout.write(f"{'seconds':<14} total {report['total_seconds']:g}: {seconds}")

    def _progress(self, text: str) -> None:
        self.stderr.write(f"benchmark: {text}")
        self.stderr.flush()
