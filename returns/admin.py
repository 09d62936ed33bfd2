"""Returns in the Django admin: visible to admins, never edited by hand (the counts are
invariants kept by the services and the database)."""

from django.contrib import admin

from returns.models import (
    QuarantineItem,
    ReceiptUnit,
    RefundMirror,
    ReturnAuthorisation,
    ReturnLine,
    ReturnOutcome,
    ReturnReceipt,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ["line_ref", "sku_code", "reason", "expected", "sellable", "damaged", "missing"]
    readonly_fields = fields


class ReturnReceiptInline(ReadOnlyInline):
    model = ReturnReceipt
    fields = ["sequence", "status", "opened_by", "confirmed_by", "confirmed_at", "last_box"]
    readonly_fields = fields


@admin.register(ReturnAuthorisation)
class ReturnAuthorisationAdmin(ReadOnlyAdmin):
    list_display = ["number", "order_ref", "customer_name", "storefront", "origin", "status",
                    "refund_status", "created_at", "late_flagged_at"]  # fmt: skip
    list_filter = ["status", "origin", "refund_status"]
    search_fields = ["number", "order_ref", "customer_name"]
    list_select_related = ["storefront"]
    inlines = [ReturnLineInline, ReturnReceiptInline]


@admin.register(ReceiptUnit)
class ReceiptUnitAdmin(ReadOnlyAdmin):
    list_display = ["receipt", "sku_code", "quantity", "grade", "bin", "movement", "created_at"]
    list_filter = ["grade"]
    search_fields = ["sku_code", "receipt__rma__number"]
    list_select_related = ["receipt", "bin", "movement"]


@admin.register(QuarantineItem)
class QuarantineItemAdmin(ReadOnlyAdmin):
    list_display = ["rma", "sku_code", "quantity", "status", "bin", "resolved_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["sku_code", "rma__number"]
    list_select_related = ["rma", "bin", "resolved_by"]


@admin.register(ReturnOutcome)
class ReturnOutcomeAdmin(ReadOnlyAdmin):
    list_display = ["rma", "line", "disposition", "quantity", "status", "attempts", "last_error",
                    "sent_at"]  # fmt: skip
    list_filter = ["status", "disposition"]
    search_fields = ["rma__number"]
    list_select_related = ["rma", "line"]


@admin.register(RefundMirror)
class RefundMirrorAdmin(ReadOnlyAdmin):
    list_display = ["system", "order_ref", "units", "event_id", "occurred_at", "recorded_at"]
    search_fields = ["order_ref", "event_id"]
    list_select_related = ["system"]
