"""Admins keep suppliers and reorder policies here; purchase orders and transfers are read
here and run on the replenishment pages (dispatching and receiving change on-hand, so they
never happen in the admin)."""

from django.contrib import admin

from replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReorderPolicy,
    Supplier,
    Transfer,
    TransferLine,
    TransferReceipt,
)


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "active"]
    list_filter = ["active"]
    search_fields = ["name"]


@admin.register(ReorderPolicy)
class ReorderPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "supplier",
        "lead_time_days",
        "review_period_days",
        "safety_stock_days",
        "safety_stock_units",
        "min_order_qty",
        "case_pack",
        "target_days",
    ]
    list_filter = ["supplier"]
    search_fields = ["sku__code"]
    autocomplete_fields = ["sku"]
    list_select_related = ["sku", "supplier"]


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    fields = ["sku", "ordered", "received"]
    readonly_fields = ["sku", "ordered", "received"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ["number", "supplier", "status", "expected_at", "created_at"]
    list_filter = ["status", "supplier"]
    search_fields = ["number"]
    readonly_fields = [
        "number",
        "supplier",
        "status",
        "request_key",
        "created_by",
        "created_at",
        "sent_at",
        "closed_at",
    ]
    inlines = [PurchaseOrderLineInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ["created_at", "line", "bin", "units", "actor"]
    list_select_related = ["line__po", "line__sku", "bin", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    fields = ["sku", "from_bin", "quantity", "received"]
    readonly_fields = ["sku", "from_bin", "quantity", "received"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ["number", "from_warehouse", "to_warehouse", "status", "dispatched_at"]
    list_filter = ["status", "from_warehouse", "to_warehouse"]
    list_select_related = ["from_warehouse", "to_warehouse"]
    search_fields = ["number"]
    readonly_fields = [
        "number",
        "from_warehouse",
        "to_warehouse",
        "status",
        "request_key",
        "created_by",
        "created_at",
        "dispatched_at",
        "closed_at",
    ]
    inlines = [TransferLineInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TransferReceipt)
class TransferReceiptAdmin(admin.ModelAdmin):
    list_display = ["created_at", "line", "bin", "units", "actor"]
    list_select_related = ["line__transfer", "line__sku", "line__from_bin", "bin", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
