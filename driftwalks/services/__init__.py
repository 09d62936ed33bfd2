"""Every write of drift walks: opening count tasks, walks, blind counts, decisions, escalation.

The loop: a gap (or the calendar, or a manager) opens a task for a bin and SKU; a counter
counts it blind; the variance is taken against the shelf's balance at the moment of the
count, read under the balance row's lock; a correction is a ``count_adjust`` movement
through ``inventory.services.on_hand_adjust`` (which reaches the storefront through the
outbox); the discrepancies that opened the task are resolved with a link to it.

Corrections are always the variance the count measured (counted − the balance at that
moment), added to whatever the balance is when the correction is applied. At submission
both moments are the same. When a manager approves later, units shipped or received
between the count and the approval are therefore kept, not undone as if they were drift.
"""

from driftwalks.services.common import DEFAULT_RULE, TRIGGER_RULES, Cause, Outcome, Priority, Status
from driftwalks.services.counting import (
    COUNTED_IT,
    SOLE_CONFIRMATION,
    CountLine,
    DecisionRight,
    count_submit,
    count_task_decide,
    count_task_decision_right,
)
from driftwalks.services.finding import find_task_count_bin, find_task_finish
from driftwalks.services.opening import (
    count_request_receive,
    count_requests_receive,
    count_task_open,
    count_task_open_manual,
    count_tasks_escalate,
    cycle_counts_open,
)
from driftwalks.services.walks import count_task_cancel, count_tasks_assign, walk_start

__all__ = [
    "COUNTED_IT",
    "Cause",
    "CountLine",
    "DEFAULT_RULE",
    "DecisionRight",
    "Outcome",
    "Priority",
    "SOLE_CONFIRMATION",
    "Status",
    "TRIGGER_RULES",
    "count_request_receive",
    "count_requests_receive",
    "count_submit",
    "count_task_cancel",
    "count_task_decide",
    "count_task_decision_right",
    "count_task_open",
    "count_task_open_manual",
    "count_tasks_assign",
    "count_tasks_escalate",
    "cycle_counts_open",
    "find_task_count_bin",
    "find_task_finish",
    "walk_start",
]
