"""Labels for a return's units confirmed sellable, one per unit, to stick on before shelving."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from inventory.label_views import units_labels
from returns import selectors


@require_GET
@permission_required("returns.receive_returns", raise_exception=True)
def return_labels(request: HttpRequest, pk: int) -> HttpResponse:
    if (rma := selectors.return_for_receiving(pk=pk)) is None:
        raise Http404("No such return.")
    return units_labels(
        request,
        rows=selectors.sellable_units_for_labels(rma=rma),
        title=f"Labels for return {rma.number}: units confirmed sellable",
        back=reverse("returns:receipt", args=[rma.pk]),
        name=f"return-{rma.number}",
    )
