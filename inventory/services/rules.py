"""The shelf's movement rules, each written once with one message.

``on_hand_adjust`` checks every movement against them; a form or a service of another app
that wants to refuse early (before its own writes) calls the same check and puts the
``MovementRefused`` beside its own field (``form.add_error(FIELDS[exc.field], str(exc))``).

- A movement moves a whole, non-zero number of units.
- Nothing can be put into an inactive bin (taking units out of one is allowed: that is how
  it is emptied).
- A SKU the catalog no longer has (inactive) cannot be received; it can still be shipped,
  counted or written off.
"""

from django.utils.translation import gettext as _

from inventory.exceptions import MovementRefused
from inventory.models import Bin, Sku, StockMovement


def units_check(units: object) -> None:
    """Refuse anything but a whole, non-zero number of units."""
    if not isinstance(units, int) or isinstance(units, bool) or units == 0:
        raise MovementRefused(
            "A movement moves a whole, non-zero number of units.", field="quantity"
        )


def bin_check_put(bin: Bin) -> None:
    """Refuse putting units into an inactive bin."""
    if not bin.active:
        raise MovementRefused(
            _("Bin %(code)s is inactive; put the units in another bin.") % {"code": bin.code},
            field="bin",
        )


def sku_check_receive(sku: Sku) -> None:
    """Refuse receiving a SKU the catalog no longer has."""
    if not sku.active:
        raise MovementRefused(
            _("%(code)s is no longer in the catalog; set the units aside and tell a manager.")
            % {"code": sku.code},
            field="sku",
            code="inactive_sku",
        )


def movement_check(*, bin: Bin, sku: Sku, delta: int, kind: str) -> None:
    """Every rule a movement of ``delta`` units of ``sku`` into (or out of) ``bin`` must
    keep; the first broken one raises ``MovementRefused``."""
    units_check(delta)
    if kind == StockMovement.Kind.RECEIVE:
        sku_check_receive(sku)
    if delta > 0:
        bin_check_put(bin)
