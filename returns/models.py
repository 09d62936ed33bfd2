"""Returns intake: what the storefront says is coming back, and what staff found in each box.

The refund is the storefront's fact (mirrored here, read-only); whether a returned unit is
sellable again is the shelf's (restock). A unit adds to on-hand only when a receipt is
confirmed with it graded sellable into a named bin, as a ``return_restock`` movement through
``inventory.services.on_hand_adjust``. The database keeps the counts honest: a line never
accounts for more units than were expected (extras are recorded as wrong items), and each unit
is restocked by at most one movement.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.models import Bin, Discrepancy, Sku, StockMovement, System


class ReturnAuthorisation(models.Model):
    """A return the storefront authorised (or a manager took by phone): the units expected."""

    class Origin(models.TextChoices):
        STOREFRONT = "storefront", _("Storefront webhook")
        PHONE = "phone", _("Phone return (entered by a manager)")

    class Status(models.TextChoices):
        AWAITING = "awaiting", _("Awaiting arrival")
        RECEIVING = "receiving", _("Partly received")
        COMPLETE = "complete", _("Complete")

    class RefundStatus(models.TextChoices):
        NONE = "none", _("Not refunded")
        PARTIAL = "partial", _("Partly refunded")
        REFUNDED = "refunded", _("Refunded")

    number = models.CharField(
        max_length=100, unique=True, help_text="What staff scan or type: the return's reference."
    )
    storefront = models.ForeignKey(
        System,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The storefront that owns the order and its refund; it is told the outcome.",
    )
    return_ref = models.CharField(max_length=100, help_text="The storefront's id of the return.")
    order_ref = models.CharField(max_length=100, db_index=True)
    customer_name = models.CharField(max_length=100, blank=True)
    origin = models.CharField(max_length=12, choices=Origin.choices)
    source_event_id = models.CharField(max_length=200, blank=True)
    creation_key = models.CharField(
        max_length=64, blank=True, help_text="Idempotency key of a phone return's form."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.AWAITING)
    refund_status = models.CharField(
        max_length=10,
        choices=RefundStatus.choices,
        default=RefundStatus.NONE,
        help_text="Mirrored from the storefront's refund events; OneFact never decides it.",
    )
    refunded_units = models.PositiveIntegerField(default=0)
    refund_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_received_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    late_flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "return"
        permissions = [
            ("receive_returns", "Can receive returned units (scan, grade, confirm a box)"),
            ("manage_returns", "Can manage returns: phone returns, quarantine, return figures"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["storefront", "return_ref"],
                name="returns_returnauthorisation_storefront_ref_uniq",
            ),
            models.UniqueConstraint(
                fields=["creation_key"],
                condition=~Q(creation_key=""),
                name="returns_returnauthorisation_creation_key_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status="complete", completed_at__isnull=False)
                | (~Q(status="complete") & Q(completed_at__isnull=True)),
                name="returns_returnauthorisation_complete_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="returns_rma_status_created_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class ReturnLine(models.Model):
    """One expected line of a return, and how many of its units are accounted for so far.

    ``sellable + damaged + missing`` never exceeds ``expected`` (a database constraint):
    a unit beyond what was expected is a wrong item, never a restock.
    """

    rma = models.ForeignKey(ReturnAuthorisation, on_delete=models.PROTECT, related_name="lines")
    line_ref = models.CharField(max_length=100, help_text="The storefront's order line id.")
    sku = models.ForeignKey(
        Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="return_lines"
    )
    sku_code = models.CharField(max_length=64, help_text="As the storefront named it.")
    reason = models.CharField(max_length=255, blank=True)
    expected = models.PositiveIntegerField()
    sellable = models.PositiveIntegerField(default=0)
    damaged = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["rma", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rma", "line_ref"], name="returns_returnline_rma_line_uniq"
            ),
            models.CheckConstraint(
                condition=Q(expected__gt=0), name="returns_returnline_expected_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(expected__gte=F("sellable") + F("damaged") + F("missing")),
                name="returns_returnline_accounted_lte_expected",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.expected} × {self.sku_code or '(unknown SKU)'} on {self.rma_id}"

    @property
    def accounted(self) -> int:
        return self.sellable + self.damaged + self.missing

    @property
    def outstanding(self) -> int:
        return self.expected - self.accounted


class ReturnReceipt(models.Model):
    """One box of a return: opened by the first scan, confirmed once by staff."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed"

    rma = models.ForeignKey(ReturnAuthorisation, on_delete=models.PROTECT, related_name="receipts")
    sequence = models.PositiveIntegerField(help_text="Box 1, 2, … of this return.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    confirm_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="Idempotency key of the confirmation: a replay of it changes nothing.",
    )
    last_box = models.BooleanField(
        default=False, help_text="Staff said nothing more is coming: what is left was missing."
    )

    class Meta:
        ordering = ["rma", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["rma"],
                condition=Q(status="open"),
                name="returns_returnreceipt_one_open_per_return",
            ),
            models.UniqueConstraint(
                fields=["rma", "sequence"], name="returns_returnreceipt_rma_sequence_uniq"
            ),
            models.CheckConstraint(
                condition=Q(status="open", confirmed_at__isnull=True, confirm_key__isnull=True)
                | Q(status="confirmed", confirmed_at__isnull=False, confirm_key__isnull=False),
                name="returns_returnreceipt_confirmed_has_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rma_id} box {self.sequence}"


class ReceiptUnit(models.Model):
    """Units found in a box (one scan), or expected units staff say are not in it (missing)."""

    class Grade(models.TextChoices):
        PENDING = "", _("Not graded yet")
        SELLABLE = "sellable", _("Sellable")
        DAMAGED = "damaged", _("Damaged")
        WRONG_ITEM = "wrong_item", _("Wrong item")
        MISSING = "missing", _("Missing")

    receipt = models.ForeignKey(ReturnReceipt, on_delete=models.PROTECT, related_name="units")
    line = models.ForeignKey(
        ReturnLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="units",
        help_text="The expected line it counts against; empty for a wrong item.",
    )
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField(default=1)
    grade = models.CharField(
        max_length=12, choices=Grade.choices, default=Grade.PENDING, blank=True
    )
    bin = models.ForeignKey(Bin, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    scan_key = models.CharField(
        max_length=64, unique=True, help_text="Idempotency key of the scan that recorded it."
    )
    grade_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="Idempotency key of the bin scan that graded it sellable, if any.",
    )
    note = models.CharField(max_length=255, blank=True)
    movement = models.ForeignKey(
        StockMovement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discrepancy = models.ForeignKey(
        Discrepancy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["receipt", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="returns_receiptunit_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=~Q(grade="sellable")
                | Q(bin__isnull=False, line__isnull=False, sku__isnull=False),
                name="returns_receiptunit_sellable_has_bin",
            ),
            models.CheckConstraint(
                condition=Q(movement__isnull=True) | Q(grade="sellable"),
                name="returns_receiptunit_movement_only_sellable",
            ),
            models.UniqueConstraint(
                fields=["movement"],
                condition=Q(movement__isnull=False),
                name="returns_receiptunit_movement_uniq",
            ),
            models.CheckConstraint(
                condition=~Q(grade__in=["", "missing", "damaged"]) | Q(line__isnull=False),
                name="returns_receiptunit_counted_grade_has_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_code} ({self.grade or 'ungraded'})"

    @property
    def counts_against_line(self) -> bool:
        return self.line_id is not None and self.grade in COUNTED_GRADES


# Grades that account for units of the expected line (a wrong item never does).
COUNTED_GRADES = [
    ReceiptUnit.Grade.PENDING,
    ReceiptUnit.Grade.SELLABLE,
    ReceiptUnit.Grade.DAMAGED,
    ReceiptUnit.Grade.MISSING,
]


class QuarantineItem(models.Model):
    """Damaged returned units: counted here, never on-hand, never available.

    A manager writes them off (with a reason) or has them repaired and restocked into a bin
    (a ``return_restock`` movement through the one write path).
    """

    class Status(models.TextChoices):
        HELD = "held", "Held in quarantine"
        WRITTEN_OFF = "written_off", "Written off"
        RESTOCKED = "restocked", "Repaired and restocked"

    unit = models.OneToOneField(ReceiptUnit, on_delete=models.PROTECT, related_name="quarantine")
    rma = models.ForeignKey(ReturnAuthorisation, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.HELD)
    reason = models.TextField(blank=True, help_text="Why it was written off, or the repair note.")
    bin = models.ForeignKey(Bin, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    movement = models.OneToOneField(
        StockMovement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="returns_quarantineitem_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(status="held", resolved_at__isnull=True)
                | (~Q(status="held") & Q(resolved_at__isnull=False)),
                name="returns_quarantineitem_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="written_off") | ~Q(reason=""),
                name="returns_quarantineitem_write_off_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="restocked") | Q(bin__isnull=False, movement__isnull=False),
                name="returns_quarantineitem_restock_has_movement",
            ),
        ]
        indexes = [
            models.Index(fields=["sku"], condition=Q(status="held"), name="returns_quar_held_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_code} ({self.get_status_display()})"


class ReturnOutcome(models.Model):
    """What one confirmed box says about one returned line, to be told to the storefront."""

    class Disposition(models.TextChoices):
        RESTOCKED = "restocked", "Restocked"
        PROCESSING_REQUIRED = "processing_required", "Needs processing"
        NOT_RESTOCKED = "not_restocked", "Not restocked"
        MISSING = "missing", "Missing"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Not sent"

    rma = models.ForeignKey(ReturnAuthorisation, on_delete=models.PROTECT, related_name="outcomes")
    receipt = models.ForeignKey(ReturnReceipt, on_delete=models.PROTECT, related_name="outcomes")
    line = models.ForeignKey(ReturnLine, on_delete=models.PROTECT, related_name="outcomes")
    disposition = models.CharField(max_length=20, choices=Disposition.choices)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rma", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "line", "disposition"],
                name="returns_returnoutcome_receipt_line_disposition_uniq",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="returns_returnoutcome_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False)
                | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="returns_returnoutcome_sent_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(last_error=""),
                name="returns_returnoutcome_failed_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="returns_outcome_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.line_id}: {self.disposition} ({self.status})"


class RefundMirror(models.Model):
    """A refund the storefront issued, as its event said: a read-only copy, never acted on."""

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    event_id = models.CharField(max_length=200)
    order_ref = models.CharField(max_length=100)
    units = models.PositiveIntegerField(default=0)
    occurred_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "event_id"], name="returns_refundmirror_system_event_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["system", "order_ref"], name="returns_refund_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} refunded {self.units} on {self.order_ref}"
