"""Demo data for replenishment: suppliers, policies, open purchase orders, four weeks of sales.

Run after ``seed_demo`` (it needs its bins and SKUs). Idempotent: suppliers and policies
are created once, each purchase order is keyed, and every history movement has a fixed
event id (a SKU whose history is already there is left alone), so running it again
changes nothing. History goes through the shelf's one write path, stamped with the time it
happened, in time order per SKU, so every balance stays ≥ 0 and equals its ledger.
"""

import random
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory.models import Bin, Sku, StockMovement, System
from inventory.services import on_hand_adjust
from replenishment.models import PurchaseOrder, PurchaseOrderLine, ReorderPolicy, Supplier
from replenishment.selectors import coverage_rows, coverage_window
from replenishment.services import (
    purchase_order_create,
    purchase_order_line_receive,
    purchase_order_send,
)

Kind = StockMovement.Kind
SEED_PREFIX = "seed-history:"
SEED_KEY = "seed-demo"
HISTORY_EVERY = 12  # one SKU in twelve gets four weeks of sales

SUPPLIERS = {
    "Northwind Textiles": "orders@northwind.example",
    "Harbour Ceramics": "sales@harbour-ceramics.example",
    "Papercraft & Co": "trade@papercraft.example",
    "Metro Print": "po@metroprint.example",
}
DEFAULT_POLICY = dict(
    supplier="Northwind Textiles",
    lead_time_days=7,
    review_period_days=7,
    safety_stock_days=3,
    min_order_qty=6,
    case_pack=6,
    target_days=14,
)
# Item words in a SKU's title → its own policy (the rest use the default).
ITEM_POLICIES = [
    (
        ("Mug", "Water bottle"),
        dict(
            supplier="Harbour Ceramics",
            lead_time_days=10,
            review_period_days=7,
            safety_stock_days=4,
            min_order_qty=12,
            case_pack=12,
            target_days=21,
        ),
    ),
    (
        ("Notebook", "Poster", "Sticker pack"),
        dict(
            supplier="Papercraft & Co",
            lead_time_days=5,
            review_period_days=7,
            safety_stock_units=10,
            min_order_qty=50,
            case_pack=25,
            target_days=14,
        ),
    ),
    (
        ("T-shirt", "Hoodie"),
        dict(
            supplier="Metro Print",
            lead_time_days=14,
            review_period_days=7,
            safety_stock_days=5,
            min_order_qty=10,
            case_pack=5,
            target_days=21,
        ),
    ),
]


class Command(BaseCommand):
    help = "Load replenishment demo data: suppliers, policies, purchase orders, sales history."

    def handle(self, *args, **options):
        with transaction.atomic():
            skus = list(Sku.objects.filter(active=True).order_by("code"))
            bins = list(Bin.objects.filter(active=True).order_by("walk_order", "code"))
            if not skus or not bins:
                raise CommandError("No bins or SKUs yet: run `manage.py seed_demo` first.")
            suppliers = self._suppliers()
            policies = self._policies(suppliers, skus)
            moved, with_history = self._history(skus[::HISTORY_EVERY], bins)
            orders = self._purchase_orders(suppliers, skus, bins)
        needed = len(coverage_rows(needed_only=True))
        self.stdout.write(
            self.style.SUCCESS(
                f"Replenishment demo ready: {len(suppliers)} suppliers, {policies} new policies, "
                f"{moved} new history movements for {with_history} SKUs, {orders} new purchase "
                f"orders; {needed} SKUs to reorder now."
            )
        )

    def _suppliers(self) -> dict[str, Supplier]:
        return {
            name: Supplier.objects.get_or_create(name=name, defaults={"email": email})[0]
            for name, email in SUPPLIERS.items()
        }

    def _policies(self, suppliers: dict[str, Supplier], skus: list[Sku]) -> int:
        created = 0
        if not ReorderPolicy.objects.filter(sku=None).exists():
            ReorderPolicy.objects.create(
                sku=None, **(DEFAULT_POLICY | {"supplier": suppliers[DEFAULT_POLICY["supplier"]]})
            )
            created += 1
        have = set(ReorderPolicy.objects.exclude(sku=None).values_list("sku_id", flat=True))
        new = []
        for sku in skus:
            rule = next(
                (p for words, p in ITEM_POLICIES if any(w in sku.title for w in words)), None
            )
            if rule and sku.pk not in have:
                new.append(
                    ReorderPolicy(sku=sku, **(rule | {"supplier": suppliers[rule["supplier"]]}))
                )
        ReorderPolicy.objects.bulk_create(new, batch_size=500)
        return created + len(new)

    def _history(self, skus: list[Sku], bins: list[Bin]) -> tuple[int, int]:
        """Four weeks of shipments per SKU: a delivery, daily sales, stock-outs, a restock."""
        shelf = inventory_selectors.shelf_system()
        storefront = System.objects.get(name="storefront")
        done = {
            event.split(":")[1]
            for event in StockMovement.objects.filter(
                source_event_id__startswith=SEED_PREFIX
            ).values_list("source_event_id", flat=True)
        }
        homes = inventory_selectors.home_bins_of_skus(skus=skus)
        bins_by_id = {b.pk: b for b in bins}
        window = coverage_window(days=28)
        moved = seeded = 0
        for n, sku in enumerate(skus):
            if sku.code in done:
                continue
            bin = bins_by_id.get(homes.get(sku.pk)) or bins[n % len(bins)]
            history = _SkuHistory(
                sku=sku, bin=bin, start=window.start, shelf=shelf, storefront=storefront
            )
            history.play(days=window.days, stock_out=n % 4 == 1)
            moved += history.events
            seeded += 1
        return moved, seeded

    def _purchase_orders(self, suppliers, skus, bins) -> int:
        """A sent order, a partly received one and a draft (keyed: created once)."""
        if PurchaseOrder.objects.filter(request_key=SEED_KEY).exists():
            return 0
        by_supplier = {name: [] for name in suppliers}
        for policy in ReorderPolicy.objects.exclude(sku=None).select_related("sku", "supplier"):
            if policy.sku.active:
                by_supplier[policy.supplier.name].append(policy.sku)
        today = timezone.localdate()

        def create(name, lines, days):
            return purchase_order_create(
                supplier_id=suppliers[name].pk,
                lines=[(sku.pk, units) for sku, units in lines],
                request_key=SEED_KEY,
                expected_at=today + timedelta(days=days),
            )

        orders = 0
        mugs = sorted(by_supplier["Harbour Ceramics"], key=lambda s: s.code)[:3]
        if mugs:
            purchase_order_send(po=create("Harbour Ceramics", [(s, 24) for s in mugs], 4))
            orders += 1
        paper = sorted(by_supplier["Papercraft & Co"], key=lambda s: s.code)[:2]
        if paper:
            po = purchase_order_send(po=create("Papercraft & Co", [(s, 50) for s in paper], 1))
            line = PurchaseOrderLine.objects.filter(po=po).order_by("pk").first()
            purchase_order_line_receive(line=line, bin=bins[0], units=20, key=f"{SEED_KEY}-r1")
            orders += 1
        shirts = sorted(by_supplier["Metro Print"], key=lambda s: s.code)[:2]
        if shirts:
            create("Metro Print", [(s, 10) for s in shirts], 14)
            orders += 1
        return orders


class _SkuHistory:
    """One SKU's four weeks: a delivery before the window, daily sales, maybe a stock-out."""

    def __init__(self, *, sku, bin, start, shelf, storefront):
        self.sku, self.bin, self.start = sku, bin, start
        self.shelf, self.storefront = shelf, storefront
        self.rng = random.Random(sku.code)
        self.balance = 0
        self.events = 0

    def move(self, delta: int, kind: str, day: int, hour: int) -> None:
        self.events += 1
        on_hand_adjust(
            bin=self.bin,
            sku=self.sku,
            delta=delta,
            kind=kind,
            source_system=self.storefront if kind == Kind.SHIP else self.shelf,
            source_event_id=f"{SEED_PREFIX}{self.sku.code}:{self.events}",
            reference=f"H-{self.sku.code}-{day}" if kind == Kind.SHIP else "demo delivery",
            at=self.start + timedelta(days=day, hours=hour),
        )
        self.balance += delta

    def play(self, *, days: int, stock_out: bool) -> None:
        rate = self.rng.choice([0.5, 1, 1.5, 2, 3, 4])
        # A quarter of the SKUs get a small first delivery and run dry for a few days.
        self.move(round(rate * (8 if stock_out else 40)) + 2, Kind.RECEIVE, -1, 9)
        restock_day = None
        for day in range(days):
            if self.balance == 0 and restock_day is None:
                restock_day = day + self.rng.choice([3, 4, 5])
            if restock_day == day:
                self.move(round(rate * 14) + 2, Kind.RECEIVE, day, 8)
                restock_day = -1  # restocked once
            sold = min(self.balance, max(0, round(self.rng.gauss(rate, rate / 2))))
            if sold:
                self.move(-sold, Kind.SHIP, day, self.rng.randint(10, 17))
