"""The demo storefront's own tables (app ``inventory``): its number per SKU and its orders."""

from django.db import models
from django.db.models import Q


class DemoLevel(models.Model):
    """The built-in demo storefront's own number per SKU (it is a storefront, not the shelf)."""

    sku_code = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku_code"]

    def __str__(self) -> str:
        return f"{self.sku_code}: {self.quantity}"


class DemoOrder(models.Model):
    """An order placed in the demo storefront; its events reach OneFact like a webhook."""

    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"
        FULFILLED = "fulfilled", "Fulfilled"

    number = models.CharField(max_length=20, unique=True)
    customer_name = models.CharField(max_length=100, blank=True)
    lines = models.JSONField(default=list, help_text='[{"sku": "SKU-1", "quantity": 2}]')
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLACED)
    return_dispositions = models.JSONField(
        default=list,
        blank=True,
        help_text="What OneFact reported per returned line: restocked, processing_required, "
        "not_restocked or missing (the storefront decides the refund from it).",
    )
    request_key = models.CharField(
        max_length=100, blank=True, help_text="The order form's key: a resubmission places nothing."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request_key"],
                condition=~Q(request_key=""),
                name="inventory_demoorder_request_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return self.number
