"""Labels for a purchase order's units received, one per unit, to stick on before shelving."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from inventory.label_views import units_labels
from replenishment import selectors


@require_GET
@permission_required("replenishment.receive_purchaseorder", raise_exception=True)
def purchase_order_labels(request: HttpRequest, number: str) -> HttpResponse:
    if (po := selectors.purchase_order_with_lines(number=number)) is None:
        raise Http404("No such purchase order.")
    rows = [(line.sku.code, line.sku.title, line.received) for line in po.lines.all()]
    return units_labels(
        request,
        rows=[row for row in rows if row[2]],
        title=f"Labels for {po.number}: units received",
        back=reverse("replenishment:purchase-order-detail", args=[po.number]),
        name=po.number,
    )
