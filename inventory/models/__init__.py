"""The shelf (bins, SKUs, on-hand and its ledger) and the ownership table."""

import hashlib
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Abs, Coalesce
from django.utils import dateformat, timezone
from django.utils.translation import gettext_lazy as _


class Fact(models.TextChoices):
    """The business facts of DESIGN.md; each has exactly one owner system."""

    ON_HAND = "on_hand", "On-hand (units physically in a bin)"
    CATALOG = "catalog", "Catalog (SKUs, titles, active flag)"
    ORDER = "order", "Order (lines, status, commitments)"
    REFUND = "refund", "Refund"
    RESTOCK = "restock", "Restock (a returned unit is sellable again)"
    PRICE = "price", "Price"
    IN_TRANSIT = "in_transit", "In-transit (purchase orders)"


FACT_NAMES = {
    Fact.ON_HAND: "on-hand",
    Fact.CATALOG: "catalog",
    Fact.ORDER: "orders",
    Fact.REFUND: "refund",
    Fact.RESTOCK: "restock",
    Fact.PRICE: "price",
    Fact.IN_TRANSIT: "in-transit",
}


def fact_name(fact: str) -> str:
    """A fact in a person's words ("on-hand", not ``on_hand``): the one place facts are
    named on a page or in a sentence (templates: ``{{ d.fact|fact_name }}``)."""
    return FACT_NAMES.get(fact, str(fact).replace("_", "-"))


class TruthMoment(models.TextChoices):
    SHIP = "ship", "Ship: an order commits stock, shipping decrements on-hand"
    ORDER = "order", "Order: placing an order decrements on-hand at once"


class System(models.Model):
    """A system that owns or consumes facts: the shelf, a storefront, the pricing engine…"""

    class SyncMode(models.TextChoices):
        OBSERVE = "observe", "Observe: read and record differences, write nothing back"
        LIVE = "live", "Live: the storefront mirrors the shelf"

    class Kind(models.TextChoices):
        SHELF = "shelf", "Shelf (OneFact warehouse)"
        STOREFRONT = "storefront", "Storefront"
        PRICING = "pricing", "Pricing engine"
        REPLENISHMENT = "replenishment", "Replenishment"
        RETURNS = "returns", "Returns intake"
        SCANNER = "scanner", "Scanner / integration client"
        THIRD_PARTY = "3pl", "3PL warehouse system (counts its own building's units)"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    adapter = models.CharField(
        max_length=20, blank=True, help_text="Storefront adapter: demo, shopify or saleor."
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Adapter settings that are not secret (shop URL, location id…). Secrets "
        "come from the environment: STOREFRONT_<NAME>_TOKEN, STOREFRONT_<NAME>_WEBHOOK_SECRET.",
    )
    active = models.BooleanField(default=True)
    sync_mode = models.CharField(
        max_length=10,
        choices=SyncMode.choices,
        default=SyncMode.OBSERVE,
        editable=False,
        help_text="Storefronts only. A new storefront observes: it is read and compared, "
        "never written, until a manager takes it live. Changed only with a reason, audited.",
    )
    # A storefront's token and webhook secret entered on the connect page, encrypted with
    # ONEFACT_SECRETS_KEY (Fernet); the environment's STOREFRONT_<NAME>_… still win.
    token_encrypted = models.TextField(blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    token_prefix = models.CharField(max_length=8, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sync_mode__in=["observe", "live"]),
                name="inventory_system_sync_mode_valid",
            ),
        ]

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

    def revoke_token(self) -> None:
        """Revoke the API token: no token matches an empty hash, so it is refused from now on."""
        self.token_prefix = ""
        self.token_hash = ""
        self.save(update_fields=["token_prefix", "token_hash"])

    revoke_token.alters_data = True


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
        return f"{self.ownership.fact}, {self.actor_label}, {self.when_label}"

    @property
    def actor_label(self) -> str:
        """Who made the change, in words: "by admin", or "by the system" (a migration)."""
        return f"by {self.changed_by.get_username()}" if self.changed_by_id else "by the system"

    @property
    def when_label(self) -> str:
        """When, in local time: "7 Dec 14:52" (the year too when it is not this year's)."""
        if self.changed_at is None:
            return "not saved yet"
        local = timezone.localtime(self.changed_at)
        this_year = local.year == timezone.localtime().year
        return dateformat.format(local, "j M H:i" if this_year else "j M Y H:i")

    def sentence(self) -> str:
        """The change as one sentence, the same on every screen that lists it.

        "Price: owner pricing → storefront; consumers unchanged; by admin, 7 Dec 14:52: why".
        Reads only this row (``ownership`` and ``changed_by`` are to be select_related).
        """
        before, after = self.before or {}, self.after or {}
        seeded = not before
        b_wh, a_wh = before.get("warehouses", {}), after.get("warehouses", {})
        at = [
            f"at {code} owner {b_wh.get(code) or 'shelf'} → {a_wh.get(code) or 'shelf'}"
            for code in sorted(set(b_wh) | set(a_wh))
            if b_wh.get(code) != a_wh.get(code)
        ]
        fact = self.ownership.get_fact_display().split(" (")[0]
        rest = {k: v for k, v in before.items() if k != "warehouses"} == {
            k: v for k, v in after.items() if k != "warehouses"
        }
        if at and not seeded and rest:  # only a warehouse's owner changed
            return f"{fact}: {'; '.join(at)}; {self.actor_label}, {self.when_label}: {self.reason}"
        parts = []
        b_owner, a_owner = before.get("owner"), after.get("owner")
        if seeded:
            parts.append(f"owner {a_owner or 'none'}")
        elif b_owner == a_owner:
            parts.append(f"owner unchanged ({a_owner or 'none'})")
        else:
            parts.append(f"owner {b_owner or 'none'} → {a_owner or 'none'}")
        b_cons, a_cons = set(before.get("consumers", [])), set(after.get("consumers", []))
        if seeded:
            parts.append(f"consumers {', '.join(sorted(a_cons))}" if a_cons else "no consumers")
        elif b_cons == a_cons:
            parts.append("consumers unchanged")
        else:
            moved = [f"{name} added" for name in sorted(a_cons - b_cons)]
            moved += [f"{name} removed" for name in sorted(b_cons - a_cons)]
            parts.append(f"consumers: {', '.join(moved)}")
        b_moment, a_moment = before.get("truth_moment", ""), after.get("truth_moment", "")
        if seeded and a_moment:
            parts.append(f"truth moment {a_moment}")
        elif not seeded and b_moment != a_moment:
            parts.append(f"truth moment {b_moment or 'none'} → {a_moment or 'none'}")
        parts += at
        return f"{fact}: {'; '.join(parts)}; {self.actor_label}, {self.when_label}: {self.reason}"


class SyncModeChange(models.Model):
    """Read-only audit log: every switch of a storefront between observe and live."""

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="mode_changes")
    before = models.CharField(max_length=10, choices=System.SyncMode.choices)
    after = models.CharField(max_length=10, choices=System.SyncMode.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="inventory_syncmodechange_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system}: {self.before} → {self.after}"


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


DEFAULT_WAREHOUSE_CODE = "MAIN"


class Warehouse(models.Model):
    """A building or room that holds bins: on-hand is kept per bin, and every bin is in one
    warehouse, so every sum of on-hand can be taken per warehouse or in total.

    A store that has one warehouse never has to name it: the migration that introduced
    warehouses put every bin in the default one, and new bins go there unless told.
    """

    code = models.CharField(
        max_length=20, unique=True, help_text="Short and printed on labels, e.g. WH-2."
    )
    name = models.CharField(max_length=100)
    address = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="Where a new bin goes when nobody names a warehouse."
    )
    owner = models.ForeignKey(
        System,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_warehouses",
        editable=False,
        help_text="Who owns on-hand here: empty is the shelf (OneFact counts it); a 3PL's "
        "system when the 3PL counts these units. Changed only with a reason, audited in the "
        "ownership table.",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(is_default=False),
                name="inventory_warehouse_default_is_the_shelfs",
                violation_error_message=_(
                    "The default warehouse is the shelf's: new bins go there."
                ),
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="inventory_warehouse_one_default",
                violation_error_message=_(
                    "Another warehouse is the default already: untick it there first."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_external(self) -> bool:
        """Its on-hand is owned by another system (a 3PL): OneFact keeps no bins there."""
        return self.owner_id is not None


def default_warehouse_id() -> int | None:
    """The default warehouse's id, for a new bin nobody placed (None if there is none: the
    bin's NOT NULL then refuses it, rather than guessing)."""
    return Warehouse.objects.filter(is_default=True).values_list("pk", flat=True).first()


class Bin(models.Model):
    code = models.CharField(max_length=20, unique=True, help_text="As printed, e.g. A-14.")
    # A bin saved without one goes to the default warehouse (``save``); not a field default,
    # which would be read from the database whenever a Bin is made in memory.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="bins")
    zone = models.CharField(max_length=20, db_index=True)
    walk_order = models.PositiveIntegerField(
        default=0, help_text="Position on the walk through the warehouse; lower comes first."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["walk_order", "code"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        if self.warehouse_id is None:
            self.warehouse_id = default_warehouse_id()
        super().save(*args, **kwargs)


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


class ShelfEvidence(models.Model):
    """The shelf has looked at a SKU: its on-hand number is *known*, and may be believed.

    An owner that has never counted is a gap, not a zero. Until a SKU has a row here it is
    never pushed to a storefront and never corrected there; reconciliation lists it as not
    yet counted. One row per SKU, written once (the first evidence). Withdrawn only when a
    first receipt's assumption (no storefront held any) proves false at a storefront.
    """

    class Kind(models.TextChoices):
        COUNT = "count", "Counted"
        ZERO = "zero", "Counted: none there"
        FIRST_RECEIPT = "first_receipt", "First receipt of a SKU new to both sides"
        ADOPTED = "adopted", "Shelf history before go-live checks existed"

    sku = models.OneToOneField(
        "Sku", on_delete=models.PROTECT, primary_key=True, related_name="shelf_evidence"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=200, blank=True, help_text="e.g. count task 14.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "shelf evidence"

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.get_kind_display()}"


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
        RECEIVE = "receive", _("Receive")
        SHIP = "ship", _("Ship")
        RETURN_RESTOCK = "return_restock", _("Return restock")
        COUNT_ADJUST = "count_adjust", _("Count adjust")
        TRANSFER = "transfer", _("Transfer")
        DAMAGE = "damage", _("Damage")

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
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    # Not a column: True on the row the write path hands back for a replayed event (the
    # first request's row, nothing changed), so a caller can answer "already done".
    replayed = False

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


class DiscrepancyUndeletable(Exception):
    """Discrepancies end resolved, never deleted."""


def _units() -> models.Case:
    """Units a discrepancy is about: the gap between the two numbers, or the consumer's
    number alone when the owner had none."""
    return models.Case(
        models.When(
            owner_value__isnull=False,
            consumer_value__isnull=False,
            then=Abs(F("consumer_value") - F("owner_value")),
        ),
        models.When(consumer_value__isnull=False, then=Abs(F("consumer_value"))),
        default=models.Value(0),
        output_field=models.IntegerField(),
    )


class DiscrepancyQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=Discrepancy.Status.OPEN)

    def delete(self):
        raise DiscrepancyUndeletable("Discrepancies are resolved, never deleted.")


class Discrepancy(models.Model):
    """Two systems disagreed about a fact. Both values, the owner, the winner, the correction.

    Every correction of a consumer's copy leaves one of these; each ends resolved by a count,
    a correction or a manager's decision with a reason.
    """

    class Kind(models.TextChoices):
        STOREFRONT_GAP = "storefront_gap", "Storefront disagrees with the shelf"
        STALE_PUSH = "stale_push", "Storefront changed its copy behind our back"
        NON_OWNER_WRITE = "non_owner_write", "A non-owner tried to write the fact"
        SHORT_FULFILMENT = "short_fulfilment", "Storefront shipped more than the shelf holds"
        ORDERS_AT_RISK = "orders_at_risk", "Open orders exceed the shelf's on-hand"
        PUSH_FAILED = "push_failed", "The storefront refused our number"
        LEDGER_MISMATCH = "ledger_mismatch", "A balance differs from its ledger"
        RETURN_MISMATCH = "return_mismatch", "A return arrived unlike what was expected"
        GHOST_ROW = "ghost_row", "Stock that nothing supports"
        RECEIPT_MISMATCH = "receipt_mismatch", "A delivery differs from its purchase order"
        COUNT_VARIANCE = "count_variance", "A count differs from the shelf's record"
        PICK_SHORT = "pick_short", "A pick found too little in the bin"
        NOT_YET_COUNTED = "not_yet_counted", "The shelf has not counted this SKU yet"

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Resolution(models.TextChoices):
        COUNT = "count", "Resolved by a count"
        CORRECTION = "correction", "Resolved by a correction"
        DECISION = "decision", "Resolved by a manager's decision"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    fact = models.CharField(max_length=20, choices=Fact.choices)
    sku = models.ForeignKey(
        Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    bin = models.ForeignKey(
        Bin, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    owner = models.ForeignKey(
        System, null=True, on_delete=models.PROTECT, related_name="+", help_text="Owner then."
    )
    consumer = models.ForeignKey(
        System, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    owner_value = models.IntegerField(null=True, blank=True)
    consumer_value = models.IntegerField(null=True, blank=True)
    # Valued when found: the SKU's unit cost is noted on the row, so the dashboard sums
    # one table, and a cost edited later does not change what a past gap was worth.
    unit_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False,
        help_text="The SKU's unit cost when the discrepancy was recorded.",
    )  # fmt: skip
    units = models.GeneratedField(expression=_units(), output_field=models.IntegerField(),
                                  db_persist=True)  # fmt: skip
    value = models.GeneratedField(
        expression=models.ExpressionWrapper(
            _units() * Coalesce(F("unit_cost"), models.Value(Decimal(0))),
            output_field=models.DecimalField(max_digits=14, decimal_places=2),
        ),
        output_field=models.DecimalField(max_digits=14, decimal_places=2),
        db_persist=True,
    )
    winner = models.ForeignKey(
        System, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    correction = models.IntegerField(
        null=True, blank=True, help_text="The value sent to the consumer to correct it."
    )
    corrected_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    count_requested_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=12, choices=Resolution.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolution_reference = models.CharField(
        max_length=200, blank=True, help_text="What resolved it, e.g. count task 381."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DiscrepancyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "discrepancies"
        permissions = [("run_reconciliation", "Can start a reconciliation")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", resolution="")
                | (Q(status="resolved") & ~Q(resolution="") & Q(resolved_at__isnull=False)),
                name="inventory_discrepancy_resolved_has_resolution",
            ),
            models.CheckConstraint(
                condition=~Q(resolution="decision") | ~Q(resolution_note=""),
                name="inventory_discrepancy_decision_has_reason",
            ),
        ]
        indexes = [
            # Open rows by SKU and by bin, carrying their units: the dashboard's tops are
            # read off these indexes, never off the table.
            models.Index(
                fields=["sku", "kind"],
                condition=Q(status="open"),
                include=["units"],
                name="inventory_disc_open_idx",
            ),
            models.Index(
                fields=["bin"],
                condition=Q(status="open"),
                include=["units"],
                name="inventory_disc_open_bin_idx",
            ),  # fmt: skip
            # Newest first, the dashboard's order: a page is read off the index, not sorted.
            models.Index(fields=["created_at", "id"], name="inventory_disc_created_idx"),
            # The open orders at risk, newest first (the block atop the dashboard): a handful
            # of rows, read off this index; the SKU index holds the kind second, so finding
            # them there walked every open row's entry.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(status="open", kind="orders_at_risk"),
                name="inventory_disc_open_risk_idx",
            ),
            # The open rows by fact and system pair with their measures and age: the
            # dashboard's breakdowns and open-gaps figure are grouped off this index alone.
            models.Index(
                fields=["fact", "owner", "consumer"],
                condition=Q(status="open"),
                include=["units", "value", "created_at"],
                name="inventory_disc_open_pair_idx",
            ),
            # Corrections by day and cause (the dashboard's chart), off the index alone.
            models.Index(
                fields=["corrected_at"],
                condition=Q(corrected_at__isnull=False),
                include=["kind", "units"],
                name="inventory_disc_corrected_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.sku or ''} {self.bin or ''}".strip()

    def delete(self, *args, **kwargs):
        raise DiscrepancyUndeletable("Discrepancies are resolved, never deleted.")

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def gap(self) -> int | None:
        if self.owner_value is None or self.consumer_value is None:
            return None
        return self.consumer_value - self.owner_value


# The app's other models live in modules of this package (they import the ones above), and the
# demo storefront's tables belong to this app too; its models live with the rest of it.
from inventory.models.jobs import Job  # noqa: E402
from inventory.models.preferences import UserPreference  # noqa: E402
from inventory.models.sync import (  # noqa: E402
    CorrectionBatch,
    InboxEvent,
    OutboxEntry,
    SyncLog,
    SyncState,
)
from inventory.storefront.demo.models import DemoLevel, DemoOrder  # noqa: E402

__all__ = [
    "AuthorityConflict", "Bin", "Commitment", "CorrectionBatch", "DemoLevel", "DemoOrder",
    "Discrepancy", "DiscrepancyUndeletable", "FACT_NAMES", "Fact", "InboxEvent", "Job",
    "LedgerImmutable", "OnHand", "OutboxEntry", "Ownership", "OwnershipChange", "ShelfEvidence",
    "Sku", "StockMovement", "SyncLog", "SyncModeChange", "SyncState", "System", "TruthMoment",
    "UserPreference", "fact_name",
]  # fmt: skip
