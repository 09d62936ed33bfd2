import factory
from factory.django import DjangoModelFactory

from inventory.models import ShelfEvidence
from inventory.services import shelf_evidence_record
from replenishment.models import PurchaseOrder, PurchaseOrderLine, ReorderPolicy, Supplier
from tests.factories import SkuFactory


def shelf_counted(*skus, kind: str = ShelfEvidence.Kind.ZERO) -> None:
    """The shelf has counted these SKUs (through inventory's service): their on-hand, even
    an empty shelf's 0, is known, so coverage works its figures out."""
    shelf_evidence_record(skus=skus, kind=kind, reference="test count")


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
