"""What returns add to the managers' dashboard (registered in ReturnsConfig.ready)."""

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from inventory.selectors import Figure
from returns import selectors


def figures() -> list[Figure]:
    row = selectors.returns_awaiting().aggregate(
        n=Count("id"), late=Count("id", filter=Q(is_late=True))
    )
    return [
        Figure(
            "returns_awaiting",
            _("returns awaiting arrival"),
            str(row["n"]),
            _("%(late)s late") % {"late": row["late"]} if row["late"] else _("none late"),
            reverse("returns:overview"),
        ),  # fmt: skip
    ]
