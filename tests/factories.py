from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from inventory.models import Bin, Commitment, OnHand, Sku, System, Warehouse


class SystemFactory(DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"system-{n}")
    kind = System.Kind.SCANNER


class WarehouseFactory(DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"WH-{n + 2}")
    name = factory.LazyAttribute(lambda w: f"Warehouse {w.code}")


class BinFactory(DjangoModelFactory):
    class Meta:
        model = Bin

    code = factory.Sequence(lambda n: f"T-{n:03}")
    warehouse = factory.LazyFunction(lambda: Warehouse.objects.get(is_default=True))
    zone = "T"
    walk_order = factory.Sequence(lambda n: n)


class SkuFactory(DjangoModelFactory):
    class Meta:
        model = Sku

    code = factory.Sequence(lambda n: f"SKU-{n:05}")
    title = factory.Sequence(lambda n: f"Test item {n}")
    unit_cost = Decimal("2.50")


class OnHandFactory(DjangoModelFactory):
    """A balance row at zero; stock changes only through ``on_hand_adjust``."""

    class Meta:
        model = OnHand

    bin = factory.SubFactory(BinFactory)
    sku = factory.SubFactory(SkuFactory)


class CommitmentFactory(DjangoModelFactory):
    class Meta:
        model = Commitment

    sku = factory.SubFactory(SkuFactory)
    source_system = factory.LazyFunction(lambda: System.objects.get(name="storefront"))
    order_ref = factory.Sequence(lambda n: f"#{1000 + n}")
    quantity = 1


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
