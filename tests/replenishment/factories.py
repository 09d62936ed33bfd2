import factory
from factory.django import DjangoModelFactory

from replenishment.models import PurchaseOrder, PurchaseOrderLine, ReorderPolicy, Supplier
from tests.factories import SkuFactory


class SupplierFactory(DjangoModelFactory):
    class Meta:
        model = Supplier
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Supplier {n}")


class ReorderPolicyFactory(DjangoModelFactory):
    """A SKU's own policy; ``sku=None`` makes the default policy."""

    class Meta:
        model = ReorderPolicy

    sku = factory.SubFactory(SkuFactory)
    supplier = factory.SubFactory(SupplierFactory)
    lead_time_days = 7
    review_period_days = 7
    safety_stock_days = 3
    safety_stock_units = None
    min_order_qty = 1
    case_pack = 1
    target_days = 14


class PurchaseOrderFactory(DjangoModelFactory):
    class Meta:
        model = PurchaseOrder

    number = factory.Sequence(lambda n: f"PO-T{n:04}")
    supplier = factory.SubFactory(SupplierFactory)
    status = PurchaseOrder.Status.SENT


class PurchaseOrderLineFactory(DjangoModelFactory):
    class Meta:
        model = PurchaseOrderLine

    po = factory.SubFactory(PurchaseOrderFactory)
    sku = factory.SubFactory(SkuFactory)
    ordered = 10
