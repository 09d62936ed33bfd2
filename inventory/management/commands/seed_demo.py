"""Demo data for the embedded default: bins, ~560 SKUs with stock, the demo users.

Idempotent: bins, SKUs and users are created once; every seed movement has a fixed
event id, so running it again replays nothing.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from inventory import selectors, services
from inventory.models import (
    Bin,
    Discrepancy,
    ShelfEvidence,
    Sku,
    StockMovement,
    System,
    default_warehouse_id,
)
from inventory.seed import DEMO_USERS
from inventory.storefront.demo.models import DemoLevel
from inventory.storefront.demo.services import demo_storefront_drift, demo_storefront_seed

ZONES = ["A", "B", "C", "D"]
BINS_PER_ZONE = 20
SKU_COUNT = 560


_COLOURS = ["Red", "Blue", "Green", "Black", "White", "Grey", "Olive", "Navy", "Sand", "Rust"]
_ITEMS = [
    "T-shirt", "Hoodie", "Cap", "Mug", "Water bottle", "Notebook", "Tote bag",
    "Socks", "Beanie", "Poster", "Sticker pack", "Phone case", "Scarf", "Apron",
]  # fmt: skip
_SIZES = ["S", "M", "L", "XL"]


def _sku_title(n: int) -> str:
    colour = _COLOURS[n % len(_COLOURS)]
    item = _ITEMS[(n // len(_COLOURS)) % len(_ITEMS)]
    size = _SIZES[(n // (len(_COLOURS) * len(_ITEMS))) % len(_SIZES)]
    return f"{colour} {item}, size {size}"


class Command(BaseCommand):
    help = "Load demo bins, SKUs, stock and the demo users (safe to run again)."

    def handle(self, *args, **options):
        with transaction.atomic():
            bins = self._bins()
            skus = self._skus()
            moved = self._stock(bins, skus)
            self._users()
            # Suppliers, policies, purchase orders and four weeks of sales history.
            call_command("seed_replenishment", stdout=self.stdout)
            self._counted(skus)
            demo_levels = demo_storefront_seed()
            live = self._live()
        self.stdout.write(f"Demo storefront: {demo_levels} levels created{live}.")
        found = self._disagreements(skus)
        self.stdout.write(f"Demo disagreements: {found} found by a reconciliation.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(bins)} bins, {len(skus)} SKUs, {moved} new movements."
            )
        )
        for username, password, group, _ in DEMO_USERS:
            self.stdout.write(f"  {group:<16} login: {username} / {password}")

    def _counted(self, skus: list[Sku]) -> None:
        """The seed's opening stock is a count of the demo warehouse: every SKU is known."""
        services.shelf_evidence_record(
            skus=skus, kind=ShelfEvidence.Kind.COUNT, reference="demo opening count"
        )

    def _live(self) -> str:
        """The demo storefront starts in step with a counted shelf, so it goes live at once
        (audited, as a manager's switch would be). A real storefront joins observing."""
        storefront = System.objects.get(name="storefront")
        change = services.storefront_mode_set(
            storefront=storefront,
            mode=System.SyncMode.LIVE,
            reason="Demo data: the seed counted the shelf and the demo storefront starts in step.",
            actor=None,
        )
        return ", live" if change else ""

    def _disagreements(self, skus: list[Sku]) -> int:
        """Numbers edited by hand in the demo storefront, found by a real reconciliation:
        the dashboard opens on gaps, their corrections and the counts they asked for, spread
        over the last ten days so the charts have a history. Only on a fresh database."""
        if Discrepancy.objects.exists():
            return 0
        storefront = System.objects.get(name="storefront")
        services.storefront_push(storefront=storefront)  # in step first, whatever the broker
        rng = random.Random(11)
        codes = [s.code for s in rng.sample(skus, 16)]
        for level in DemoLevel.objects.filter(sku_code__in=codes).order_by("sku_code"):
            drift = rng.choice([-5, -4, -2, -1, 1, 2, 3, 6])
            demo_storefront_drift(sku_code=level.sku_code, quantity=max(0, level.quantity + drift))
        report = services.storefront_reconcile(storefront=storefront)
        for n, found in enumerate(Discrepancy.objects.order_by("pk")):
            back = timedelta(days=n % 10, hours=rng.randint(0, 5))
            Discrepancy.objects.filter(pk=found.pk).update(**{
                field: value - back
                for field in ("created_at", "corrected_at", "resolved_at")
                if (value := getattr(found, field)) is not None
            })  # fmt: skip
        return report.discrepancies_written

    def _bins(self) -> list[Bin]:
        home = default_warehouse_id()
        wanted = [
            Bin(code=f"{zone}-{n:02}", zone=zone, walk_order=z * 100 + n, warehouse_id=home)
            for z, zone in enumerate(ZONES)
            for n in range(1, BINS_PER_ZONE + 1)
        ]
        Bin.objects.bulk_create(wanted, ignore_conflicts=True)
        return list(Bin.objects.filter(code__in=[b.code for b in wanted]).order_by("walk_order"))

    def _skus(self) -> list[Sku]:
        rng = random.Random(7)
        wanted = [
            Sku(
                code=f"SKU-{n:05}",
                title=_sku_title(n),
                unit_cost=Decimal(rng.randrange(150, 4500)) / 100,
            )
            for n in range(1, SKU_COUNT + 1)
        ]
        Sku.objects.bulk_create(wanted, ignore_conflicts=True)
        return list(Sku.objects.filter(code__in=[s.code for s in wanted]).order_by("code"))

    def _stock(self, bins: list[Bin], skus: list[Sku]) -> int:
        shelf = selectors.shelf_system()
        done = set(
            StockMovement.objects.filter(
                source_system=shelf, source_event_id__startswith="seed:"
            ).values_list("source_event_id", flat=True)
        )
        rng = random.Random(42)
        moved = 0
        for sku in skus:
            for bin in rng.sample(bins, rng.choice([1, 1, 2, 3])):
                event_id = f"seed:{sku.code}:{bin.code}"
                quantity = rng.choice([0, 2, 4, 6, 8, 12, 20, 35, 60])
                if event_id in done or quantity == 0:
                    continue
                services.on_hand_adjust(
                    bin=bin,
                    sku=sku,
                    delta=quantity,
                    kind=StockMovement.Kind.RECEIVE,
                    source_system=shelf,
                    source_event_id=event_id,
                    reference="demo opening stock",
                )
                moved += 1
        return moved

    def _users(self) -> None:
        User = get_user_model()
        for username, password, group_name, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_staff}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=group_name))
