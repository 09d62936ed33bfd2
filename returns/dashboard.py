"""What returns add to the managers' dashboard (registered in ReturnsConfig.ready)."""

from django.db.models import Count, Q
from django.urls import reverse

from inventory.selectors import Figure
from returns import selectors


def figures() -> list[Figure]:
    row = selectors.returns_awaiting().aggregate(
        n=Count("id"), late=Count("id", filter=Q(is_late=True))
    )
    return [
        Figure(
            "returns_awaiting",
            "returns awaiting arrival",
            str(row["n"]),
            f"{row['late']} late" if row["late"] else "none late",
            reverse("returns:overview"),
        ),  # fmt: skip
    ]
