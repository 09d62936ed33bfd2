"""Errors of returns intake, each saying in a warehouse's words what is wrong and what to do."""

from inventory.exceptions import InventoryError


class ReturnsError(InventoryError):
    """Base of every refusal by ``returns.services``; nothing was changed."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field  # the form field the message belongs beside, if any


class UnknownCode(ReturnsError):
    """A scanned code that is neither a SKU of the catalog nor a bin."""


class GradeRefused(ReturnsError):
    """A grade that would break a rule (sellable without a bin, a wrong item restocked, …)."""


class BinUnknown(GradeRefused):
    """No bin has this code yet; a person may confirm creating it (``code``)."""

    def __init__(self, message: str, *, code: str, field: str = "") -> None:
        super().__init__(message, field=field)
        self.code = code


class ReceiptNotOpen(ReturnsError):
    """The box was confirmed already: its units can no longer change."""


class ConfirmationRefused(ReturnsError):
    """The box cannot be confirmed as it is (ungraded units, more than expected, …)."""
