"""Domain errors of the shelf. Each says, in words a warehouse manager reads, what is wrong."""


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
            f"Bin {bin_code} holds {on_hand} of {sku_code}; cannot take {requested} "
            f"(short by {self.short_by})."
        )


class InvalidMovement(InventoryError):
    """A movement that makes no sense: zero units, a transfer into its own bin, …"""


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
