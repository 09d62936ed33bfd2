"""What every part of driftwalks's services shares."""

from driftwalks.models import Count, CountTask

Status = CountTask.Status
Priority = CountTask.Priority
Cause = CountTask.Cause
Outcome = Count.Outcome

# Per trigger: (priority, due in how many days). Gaps that may be selling stock that is not
# there are counted today; the others within two days; cycle counts within CYCLE_DUE_DAYS.
TRIGGER_RULES: dict[str, tuple[int, int]] = {
    Cause.RECONCILIATION: (Priority.HIGH, 0),
    Cause.SHORT_FULFILMENT: (Priority.HIGH, 0),
    Cause.ORDERS_AT_RISK: (Priority.HIGH, 0),
    Cause.PICK_SHORT: (Priority.HIGH, 0),
    Cause.VERIFY_LEDGER: (Priority.HIGH, 0),
    Cause.FOUND: (Priority.NORMAL, 0),
    Cause.OPENING: (Priority.NORMAL, 2),
    Cause.GHOST_ROW: (Priority.NORMAL, 2),
    Cause.RETURN_MISMATCH: (Priority.NORMAL, 2),
    Cause.RECEIPT_MISMATCH: (Priority.NORMAL, 2),
}
DEFAULT_RULE = (Priority.NORMAL, 2)
