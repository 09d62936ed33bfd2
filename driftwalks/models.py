"""Count tasks, the triggers that opened them and the blind counts that close them.

A task asks for one SKU to be counted in one bin. At most one task per bin and SKU is
unfinished at a time (a partial unique constraint); later triggers attach to it. A task is
finished only by a count (``closed``, with the count that closed it) or by a manager's
decision with a reason (``cancelled``); both rules are check constraints.

A *find-it* task has no bin: no bin is known to hold the SKU (a storefront sells it, the
shelf never recorded it). The counter finds it, scans each bin where it is and counts it
there (each such count is a task of that bin, ``found_for`` the find-it task), then
finishes; finishing with no bin found is the shelf's "none anywhere" confirmation. At most
one find-it task per SKU is unfinished at a time, and it is never recounted or sent to a
manager (its bins' counts are): both are database constraints.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from inventory.models import Bin, Discrepancy, Sku, StockMovement

# The largest count a counter may enter for one SKU in one bin.
MAX_COUNT = 1_000_000


class CountTask(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("count task status", "Open")
        RECOUNT_REQUIRED = "recount_required", _("Recount by someone else")
        APPROVAL_REQUIRED = "approval_required", _("Waiting for a manager")
        CLOSED = "closed", _("Closed by a count")
        CANCELLED = "cancelled", _("Cancelled by a manager's decision")

    class Priority(models.IntegerChoices):
        HIGH = 1, _("High")
        NORMAL = 2, _("Normal")
        LOW = 3, _("Low")

    class Cause(models.TextChoices):
        RECONCILIATION = "reconciliation", "Storefront gap"
        SHORT_FULFILMENT = "short_fulfilment", "Short fulfilment"
        ORDERS_AT_RISK = "orders_at_risk", "Order the shelf cannot cover"
        PICK_SHORT = "pick_short", "Pick short"
        VERIFY_LEDGER = "verify_ledger", "Ledger mismatch"
        GHOST_ROW = "ghost_row", "Ghost row"
        RETURN_MISMATCH = "return_mismatch", "Return mismatch"
        RECEIPT_MISMATCH = "receipt_mismatch", "Receipt mismatch"
        CYCLE = "cycle", "Cycle count"
        MANUAL = "manual", "Opened by hand"
        FOUND = "found", "Found during a count"
        OPENING = "opening_count", "Opening stock-take"

    # Unfinished tasks: one per bin and SKU at most.
    ACTIVE = [Status.OPEN, Status.RECOUNT_REQUIRED, Status.APPROVAL_REQUIRED]
    # Tasks a counter can count now.
    COUNTABLE = [Status.OPEN, Status.RECOUNT_REQUIRED]
    FINISHED = [Status.CLOSED, Status.CANCELLED]

    bin = models.ForeignKey(
        Bin,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="count_tasks",
        help_text="Empty for a find-it task: no bin is known to hold the SKU.",
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="count_tasks")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    due_on = models.DateField()
    cause = models.CharField(
        max_length=30, help_text="What opened the task (the first trigger), e.g. reconciliation."
    )
    reason = models.CharField(max_length=500, help_text="Why, in a sentence.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="count_tasks",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    approval_discrepancy = models.ForeignKey(
        Discrepancy,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The count-variance discrepancy a manager decides, when one was needed.",
    )
    closing_count = models.ForeignKey(
        "Count", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    decided_by_counter = models.BooleanField(
        default=False,
        help_text="The manager who decided it had counted it too: allowed only as the site's "
        "only manager (ONEFACT_COUNT_SOLE_MANAGER), with a second confirmation.",
    )
    found_for = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="found_tasks",
        help_text="The find-it task whose counter found the SKU in this bin.",
    )

    class Meta:
        ordering = ["priority", "due_on", "id"]
        permissions = [
            ("count_bins", "Can count bins on a drift walk"),
            ("manage_counts", "Can open and assign count tasks"),
            ("approve_counts", "Can approve or reject large count adjustments"),
            ("view_accuracy", "Can view inventory record accuracy"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["bin", "sku"],
                condition=Q(status__in=["open", "recount_required", "approval_required"]),
                name="driftwalks_counttask_one_active_per_bin_sku",
            ),
            models.UniqueConstraint(
                fields=["sku"],
                condition=Q(
                    bin__isnull=True, status__in=["open", "recount_required", "approval_required"]
                ),
                name="driftwalks_counttask_one_active_find_per_sku",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(bin__isnull=False) | Q(status__in=["open", "closed", "cancelled"]),
                name="driftwalks_counttask_find_never_recounted",
            ),
            models.CheckConstraint(
                condition=Q(found_for__isnull=True) | Q(bin__isnull=False),
                name="driftwalks_counttask_found_in_a_bin",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["open", "recount_required", "approval_required"],
                    closed_at__isnull=True,
                )
                | Q(status__in=["closed", "cancelled"], closed_at__isnull=False),
                name="driftwalks_counttask_finished_has_closed_at",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closing_count__isnull=False),
                name="driftwalks_counttask_closed_has_count",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled")
                | (~Q(decision_reason="") & Q(decided_by__isnull=False)),
                name="driftwalks_counttask_cancelled_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(decided_by_counter=False) | Q(decided_by__isnull=False),
                name="driftwalks_counttask_decided_by_counter_has_decider",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "status"], name="driftwalks_task_assignee_idx"),
            models.Index(fields=["status", "due_on"], name="driftwalks_task_status_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Count {self.sku} {self.place} ({self.get_status_display()})"

    @property
    def is_find(self) -> bool:
        """A find-it task: no bin is known; the counter finds the SKU first."""
        return self.bin_id is None

    @property
    def place(self) -> str:
        """Where to count, in words: "in A-14", or "wherever it is" for a find-it task."""
        if self.bin_id is None:
            return str(_("wherever it is (find it)"))
        return str(_("in %(bin)s") % {"bin": self.bin.code})

    @property
    def target(self) -> str:
        """What the task counts, for sentences: "bin A-14", or "any bin (find it)"."""
        return "any bin (find it)" if self.bin_id is None else f"bin {self.bin.code}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def cause_label(self) -> str:
        return cause_label(self.cause)


def cause_label(cause: str) -> str:
    """A trigger's readable name; triggers from other apps may be new words."""
    labels = dict(CountTask.Cause.choices)
    return labels.get(cause, cause.replace("_", " ").capitalize())


class TaskTrigger(models.Model):
    """One reason a task exists: the trigger that opened it and each one that attached later."""

    task = models.ForeignKey(CountTask, on_delete=models.PROTECT, related_name="triggers")
    cause = models.CharField(max_length=30)
    reason = models.CharField(max_length=500)
    discrepancy = models.ForeignKey(
        Discrepancy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "discrepancy"],
                condition=Q(discrepancy__isnull=False),
                name="driftwalks_tasktrigger_task_discrepancy_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{cause_label(self.cause)} → task {self.task_id}"

    @property
    def cause_label(self) -> str:
        return cause_label(self.cause)


class Count(models.Model):
    """One blind count of one task: what was counted, and the shelf's balance at that moment.

    ``expected`` is read under the balance row's lock when the count is submitted, so a
    ship or a receipt during the walk is never mistaken for drift. ``movement`` is the
    count-adjust movement that applied the correction, when one was applied.
    """

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Correction applied")
        CONFIRMED = "confirmed", _("Record confirmed")
        RECOUNT = "recount", _("Sent for a recount")
        APPROVAL = "approval", _("Sent to a manager")
        REJECTED = "rejected", _("Rejected by a manager")

    task = models.ForeignKey(CountTask, on_delete=models.PROTECT, related_name="counts")
    round = models.PositiveSmallIntegerField(help_text="1: the count, 2: the blind recount.")
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="counts"
    )
    counted = models.PositiveIntegerField()
    expected = models.IntegerField(help_text="The shelf's balance when the count was submitted.")
    variance = models.IntegerField(help_text="Counted minus expected.")
    within_tolerance = models.BooleanField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    movement = models.OneToOneField(
        StockMovement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submission_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["task", "round"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "round"], name="driftwalks_count_task_round_uniq"
            ),
            models.UniqueConstraint(
                fields=["task", "submission_key"], name="driftwalks_count_task_key_uniq"
            ),
            models.CheckConstraint(
                condition=Q(round__in=[1, 2]), name="driftwalks_count_round_1_or_2"
            ),
            models.CheckConstraint(
                condition=Q(expected__gte=0), name="driftwalks_count_expected_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(variance=F("counted") - F("expected")),
                name="driftwalks_count_variance_is_difference",
            ),
        ]
        indexes = [models.Index(fields=["submission_key"], name="driftwalks_count_key_idx")]

    def __str__(self) -> str:
        return f"{self.counted} counted for task {self.task_id} (round {self.round})"


class UnplacedRequest(models.Model):
    """A count request that could not become a task: it named no SKU and its bins hold
    nothing. (Before find-it tasks, a request for a SKU no bin ever held waited here too;
    such a request now opens a find-it task, and the first task opened for its SKU takes
    the ones still waiting.)

    Never dropped: it is listed for managers, and the next task opened for the SKU (by hand
    or by a count that finds it) takes it, with its discrepancy, as a trigger.
    """

    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cause = models.CharField(max_length=30)
    reason = models.CharField(max_length=500)
    discrepancy = models.ForeignKey(
        Discrepancy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    why_unplaced = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    placed_task = models.ForeignKey(
        CountTask, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "count request with no bin"
        verbose_name_plural = "count requests with no bin"
        indexes = [
            models.Index(
                fields=["sku"],
                condition=Q(placed_task__isnull=True),
                name="driftwalks_unplaced_sku_idx",
            )
        ]

    def __str__(self) -> str:
        return f"Count {self.sku}: {self.why_unplaced}"
