"""Domain errors of replenishment, worded for the person at the dock or the manager."""

from inventory.exceptions import InventoryError


class ReplenishmentError(InventoryError):
    """A purchase order action that cannot happen: wrong status, unknown line, …"""


class ReceiptRefused(ReplenishmentError):
    """A receipt that cannot be booked; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)
