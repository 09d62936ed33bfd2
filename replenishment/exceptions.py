"""Domain errors of replenishment, worded for the person at the dock or the manager."""

from inventory.exceptions import InventoryError


class ReplenishmentError(InventoryError):
    """A purchase order action that cannot happen: wrong status, unknown line, …"""


class ReceiptRefused(ReplenishmentError):
    """A receipt that cannot be booked; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class TransferRefused(ReplenishmentError):
    """A transfer action that cannot happen, changing nothing. ``field`` names the form field
    it belongs to; ``line`` the position (from 0) of the draft line it is about."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        self.field = field
        self.line = line
        super().__init__(message)
