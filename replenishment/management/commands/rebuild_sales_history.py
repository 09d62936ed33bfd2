from django.core.management.base import BaseCommand

from replenishment.services.sales_history import sales_history_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the kept sales history (each SKU's units shipped and in-stock days over the "
        "window of closed days) from the ledger. Safe at any time; reads go on meanwhile."
    )

    def handle(self, *args, **options):
        self.stdout.write(sales_history_rebuild().summary())
