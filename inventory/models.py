"""The shelf (bins, SKUs, on-hand and its ledger) and the ownership table."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class Fact(models.TextChoices):
    """The business facts of DESIGN.md; each has exactly one owner system."""

    ON_HAND = "on_hand", "On-hand (units physically in a bin)"
    CATALOG = "catalog", "Catalog (SKUs, titles, active flag)"
    ORDER = "order", "Order (lines, status, commitments)"
    REFUND = "refund", "Refund"
    RESTOCK = "restock", "Restock (a returned unit is sellable again)"
    PRICE = "price", "Price"
    IN_TRANSIT = "in_transit", "In-transit (purchase orders)"


class TruthMoment(models.TextChoices):
    SHIP = "ship", "Ship: an order commits stock, shipping decrements on-hand"
    ORDER = "order", "Order: placing an order decrements on-hand at once"


class System(models.Model):
    """A system that owns or consumes facts: the shelf, a storefront, the pricing engine…"""

    class Kind(models.TextChoices):
        SHELF = "shelf", "Shelf (OneFact warehouse)"
        STOREFRONT = "storefront", "Storefront"
        PRICING = "pricing", "Pricing engine"
        REPLENISHMENT = "replenishment", "Replenishment"
        RETURNS = "returns", "Returns intake"
        SCANNER = "scanner", "Scanner / integration client"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    adapter = models.CharField(
        max_length=20, blank=True, help_text="Storefront adapter: demo, shopify or saleor."
    )
    active = models.BooleanField(default=True)
    token_prefix = models.CharField(max_length=8, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_token(token: str) -> str:
        # Tokens are 256-bit random values, so a plain SHA-256 is enough to store them.
        return hashlib.sha256(token.encode()).hexdigest()

    def issue_token(self) -> str:
        """Set a new API token and return it; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        self.token_prefix = token[:8]
        self.token_hash = self.hash_token(token)
        self.save(update_fields=["token_prefix", "token_hash"])
        return token

    issue_token.alters_data = True


class Ownership(models.Model):
    """One row per fact. The owner may be empty (a gap) but never two: the fact is unique."""

    fact = models.CharField(max_length=20, choices=Fact.choices, unique=True)
    owner = models.ForeignKey(
        System, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_facts"
    )
    consumers = models.ManyToManyField(System, blank=True, related_name="consumed_facts")
    truth_moment = models.CharField(
        max_length=10,
        choices=TruthMoment.choices,
        blank=True,
        help_text="Only for on-hand: the order event that changes on-hand.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["fact"]
        permissions = [("view_authority_audit", "Can view the authority audit")]
        constraints = [
            models.CheckConstraint(
                condition=Q(fact="on_hand", truth_moment__in=["ship", "order"])
                | (~Q(fact="on_hand") & Q(truth_moment="")),
                name="inventory_ownership_truth_moment_on_hand_only",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_fact_display()} → {self.owner or 'no owner'}"


class OwnershipChange(models.Model):
    """Read-only audit log: every change to the ownership table, with who, when and why."""

    ownership = models.ForeignKey(Ownership, on_delete=models.PROTECT, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField()
    after = models.JSONField()
    reason = models.TextField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="inventory_ownershipchange_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ownership.fact} changed by {self.changed_by} at {self.changed_at:%Y-%m-%d}"


class AuthorityConflict(models.Model):
    """A write refused because its source system does not own the fact it tried to write."""

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="conflicts")
    fact = models.CharField(max_length=20, choices=Fact.choices)
    owner = models.ForeignKey(
        System, null=True, on_delete=models.PROTECT, related_name="+", help_text="Owner then."
    )
    payload = models.JSONField(default=dict, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.system} tried to write {self.fact}"


class Bin(models.Model):
    code = models.CharField(max_length=20, unique=True, help_text="As printed, e.g. A-14.")
    zone = models.CharField(max_length=20, db_index=True)
    walk_order = models.PositiveIntegerField(
        default=0, help_text="Position on the walk through the warehouse; lower comes first."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["walk_order", "code"]

    def __str__(self) -> str:
        return self.code


class Sku(models.Model):
    """A mirror of the storefront catalog: the storefront owns it, OneFact reads it."""

    code = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["code"]
        verbose_name = "SKU"
        verbose_name_plural = "SKUs"

    def __str__(self) -> str:
        return self.code


class OnHand(models.Model):
    """The shelf's balance for one bin and SKU. Changed only by ``services.on_hand_adjust``."""

    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="balances")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="balances")
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "on-hand balance"
        constraints = [
            models.UniqueConstraint(fields=["bin", "sku"], name="inventory_onhand_bin_sku_uniq"),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="inventory_onhand_quantity_gte_0"
            ),
        ]
        indexes = [models.Index(fields=["sku", "bin"], name="inventory_onhand_sku_bin_idx")]

    def __str__(self) -> str:
        return f"{self.sku} in {self.bin}: {self.quantity}"


class LedgerImmutable(Exception):
    """Ledger rows are appended, never updated or deleted."""


class StockMovementQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutable("Ledger rows are never updated.")

    def delete(self):
        raise LedgerImmutable("Ledger rows are never deleted.")


class StockMovement(models.Model):
    """One append-only ledger row: a signed change to one bin's balance of one SKU."""

    class Kind(models.TextChoices):
        RECEIVE = "receive", "Receive"
        SHIP = "ship", "Ship"
        RETURN_RESTOCK = "return_restock", "Return restock"
        COUNT_ADJUST = "count_adjust", "Count adjust"
        TRANSFER = "transfer", "Transfer"
        DAMAGE = "damage", "Damage"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="movements")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="movements")
    quantity = models.IntegerField(help_text="Signed: positive adds to the bin.")
    balance_after = models.IntegerField()
    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="movements")
    source_event_id = models.CharField(
        max_length=200, help_text="The source's id for the event; a replay is refused by it."
    )
    leg = models.PositiveSmallIntegerField(
        default=0, help_text="Position within one event (a transfer has two legs)."
    )
    reference = models.CharField(
        max_length=100, blank=True, help_text="Order, return, purchase order or count task."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_movements",
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_event_id", "leg"],
                name="inventory_stockmovement_source_event_uniq",
            ),
            models.CheckConstraint(
                condition=~Q(quantity=0), name="inventory_stockmovement_quantity_nonzero"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0),
                name="inventory_stockmovement_balance_after_gte_0",
            ),
        ]
        indexes = [
            models.Index(fields=["sku", "-id"], name="inventory_move_sku_id_idx"),
            models.Index(fields=["bin", "sku"], name="inventory_move_bin_sku_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+d} {self.sku} @ {self.bin}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise LedgerImmutable("Ledger rows are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutable("Ledger rows are never deleted.")


class Commitment(models.Model):
    """Units promised to an open storefront order line (truth moment "ship")."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RELEASED = "released", "Released"

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="commitments")
    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    order_ref = models.CharField(max_length=100)
    line_ref = models.CharField(max_length=100, default="1")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "order_ref", "line_ref"],
                name="inventory_commitment_order_line_uniq",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_commitment_quantity_gt_0"
            ),
        ]
        indexes = [
            models.Index(
                fields=["sku"], condition=Q(status="open"), name="inventory_commit_open_sku_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku} for {self.order_ref}"
