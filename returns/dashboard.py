"""What returns add to the managers' dashboard (registered in ReturnsConfig.ready)."""

from django.urls import reverse
from django.utils.translation import gettext as _

from inventory.selectors import Figure, Read, read_count, read_together
from returns import selectors


def figure_reads() -> dict[str, Read]:
    """Returns awaiting arrival and how many of them are late, read in the dashboard's one
    figures query."""
    awaiting = selectors.returns_awaiting_to_count()
    return {"n": read_count(awaiting), "late": read_count(awaiting.filter(is_late=True))}


def figures(read: dict | None = None) -> list[Figure]:
    row = read if read is not None else read_together(**figure_reads())
    return [
        Figure(
            "returns_awaiting",
            _("returns awaiting arrival"),
            str(row["n"]),
            _("%(late)s late") % {"late": row["late"]} if row["late"] else _("none late"),
            reverse("returns:overview"),
        ),  # fmt: skip
    ]
