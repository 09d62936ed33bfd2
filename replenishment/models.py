"""Replenishment: suppliers, reorder policies, purchase orders (the in-transit fact).

Replenishment owns what is on order and in transit, never on-hand: no model here has an
on-hand field. Coverage is computed from the shelf's truth each time it is read
(``replenishment.selectors``); in-transit is computed from the purchase order lines.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from inventory.models import Bin, Sku, StockMovement


class Supplier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReorderPolicy(models.Model):
    """How one SKU is reordered; the row with no SKU is the default for every other SKU.

    Order-up-to rule (what the suggestions compute, see ``selectors.coverage_rows``):

    - daily rate = units shipped in the window ÷ days the SKU was in stock;
    - safety stock = ``safety_stock_units``, or ``safety_stock_days`` × rate;
    - reorder point = rate × (lead time + review period) + safety stock;
    - target (order up to) = reorder point + rate × ``target_days``;
    - when the position (on-hand − committed + in-transit) is at or below the reorder point,
      suggest target − position, rounded up to whole units, raised to the minimum order
      quantity, then rounded up to a whole number of case packs.
    """

    sku = models.ForeignKey(
        Sku,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reorder_policies",
        help_text="Empty: the default policy for every SKU without its own.",
    )
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="policies")
    lead_time_days = models.PositiveSmallIntegerField(
        help_text="Days from sending a purchase order to the units arriving."
    )
    review_period_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between two looks at this SKU's suggestion."
    )
    safety_stock_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Safety stock as days of demand (or give units)."
    )
    safety_stock_units = models.PositiveIntegerField(
        null=True, blank=True, help_text="Safety stock as units (or give days)."
    )
    min_order_qty = models.PositiveIntegerField(default=1)
    case_pack = models.PositiveIntegerField(
        default=1, help_text="Units per case; orders are whole cases."
    )
    target_days = models.PositiveSmallIntegerField(
        default=14, help_text="Cover ordered beyond the reorder point, in days of demand."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "reorder policies"
        permissions = [
            ("view_suggestions", "Can read replenishment suggestions"),
            ("detect_ghost_rows", "Can look for ghost rows on the shelf"),
        ]
        constraints = [
            # One policy per SKU and one default (sku empty): the unique value is the SKU's id,
            # or 0 for the default.
            models.UniqueConstraint(
                Coalesce(F("sku"), Value(0), output_field=models.BigIntegerField()),
                name="replenishment_reorderpolicy_one_per_sku",
            ),
            models.CheckConstraint(
                condition=Q(safety_stock_days__isnull=False, safety_stock_units__isnull=True)
                | Q(safety_stock_days__isnull=True, safety_stock_units__isnull=False),
                name="replenishment_reorderpolicy_safety_stock_one_kind",
            ),
            models.CheckConstraint(
                condition=Q(case_pack__gte=1), name="replenishment_reorderpolicy_case_pack_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"Policy for {self.sku or 'every other SKU'} ({self.supplier})"


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENT = "sent", _("Sent")
        PARTIALLY_RECEIVED = "partially_received", _("Partially received")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.SENT, Status.PARTIALLY_RECEIVED)  # on order: their lines are in transit
    # Units may still arrive against a received order (more than ordered, or after it was
    # closed short): they are booked, because they are on the shelf, and recorded.
    RECEIVABLE = (*OPEN, Status.RECEIVED)

    number = models.CharField(max_length=20, unique=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    expected_at = models.DateField(null=True, blank=True)
    request_key = models.CharField(
        max_length=64, blank=True, help_text="The form submission that drafted it (replays)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("receive_purchaseorder", "Can receive purchase orders into bins")]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "request_key"],
                condition=~Q(request_key=""),
                name="replenishment_purchaseorder_request_key_uniq",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="replenishment_po_status_idx")]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def is_receivable(self) -> bool:
        return self.status in self.RECEIVABLE


class PurchaseOrderLine(models.Model):
    """``received`` may exceed ``ordered``: over-deliveries happen and are recorded."""

    po = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="purchase_order_lines")
    ordered = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["po", "sku__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["po", "sku"], name="replenishment_purchaseorderline_po_sku_uniq"
            ),
            models.CheckConstraint(
                condition=Q(ordered__gt=0), name="replenishment_purchaseorderline_ordered_gt_0"
            ),
        ]
        indexes = [models.Index(fields=["sku"], name="replenishment_pol_sku_idx")]

    def __str__(self) -> str:
        return f"{self.po}: {self.ordered} × {self.sku}"

    @property
    def outstanding(self) -> int:
        return max(self.ordered - self.received, 0)


class Receipt(models.Model):
    """Units of one purchase order line counted into one bin; the ledger row it wrote."""

    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipts")
    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField()
    key = models.CharField(max_length=64, unique=True, help_text="The form submission's key.")
    movement = models.OneToOneField(StockMovement, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units__gt=0), name="replenishment_receipt_units_gt_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.units} × {self.line.sku_id} into {self.bin_id} ({self.line.po_id})"


class SalesWindow(models.Model):
    """One SKU's sell-through figures over the current window of closed days, kept from the
    ledger so a read need not walk a month of movements (see ``services.sales_history``).

    Derived, never a copy of on-hand: units shipped and in-stock days are facts about days
    that are over, recomputed from the ledger (``manage.py rebuild_sales_history``, and for
    every SKU at once when the day turns), checked by ``manage.py verify_ledger``. A SKU
    with no row shipped nothing and was in stock on no day of the window.
    """

    sku = models.OneToOneField(Sku, on_delete=models.CASCADE, primary_key=True, related_name="+")
    shipped = models.PositiveIntegerField()
    sellable_days = models.PositiveSmallIntegerField(help_text="Days of the window in stock.")

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.shipped} shipped on {self.sellable_days} days in stock"


class SalesHistoryState(models.Model):
    """The single row saying which window ``SalesWindow`` holds and how much of the ledger
    is folded into it: every ledger row with an id up to ``watermark`` (except the ids in
    ``SalesHistoryGap``). A read takes the unfolded rows (the tail) from the ledger itself,
    so a movement backdated into the window counts at once; the next fold recomputes its
    SKU. The write path is not touched."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    first_day = models.DateField(null=True, help_text="Empty: nothing built yet.")
    days = models.PositiveSmallIntegerField(null=True)
    watermark = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(null=True)
    folded_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="replenishment_saleshistory_one_row")
        ]

    def __str__(self) -> str:
        return f"{self.days} days from {self.first_day}, ledger folded up to {self.watermark}"


class SalesHistoryGap(models.Model):
    """A ledger id at or below the watermark that no committed row had when it was folded:
    a movement still in its transaction (ids are taken before commit, so they can commit out
    of order) or one rolled back. Reads count a row that appears here as unfolded; a gap is
    forgotten after ``GAP_GRACE`` (no ledger write stays uncommitted that long)."""

    ledger_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"ledger id {self.ledger_id} missing since {self.seen_at}"


class Transfer(models.Model):
    """Units moved from one warehouse to another: they leave their bins when the transfer
    is dispatched and are in transit (replenishment's fact, like an order's) until they are
    scanned into a bin at the other end. Never a copy of on-hand: what left and what arrived
    are ledger rows of the shelf (kind ``transfer``), written through its one write path."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_TRANSIT = "in_transit", _("In transit")
        PARTIALLY_RECEIVED = "partially_received", _("Partially received")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.IN_TRANSIT, Status.PARTIALLY_RECEIVED)  # dispatched: lines in transit

    number = models.CharField(max_length=20, unique=True)
    from_warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="transfers_out"
    )
    to_warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="transfers_in"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    request_key = models.CharField(
        max_length=64, blank=True, help_text="The form submission that drafted it (replays)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("dispatch_transfer", "Can dispatch and cancel transfers between warehouses"),
            ("receive_transfer", "Can receive transfers into bins"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_warehouse=F("to_warehouse")),
                name="replenishment_transfer_two_warehouses",
            ),
            models.UniqueConstraint(
                fields=["request_key"],
                condition=~Q(request_key=""),
                name="replenishment_transfer_request_key_uniq",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="replenishment_tr_status_idx")]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class TransferLine(models.Model):
    """``quantity`` units of one SKU out of one bin of the sending warehouse. ``received``
    may exceed it: a miscount at either end is booked where the units are, and recorded."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="transfer_lines")
    from_bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["transfer", "sku__code", "from_bin__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["transfer", "sku", "from_bin"],
                name="replenishment_transferline_transfer_sku_bin_uniq",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="replenishment_transferline_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(received__gte=0), name="replenishment_transferline_received_gte_0"
            ),
        ]
        indexes = [models.Index(fields=["sku"], name="replenishment_trl_sku_idx")]

    def __str__(self) -> str:
        return f"{self.transfer}: {self.quantity} × {self.sku} from {self.from_bin}"

    @property
    def outstanding(self) -> int:
        return max(self.quantity - self.received, 0)


class TransferReceipt(models.Model):
    """Units of one transfer line scanned into one bin of the receiving warehouse; the
    ledger row it wrote."""

    line = models.ForeignKey(TransferLine, on_delete=models.PROTECT, related_name="receipts")
    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField()
    key = models.CharField(max_length=64, unique=True, help_text="The form submission's key.")
    movement = models.OneToOneField(StockMovement, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units__gt=0), name="replenishment_transferreceipt_units_gt_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.units} × {self.line.sku_id} into {self.bin_id} ({self.line.transfer_id})"
