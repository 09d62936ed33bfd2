from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from inventory import selectors
from inventory.models import Bin, Discrepancy, Fact, Sku
from inventory.services import discrepancy_record


class Command(BaseCommand):
    help = (
        "Check that every bin's balance equals the sum of its ledger movements. Each mismatch "
        "is listed, recorded as a discrepancy that asks for a count of the bin, and makes the "
        "command exit non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-record", action="store_true", help="Only list; record nothing.")

    def handle(self, *args, **options):
        mismatches = selectors.ledger_mismatches()
        bins = {b.code: b for b in Bin.objects.filter(code__in={m.bin_code for m in mismatches})}
        skus = {s.code: s for s in Sku.objects.filter(code__in={m.sku_code for m in mismatches})}
        already = set(
            Discrepancy.objects.open()
            .filter(kind=Discrepancy.Kind.LEDGER_MISMATCH)
            .values_list("bin__code", "sku__code")
        )
        for m in mismatches:
            self.stdout.write(
                f"MISMATCH bin {m.bin_code} sku {m.sku_code}: balance {m.balance}, "
                f"ledger sum {m.ledger_sum} (difference {m.difference:+d})"
            )
            if options["no_record"] or (m.bin_code, m.sku_code) in already:
                continue
            discrepancy_record(
                kind=Discrepancy.Kind.LEDGER_MISMATCH,
                fact=Fact.ON_HAND,
                sku=skus[m.sku_code],
                bin=bins[m.bin_code],
                owner_value=m.ledger_sum,
                consumer_value=m.balance,
                detail=(
                    f"Bin {m.bin_code} holds a balance of {m.balance} of {m.sku_code} but its "
                    f"ledger adds up to {m.ledger_sum}: count the bin."
                ),
                request_count=True,
                trigger="verify_ledger",
            )
        derived = self._derived_checks()
        if mismatches or derived:
            raise CommandError(
                f"{len(mismatches)} balance(s) differ from their ledger"
                + (f", {len(derived)} figure(s) kept from it differ" if derived else "")
                + "."
            )
        self.stdout.write(self.style.SUCCESS("Ledger verified: every balance equals its ledger."))

    def _derived_checks(self) -> list[str]:
        """What the apps keep from the ledger (their AppConfig's ``ledger_checks``: each
        returns a line per figure that differs from the ledger), listed and counted."""
        lines = []
        for config in apps.get_app_configs():
            for path in getattr(config, "ledger_checks", ()):
                lines += import_string(path)()
        for line in lines:
            self.stdout.write(line)
        return lines
