"""Every write of returns intake.

The storefront owns the refund; the shelf owns the restock. So:

* a return (from the storefront's RETURN_OPENED event, or typed in by a manager) only says
  what is expected; it changes nothing on the shelf;
* a refund event only updates the mirrored refund status; it never changes on-hand;
* staff open a box (a receipt) by scanning, grade every unit (sellable into a named bin,
  damaged, wrong item) or mark expected units missing, and confirm the box once. Only at
  that confirmation do sellable units become ``return_restock`` movements through
  ``inventory.services.on_hand_adjust``; damaged units go to quarantine, wrong items and
  every other difference become ``return_mismatch`` discrepancies;
* the outcome per returned line goes back to the storefront after commit.

Nothing is restocked twice: confirmations carry an idempotency key, the return row is locked
while a box changes, the lines are locked in pk order while counted, every movement's event id
is derived from its unit's id, and a database constraint keeps each line's accounted units at
or below what was expected.
"""

from returns.services.arrivals import (
    ExpectedLine,
    OrderedLines,
    return_create_by_hand,
    return_open_from_event,
)
from returns.services.common import GRADE_DISPOSITION, MAX_QUANTITY, SHELF, Disposition, Grade
from returns.services.late import returns_flag_late
from returns.services.outcomes import (
    SendReport,
    return_outcomes_retry,
    return_outcomes_send,
    return_outcomes_send_due,
)
from returns.services.quarantine import (
    quarantine_restock,
    quarantine_write_off,
    return_mismatch_resolve,
)
from returns.services.receiving import (
    ConfirmResult,
    ScanResult,
    receipt_confirm,
    receipt_missing_mark,
    receipt_unit_grade,
    receipt_unit_remove,
    receipt_unit_scan,
    return_close,
)
from returns.services.refunds import refund_mirror_from_event

__all__ = [
    "ConfirmResult",
    "Disposition",
    "ExpectedLine",
    "GRADE_DISPOSITION",
    "Grade",
    "MAX_QUANTITY",
    "OrderedLines",
    "SHELF",
    "ScanResult",
    "SendReport",
    "quarantine_restock",
    "quarantine_write_off",
    "receipt_confirm",
    "receipt_missing_mark",
    "receipt_unit_grade",
    "receipt_unit_remove",
    "receipt_unit_scan",
    "refund_mirror_from_event",
    "return_close",
    "return_create_by_hand",
    "return_mismatch_resolve",
    "return_open_from_event",
    "return_outcomes_retry",
    "return_outcomes_send",
    "return_outcomes_send_due",
    "returns_flag_late",
]
