from django.core.management.base import BaseCommand, CommandError

from inventory import selectors
from inventory.models import System
from inventory.services.runs import reconcile_now


class Command(BaseCommand):
    help = "Compare every storefront's numbers with the shelf; record and correct each gap."

    def add_arguments(self, parser):
        parser.add_argument("--storefront", help="Only this storefront system (by name).")

    def handle(self, *args, **options):
        storefronts = selectors.storefronts_for_reconcile()
        if options["storefront"]:
            storefronts = [s for s in storefronts if s.name == options["storefront"]]
            if not storefronts:
                raise CommandError(f"No active storefront named {options['storefront']!r}.")
        for storefront in storefronts:
            report = reconcile_now(storefront=System.objects.get(pk=storefront.pk))
            self.stdout.write(
                f"{storefront.name}: {report.skus_compared} SKUs compared, "
                f"{report.gaps} gaps, {report.discrepancies_written} discrepancies written, "
                f"{report.corrected} corrected, {report.counts_requested} counts requested, "
                f"{report.skipped_in_flight} skipped (push in flight), "
                f"{report.orders_at_risk} new orders-at-risk."
            )
