"""Domain errors of the shelf. Each says, in words a warehouse manager reads, what is wrong."""

from django.utils.translation import gettext as _


class InventoryError(Exception):
    """Base of every domain error raised by ``inventory.services``."""


class InsufficientStock(InventoryError):
    def __init__(self, *, bin_code: str, sku_code: str, requested: int, on_hand: int) -> None:
        self.bin_code = bin_code
        self.sku_code = sku_code
        self.requested = requested
        self.on_hand = on_hand
        self.short_by = requested - on_hand
        super().__init__(
            _(
                "Bin %(bin)s holds %(on_hand)s of %(sku)s; cannot take %(requested)s "
                "(short by %(short)s)."
            )
            % {
                "bin": bin_code,
                "on_hand": on_hand,
                "sku": sku_code,
                "requested": requested,
                "short": self.short_by,
            }
        )


class InvalidMovement(InventoryError):
    """A movement that makes no sense: zero units, a transfer into its own bin, …"""


class MovementRefused(InvalidMovement):
    """A movement the shelf's rules refuse (``inventory.services.rules``): inactive bin or
    SKU, not a whole non-zero number of units. ``field`` names what is wrong ("bin", "sku"
    or "quantity"), for a form or an API to put the message beside its own field; ``code``
    is the API's error code for it."""

    def __init__(self, message: str, *, field: str, code: str = "invalid_movement") -> None:
        self.field = field
        self.code = code
        super().__init__(message)


class EventIdReused(InvalidMovement):
    """An event id (an API's Idempotency-Key) that already names a different movement of
    the same source system. Nothing was written; ``movement`` is the first one it names."""

    def __init__(self, *, source_system: str, event_id: str, movement) -> None:
        self.source_system = source_system
        self.event_id = event_id
        self.movement = movement
        super().__init__(
            f"Event id {event_id!r} of {source_system} already names another movement "
            f"(#{movement.pk}: {movement}); a new movement needs an event id of its own."
        )


class NotOwner(InventoryError):
    """A system tried to write a fact that it does not own. The write was refused."""

    def __init__(self, *, fact: str, system: str, owner: str | None) -> None:
        self.fact = fact
        self.system = system
        self.owner = owner
        owner_text = f"{owner} owns it" if owner else "it has no owner (a gap)"
        super().__init__(f"{system} may not write {fact}: {owner_text}. Refused and recorded.")


class BinCodeInvalid(InventoryError):
    """A new bin's code that could not be printed on a label (or read back from one)."""
