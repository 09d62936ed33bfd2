import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import render

from inventory import selectors, services
from inventory.exceptions import InvalidMovement, InventoryError, MovementRefused
from inventory.models import (
    AuthorityConflict,
    Bin,
    Commitment,
    CorrectionBatch,
    OnHand,
    Ownership,
    OwnershipChange,
    ShelfEvidence,
    Sku,
    StockMovement,
    SyncModeChange,
    System,
    Warehouse,
    default_warehouse_id,
)
from inventory.selectors.storefronts import mode_change_actor


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit trails and mirrors: visible, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SyncModeChangeInline(admin.TabularInline):
    model = SyncModeChange
    fields = ["changed_at", "changed_by_label", "before", "after", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="changed by")
    def changed_by_label(self, change):
        return mode_change_actor(change)


class SyncModeForm(forms.Form):
    mode = forms.ChoiceField(choices=System.SyncMode.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why switch? Kept in the audit log with your name and the time.",
        error_messages={"required": "Every change of a storefront's sync mode needs a reason."},
    )


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "adapter", "sync_mode", "active", "token_prefix"]
    list_filter = ["kind", "sync_mode", "active"]
    readonly_fields = ["sync_mode", "token_prefix"]
    actions = ["issue_token", "revoke_token", "switch_sync_mode"]
    inlines = [SyncModeChangeInline]

    @admin.action(description="Issue a new API token (shown once)")
    def issue_token(self, request, queryset):
        for system in queryset:
            token = system.issue_token()
            self.message_user(
                request,
                f"New token for {system.name}: {token} — copy it now, only its hash is kept.",
                messages.WARNING,
            )

    @admin.action(description="Revoke the API token (its system's API calls are refused)")
    def revoke_token(self, request, queryset):
        for system in queryset:
            system.revoke_token()
        names = ", ".join(s.name for s in queryset)
        self.message_user(request, f"API token revoked for {names}.", messages.SUCCESS)

    @admin.action(description="Switch sync mode (observe or live), with a reason")
    def switch_sync_mode(self, request, queryset):
        form = SyncModeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for system in queryset.order_by("pk"):
                self._switch(request, system, form.cleaned_data)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Switch sync mode",
            "systems": queryset,
            "form": form,
            "action": "switch_sync_mode",
            "opts": self.model._meta,
        }
        return render(request, "admin/inventory/switch_sync_mode.html", context)

    def _switch(self, request, system, data):
        try:
            change = services.storefront_mode_set(
                storefront=system, mode=data["mode"], reason=data["reason"], actor=request.user
            )
        except InvalidMovement as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        if change is None:
            self.message_user(request, f"{system.name} is in {data['mode']} mode already.")
        else:
            self.message_user(
                request, f"{system.name}: {change.before} → {change.after}.", messages.SUCCESS
            )


class OwnershipForm(forms.ModelForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this change? Kept in the audit log with your name and the time.",
    )

    class Meta:
        model = Ownership
        fields = ["owner", "consumers", "truth_moment"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.fact == "on_hand" and not cleaned.get("truth_moment"):
            self.add_error("truth_moment", "On-hand needs a truth moment: ship or order.")
        if "owner" in cleaned and "consumers" in cleaned:
            # The rule lives in the service (every write path runs it); here it only puts
            # each message at its field before anything is saved.
            try:
                services.ownership_validate(
                    fact=self.instance.fact,
                    owner=cleaned["owner"],
                    consumers=cleaned["consumers"],
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


class OwnershipChangeSentence:
    """The change as its sentence (``OwnershipChange.sentence``), on every admin screen."""

    @admin.display(description="change")
    def change_sentence(self, change: OwnershipChange) -> str:
        return change.sentence()


class OwnershipChangeInline(OwnershipChangeSentence, admin.TabularInline):
    model = OwnershipChange
    fields = ["change_sentence"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ownership", "changed_by")


@admin.register(Ownership)
class OwnershipAdmin(admin.ModelAdmin):
    form = OwnershipForm
    list_display = ["fact", "owner", "truth_moment", "updated_at"]
    filter_horizontal = ["consumers"]
    inlines = [OwnershipChangeInline]

    def has_add_permission(self, request):
        return False  # one row per fact, seeded by migration

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.ownership_change(
            ownership=obj,
            owner=form.cleaned_data["owner"],
            consumers=form.cleaned_data["consumers"],
            truth_moment=form.cleaned_data.get("truth_moment") or "",
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )

    def save_related(self, request, form, formsets, change):
        # Consumers were set by the service, inside the audited transaction; only the
        # (read-only) inline of past changes is left for the admin to process.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(OwnershipChange)
class OwnershipChangeAdmin(OwnershipChangeSentence, ReadOnlyAdmin):
    """Each row shows its own change (before → after), never today's owner."""

    list_display = ["changed_at", "change_sentence"]
    list_filter = ["ownership__fact"]
    list_select_related = ["ownership", "changed_by"]
    fields = ["changed_at", "change_sentence"]
    readonly_fields = fields


@admin.register(AuthorityConflict)
class AuthorityConflictAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "system", "fact", "owner", "detail"]
    list_filter = ["fact", "system"]
    list_select_related = ["system", "owner"]


class WarehouseAdminForm(forms.ModelForm):
    # Not named "owner": the model's field is not editable, and the admin refuses a form
    # field of a non-editable model field's name.
    on_hand_owner = forms.ModelChoiceField(
        queryset=System.objects.filter(kind=System.Kind.THIRD_PARTY, active=True),
        required=False,
        empty_label="The shelf (OneFact counts it)",
        label="On-hand owner",
        help_text="Who owns on-hand here. A 3PL's system when the 3PL counts these units: "
        "OneFact then writes no movement here, it reads and mirrors the 3PL's numbers.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Why change the owner? Kept in the ownership table's audit log.",
    )

    class Meta:
        model = Warehouse
        fields = ["code", "name", "address", "active", "is_default"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("on_hand_owner", self.instance.owner_id)

    def clean(self):
        cleaned = super().clean()
        owner = cleaned.get("on_hand_owner")
        if (owner.pk if owner else None) == self.instance.owner_id:
            return cleaned
        if not cleaned.get("reason", "").strip():
            self.add_error("reason", "Every change to the ownership table needs a reason.")
        probe = Warehouse(pk=self.instance.pk, is_default=cleaned.get("is_default", False),
                          code=cleaned.get("code") or self.instance.code)  # fmt: skip
        try:
            services.warehouse_owner_validate(warehouse=probe, owner=owner)
        except ValidationError as error:
            for message in error.message_dict.get("owner", error.messages):
                self.add_error("on_hand_owner", message)
        return cleaned


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    form = WarehouseAdminForm
    list_display = ["code", "name", "owner", "is_default", "active"]
    list_filter = ["active", "owner"]
    list_select_related = ["owner"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "on_hand_owner" in form.changed_data:
            services.warehouse_owner_set(
                warehouse=obj,
                owner=form.cleaned_data["on_hand_owner"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )

    def has_delete_permission(self, request, obj=None):
        return False  # its bins and their ledger reference it; deactivate instead


class BinAdminForm(forms.ModelForm):
    class Meta:
        model = Bin
        fields = ["code", "warehouse", "zone", "walk_order", "active"]

    def clean_warehouse(self):
        """A bin that holds units stays where it is: moving it would move its units between
        warehouses without a movement (per-warehouse numbers would jump)."""
        warehouse = self.cleaned_data["warehouse"]
        bin = self.instance
        moved = bin.pk and warehouse != bin.warehouse
        if moved and (units := selectors.units_in_bin(bin=bin)):
            raise ValidationError(
                f"Bin {bin.code} holds {units} units; move or count them out before "
                "putting the bin in another warehouse."
            )
        return warehouse

    def clean(self):
        cleaned = super().clean()
        warehouse = cleaned.get("warehouse")
        if warehouse and warehouse.is_external and cleaned.get("active"):
            self.add_error(
                "active",
                f"{warehouse.owner.name} owns on-hand at {warehouse.code}: OneFact keeps no "
                "active bins there.",
            )
        return cleaned


@admin.register(Bin)
class BinAdmin(admin.ModelAdmin):
    form = BinAdminForm

    def get_changeform_initial_data(self, request):
        return {"warehouse": default_warehouse_id(), **super().get_changeform_initial_data(request)}

    list_display = ["code", "warehouse", "zone", "walk_order", "active"]
    list_filter = ["warehouse", "zone", "active"]
    list_select_related = ["warehouse"]
    search_fields = ["code"]

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger references bins; deactivate instead


@admin.register(Sku)
class SkuAdmin(ReadOnlyAdmin):
    """The storefront owns the catalog; OneFact only mirrors it."""

    list_display = ["code", "title", "active", "unit_cost"]
    list_filter = ["active"]
    search_fields = ["code", "title"]


class AdjustStockForm(forms.Form):
    delta = forms.IntegerField(help_text="Units to add (positive) or take away (negative).")
    note = forms.CharField(max_length=255, help_text="Why: kept on the ledger row.")
    event_id = forms.CharField(widget=forms.HiddenInput)

    def clean_delta(self):
        try:
            services.units_check(self.cleaned_data["delta"])
        except MovementRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return self.cleaned_data["delta"]


@admin.register(OnHand)
class OnHandAdmin(admin.ModelAdmin):
    list_display = ["bin", "sku", "quantity", "updated_at"]
    list_select_related = ["bin", "sku"]
    search_fields = ["sku__code", "bin__code"]
    readonly_fields = ["bin", "sku", "quantity", "updated_at"]
    actions = ["adjust_stock"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Adjust stock (a count-adjust movement on the ledger)")
    def adjust_stock(self, request, queryset):
        if "apply" in request.POST:
            form = AdjustStockForm(request.POST)
            if form.is_valid():
                self._apply_adjustment(request, queryset, form.cleaned_data)
                return None
        else:
            form = AdjustStockForm(initial={"event_id": uuid.uuid4().hex})
        context = {
            **self.admin_site.each_context(request),
            "title": "Adjust stock",
            "rows": queryset.select_related("bin", "sku"),
            "form": form,
            "action": "adjust_stock",
            "opts": self.model._meta,
        }
        return render(request, "admin/inventory/adjust_stock.html", context)

    def _apply_adjustment(self, request, queryset, data):
        shelf = selectors.shelf_system()
        for row in queryset.select_related("bin", "sku").order_by("pk"):
            try:
                services.on_hand_adjust(
                    bin=row.bin,
                    sku=row.sku,
                    delta=data["delta"],
                    kind=StockMovement.Kind.COUNT_ADJUST,
                    source_system=shelf,
                    source_event_id=f"admin:{data['event_id']}:{row.pk}",
                    actor=request.user,
                    note=data["note"],
                )
                self.message_user(request, f"{row.sku} in {row.bin}: {data['delta']:+d}.")
            except InventoryError as error:
                self.message_user(request, str(error), messages.ERROR)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "bin", "sku", "quantity", "balance_after", "actor"]
    list_filter = ["kind", "source_system"]
    list_select_related = ["bin", "sku", "actor"]
    search_fields = ["sku__code", "bin__code", "source_event_id", "reference"]


@admin.register(Commitment)
class CommitmentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "sku", "order_ref", "quantity", "status"]
    list_filter = ["status"]
    list_select_related = ["sku"]


@admin.register(SyncModeChange)
class SyncModeChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "system", "before", "after", "changed_by_label", "reason"]
    list_filter = ["system", "after"]
    list_select_related = ["system", "changed_by"]

    @admin.display(description="changed by")
    def changed_by_label(self, change):
        return mode_change_actor(change)


@admin.register(CorrectionBatch)
class CorrectionBatchAdmin(ReadOnlyAdmin):
    """Decided on the storefront's pages (release or cancel, go live), never here."""

    list_display = [
        "created_at",
        "storefront",
        "origin",
        "status",
        "skus_raised",
        "skus_lowered",
        "skus_zeroed",
        "decided_by",
    ]
    list_filter = ["status", "origin", "storefront"]
    list_select_related = ["storefront", "decided_by"]


@admin.register(ShelfEvidence)
class ShelfEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["sku", "kind", "reference", "recorded_by", "recorded_at"]
    list_filter = ["kind"]
    list_select_related = ["sku", "recorded_by"]
    search_fields = ["sku__code", "reference"]
