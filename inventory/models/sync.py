"""Storefront sync: the outbox, what each storefront was last told and when, correction batches
held for a manager, and the inbox of webhook deliveries."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from inventory.models import Sku, System


class OutboxEntry(models.Model):
    """A SKU's on-hand or commitments changed; its id is the change's version.

    Written in the same transaction as the change. Drained per storefront by comparing with
    ``SyncState.pushed_version``; rows every storefront has passed are pruned.
    """

    id = models.BigAutoField(primary_key=True)
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "outbox entries"
        indexes = [models.Index(fields=["sku", "id"], name="inventory_outbox_sku_id_idx")]

    def __str__(self) -> str:
        return f"v{self.pk} {self.sku_id}"


class SyncState(models.Model):
    """What one storefront was last told about one SKU, and when."""

    storefront = models.ForeignKey(System, on_delete=models.CASCADE, related_name="sync_states")
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="sync_states")
    pushed_value = models.IntegerField(null=True, blank=True)
    pushed_version = models.BigIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    lag_ms = models.IntegerField(null=True, blank=True, help_text="Commit → acknowledged.")
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["storefront", "sku"], name="inventory_syncstate_storefront_sku_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.storefront} {self.sku}: {self.pushed_value} (v{self.pushed_version})"


class SyncLog(models.Model):
    """One acknowledged push of one SKU: the sync history and the lag figures.

    Only ``live`` pushes measure the sync lag (a change on the shelf → the storefront has
    it). A SKU's first write to a storefront carries changes made before it was connected,
    and a released batch waited for a manager: their ``lag_ms`` is kept, never counted as lag.
    """

    class Kind(models.TextChoices):
        LIVE = "live", "Live push"
        FIRST = "first", "First push of the SKU"
        BATCH = "batch", "Released batch (go-live, held corrections)"

    storefront = models.ForeignKey(System, on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="sync_log")
    value = models.IntegerField()
    version = models.BigIntegerField()
    result = models.CharField(max_length=20)
    lag_ms = models.IntegerField(null=True)
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.LIVE)
    pushed_at = models.DateTimeField(
        default=timezone.now, db_index=True, help_text="Rows of one adapter call share it."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["sku", "-id"], name="inventory_synclog_sku_idx")]

    def __str__(self) -> str:
        return f"{self.sku_id} → {self.value} ({self.result})"


class CorrectionBatch(models.Model):
    """Corrections to one storefront that wait for a manager: a go-live preview, or a run
    the circuit breaker held. While one is held the storefront's sync is paused.

    ``writes`` is the batch exactly as it would be sent: ``[sku_id, code, value, expected]``
    per SKU (the shelf's value, and what the storefront held when it was read).
    """

    class Origin(models.TextChoices):
        GO_LIVE = "go_live", "Go-live preview"
        RECONCILE = "reconcile", "Reconciliation"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        PREVIEW = "preview", "Preview"
        HELD = "held", "Held by the circuit breaker"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"
        SUPERSEDED = "superseded", "Superseded by a newer preview"

    storefront = models.ForeignKey(System, on_delete=models.PROTECT, related_name="batches")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=500, blank=True)
    writes = models.JSONField(default=list)
    skus_raised = models.PositiveIntegerField(default=0)
    skus_lowered = models.PositiveIntegerField(default=0)
    skus_zeroed = models.PositiveIntegerField(default=0)
    units_up = models.PositiveBigIntegerField(default=0)
    units_down = models.PositiveBigIntegerField(default=0)
    storefront_skus = models.PositiveIntegerField(
        default=0, help_text="SKUs the storefront held when the batch was made."
    )
    storefront_units = models.BigIntegerField(
        default=0, help_text="Units the storefront held when the batch was made."
    )
    figures = models.JSONField(
        default=dict,
        blank=True,
        help_text="A preview's readiness figures: SKUs known and not yet counted, and the "
        "storefront's and the shelf's units for the known ones.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="What sending it did.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["storefront"],
                condition=Q(status="held"),
                name="inventory_correctionbatch_one_held",
            ),
            models.UniqueConstraint(
                fields=["storefront"],
                condition=Q(status="preview"),
                name="inventory_correctionbatch_one_preview",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["preview", "held"])
                | (Q(decided_at__isnull=False) & ~Q(decision_note="")),
                name="inventory_correctionbatch_decided_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_origin_display()} for {self.storefront}: {len(self.writes)} SKUs"

    @property
    def units_net(self) -> int:
        return self.units_up - self.units_down


class InboxEvent(models.Model):
    """An inbound event from another system, stored before it is processed (once)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        REFUSED = "refused", "Refused (not the owner)"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="inbox")
    event_id = models.CharField(max_length=200)
    type = models.CharField(max_length=30)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Processing that raised: how often, when the sweep may try again, and the last error. Past
    # ONEFACT_INBOX_MAX_ATTEMPTS the event is parked as failed for a manager to retry.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "event_id"], name="inventory_inboxevent_system_event_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(status="pending"), name="inventory_inbox_pending_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.type} {self.event_id}"
