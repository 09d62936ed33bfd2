from django.core.management.base import BaseCommand, CommandError

from inventory import selectors


class Command(BaseCommand):
    help = "Check that every bin's balance equals the sum of its ledger movements."

    def handle(self, *args, **options):
        mismatches = selectors.ledger_mismatches()
        for m in mismatches:
            self.stdout.write(
                f"MISMATCH bin {m.bin_code} sku {m.sku_code}: balance {m.balance}, "
                f"ledger sum {m.ledger_sum} (difference {m.difference:+d})"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} balance(s) differ from their ledger.")
        self.stdout.write(self.style.SUCCESS("Ledger verified: every balance equals its ledger."))
