"""Drift walks in the Django admin: visible, never edited by hand.

Tasks open, close and change only through ``driftwalks.services`` (the pages of the app),
so the rules (one open task per bin and SKU, a count or a reasoned decision to close) hold.
"""

from django.contrib import admin

from driftwalks.models import Count, CountTask, TaskTrigger, UnplacedRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TaskTriggerInline(admin.TabularInline):
    model = TaskTrigger
    fields = ["created_at", "cause", "reason", "discrepancy", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CountInline(admin.TabularInline):
    model = Count
    fields = ["round", "counted_by", "counted", "expected", "variance", "outcome", "movement"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CountTask)
class CountTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "bin", "sku", "status", "priority", "due_on", "cause", "assignee"]
    list_filter = ["status", "priority", "cause", "bin__zone"]
    search_fields = ["bin__code", "sku__code"]
    list_select_related = ["bin", "sku", "assignee"]
    inlines = [TaskTriggerInline, CountInline]


@admin.register(Count)
class CountAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "round", "counted_by", "counted", "expected", "variance",
                    "outcome", "created_at"]  # fmt: skip
    list_filter = ["outcome", "round", "within_tolerance"]
    list_select_related = ["task__bin", "task__sku", "counted_by"]


@admin.register(UnplacedRequest)
class UnplacedRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "sku", "cause", "why_unplaced", "created_at", "placed_task"]
    list_select_related = ["sku", "placed_task"]
