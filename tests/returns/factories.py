"""Factories of returns intake. Stock still changes only through ``on_hand_adjust``."""

import uuid

import factory
from factory.django import DjangoModelFactory

from inventory.models import System
from returns.models import ReturnAuthorisation, ReturnLine


class ReturnAuthorisationFactory(DjangoModelFactory):
    class Meta:
        model = ReturnAuthorisation

    number = factory.Sequence(lambda n: f"R-T-{1000 + n}")
    return_ref = factory.LazyAttribute(lambda o: o.number)
    order_ref = factory.Sequence(lambda n: f"T-{1000 + n}")
    customer_name = "Ada Lovelace"
    origin = ReturnAuthorisation.Origin.STOREFRONT
    storefront = factory.LazyFunction(lambda: System.objects.get(name="storefront"))


class ReturnLineFactory(DjangoModelFactory):
    class Meta:
        model = ReturnLine

    rma = factory.SubFactory(ReturnAuthorisationFactory)
    line_ref = factory.Sequence(lambda n: str(n + 1))
    sku = None
    sku_code = factory.LazyAttribute(lambda o: o.sku.code if o.sku else "SKU-UNKNOWN")
    expected = 1


def key() -> str:
    return uuid.uuid4().hex
