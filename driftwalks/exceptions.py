"""Domain errors of drift walks, in words a counter or a manager reads."""

from inventory.exceptions import InventoryError


class CountRefused(InventoryError):
    """A count, an assignment or a decision that cannot happen; nothing was changed."""
