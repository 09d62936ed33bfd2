"""Forms of replenishment: receiving at the dock, the suggestions' filters, drafting,
transfers between warehouses."""

import re
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.cleaning import CleanForm, page_number
from inventory.exceptions import MovementRefused
from inventory.models import Bin, Sku, Warehouse
from inventory.services import bin_check_put, sku_check_receive
from inventory.services.imports import BIN_CODE
from replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Transfer,
    TransferLine,
)
from replenishment.selectors import SORTS

MAX_UNITS = 100_000
MAX_SELECTED = 500
KEY_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def _clean_key(value: str) -> str:
    if not KEY_PATTERN.match(value or ""):
        raise forms.ValidationError(_("This form has expired; reload the page and try again."))
    return value


@dataclass(frozen=True)
class Question:
    """Something to confirm before anything moves: the checkbox ``name`` carries ``value``
    (the units, or the new bin's code), so a changed count or bin asks again."""

    name: str
    value: str
    text: str


class ReceiveForm(CleanForm):
    """Scan the SKU, enter the count, scan the bin. ``sku`` cleans to the PO's line; ``bin``
    to a Bin, or to the code of a bin that does not exist yet.

    Valid is not yet bookable: more than the line still has due, or a new bin, is asked
    first (``questions``); the ticked checkbox carries the units or the code it confirms.
    """

    sku = forms.CharField(max_length=64, label=_("Scan the SKU"))
    units = forms.IntegerField(min_value=1, max_value=MAX_UNITS, label=_("Units counted"))
    bin = forms.CharField(max_length=20, label=_("Scan the bin"))
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    confirm_units = forms.IntegerField(required=False, widget=forms.HiddenInput)
    create_bin = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, po: PurchaseOrder, **kwargs):
        super().__init__(*args, **kwargs)
        self.po = po
        self.questions: list[Question] = []

    def clean_sku(self) -> PurchaseOrderLine:
        code = self.cleaned_data["sku"].strip()
        line = (
            PurchaseOrderLine.objects.select_related("sku")
            .filter(po=self.po, sku__code__iexact=code)
            .first()
        )
        if line is None:
            if Sku.objects.filter(code__iexact=code).exists():
                raise forms.ValidationError(
                    _("%(code)s is not on %(po)s: check the label and the delivery note.")
                    % {"code": code, "po": self.po.number}
                )
            raise forms.ValidationError(
                _("No SKU %(code)s in the catalog: scan the label again.") % {"code": code}
            )
        try:
            sku_check_receive(line.sku)
        except MovementRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return line

    def clean_bin(self) -> Bin | str:
        code = self.cleaned_data["bin"].strip()
        bin = Bin.objects.filter(code__iexact=code).first()
        if bin is None:
            if not BIN_CODE.fullmatch(code):
                raise forms.ValidationError(
                    _(
                        "No bin %(code)s, and it cannot be one (letters, digits, '-', '.' or "
                        "'_'): scan the bin's label again."
                    )
                    % {"code": code}
                )
            return code  # a new location: asked in clean()
        try:
            bin_check_put(bin)
        except MovementRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return bin

    def clean_key(self) -> str:
        return _clean_key(self.cleaned_data["key"])

    def clean(self) -> dict:
        data = super().clean()
        line, units, bin = data.get("sku"), data.get("units"), data.get("bin")
        if line and units and units > line.outstanding and data.get("confirm_units") != units:
            over = units - line.outstanding
            self.questions.append(Question("confirm_units", str(units), (
                f"{units} is more than the {line.outstanding} of {line.sku.code} still due on "
                f"{self.po.number} (ordered {line.ordered}, {line.received} in). Receive all "
                f"{units}? The {over} extra are recorded for a manager."
            )))  # fmt: skip
        if isinstance(bin, str) and (data.get("create_bin") or "").lower() != bin.lower():
            self.questions.append(Question("create_bin", bin, (
                f"There is no bin {bin} yet. Create bin {bin} and put the units there?"
            )))  # fmt: skip
        return data


class SuggestionFilterForm(CleanForm):
    supplier = forms.ModelChoiceField(
        queryset=Supplier.objects.order_by("name"),
        required=False,
        empty_label=_("Every supplier"),
        widget=forms.Select(attrs={"aria-label": _("Supplier")}),
    )
    sort = forms.ChoiceField(
        choices=[
            ("urgency", _("Most urgent first")),
            ("cover", _("Fewest days of cover first")),
            ("code", _("By SKU")),
        ],
        required=False,
        widget=forms.Select(attrs={"aria-label": _("Sort")}),
    )
    show = forms.ChoiceField(
        choices=[
            ("needed", _("Only SKUs to order")),
            ("uncounted", _("Not yet counted")),
            ("all", _("Every SKU")),
        ],
        required=False,
        widget=forms.Select(attrs={"aria-label": _("Show")}),
    )

    def filters(self) -> dict:
        (
            """The cleaned filters, or the defaults for anything malformed (a list never 400s);
        the page number is read apart, so a page past any end keeps the filters."""
            ""
        )
        data = self.cleaned_data if self.is_valid() else {}
        supplier = data.get("supplier")
        sort = data.get("sort") or "urgency"
        show = data.get("show") or "needed"
        return {
            "supplier_id": supplier.pk if supplier else None,
            "sort": sort if sort in SORTS else "urgency",
            "needed_only": show == "needed",
            "uncounted_only": show == "uncounted",
            "page": page_number(self.data),
        }


class DraftForm(CleanForm):
    """The selected suggestions (SKU ids) and the submission's key."""

    sku = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)
    key = forms.CharField(max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any whole number is a valid choice; the service decides what may be ordered.
        self.fields["sku"].valid_value = lambda value: str(value).isdigit()
        self.fields["sku"].error_messages["required"] = "Tick at least one suggestion to order."

    def clean_sku(self) -> list[int]:
        ids = sorted(set(self.cleaned_data["sku"]))
        if len(ids) > MAX_SELECTED:
            raise forms.ValidationError(f"Draft at most {MAX_SELECTED} lines at a time.")
        return ids

    def clean_key(self) -> str:
        return _clean_key(self.cleaned_data["key"])


class LineSetForm(CleanForm):
    ordered = forms.IntegerField(min_value=0, max_value=MAX_UNITS, label="Order")


# --- transfers between warehouses ---------------------------------------------------------


class TransferDraftForm(CleanForm):
    """The two warehouses of a draft transfer and the submission's key; its lines are
    ``TransferLineFormSet``'s."""

    from_warehouse = forms.ModelChoiceField(
        queryset=Warehouse.objects.filter(active=True).order_by("code"),
        label=_("From warehouse"),
        empty_label=None,
    )
    to_warehouse = forms.ModelChoiceField(
        queryset=Warehouse.objects.filter(active=True).order_by("code"),
        label=_("To warehouse"),
        empty_label=None,
    )
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def clean_key(self) -> str:
        return _clean_key(self.cleaned_data["key"])


class TransferLineForm(CleanForm):
    """One line: a SKU, the bin it leaves from, how many. An empty row is left out."""

    sku = forms.CharField(max_length=64, required=False, label=_("SKU"))
    from_bin = forms.CharField(max_length=20, required=False, label=_("From bin"))
    quantity = forms.IntegerField(
        min_value=1, max_value=MAX_UNITS, required=False, label=_("Units")
    )

    def clean_sku(self) -> Sku | None:
        code = self.cleaned_data["sku"].strip()
        if not code:
            return None
        if sku := Sku.objects.filter(code__iexact=code).first():
            return sku
        raise forms.ValidationError(_("No SKU %(code)s in the catalog.") % {"code": code})

    def clean_from_bin(self) -> Bin | None:
        code = self.cleaned_data["from_bin"].strip()
        if not code:
            return None
        if bin := Bin.objects.filter(code__iexact=code).first():
            return bin
        raise forms.ValidationError(_("No bin %(code)s.") % {"code": code})

    def clean(self) -> dict:
        data = super().clean()
        given = [name for name in ("sku", "from_bin", "quantity") if self.data.get(
            self.add_prefix(name), "").strip()]  # fmt: skip
        if given:
            if "sku" not in given:
                self.add_error("sku", _("Which SKU goes?"))
            if "from_bin" not in given:
                self.add_error("from_bin", _("Which bin do the units leave from?"))
            if "quantity" not in given:
                self.add_error("quantity", _("How many units go?"))
        return data

    @property
    def is_blank(self) -> bool:
        return not any(self.cleaned_data.get(n) for n in ("sku", "from_bin", "quantity"))


TransferLineFormSet = forms.formset_factory(
    TransferLineForm, extra=5, max_num=50, validate_max=True
)


class TransferReceiveForm(CleanForm):
    """Scan the bin, scan the SKU, enter the count. ``bin`` cleans to a bin of the receiving
    warehouse, or to the code of a bin that does not exist yet; ``sku`` to the transfer's
    line (the first one of that SKU with units still in transit).

    Valid is not yet bookable: more than the line still has in transit, or a new bin, is
    asked first (``questions``), as on a purchase order's receiving page.
    """

    bin = forms.CharField(max_length=20, label=_("Scan the bin"))
    sku = forms.CharField(max_length=64, label=_("Scan the SKU"))
    units = forms.IntegerField(min_value=1, max_value=MAX_UNITS, label=_("Units counted"))
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    confirm_units = forms.IntegerField(required=False, widget=forms.HiddenInput)
    create_bin = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, transfer: Transfer, **kwargs):
        super().__init__(*args, **kwargs)
        self.transfer = transfer
        self.questions: list[Question] = []

    def clean_bin(self) -> Bin | str:
        code = self.cleaned_data["bin"].strip()
        bin = Bin.objects.select_related("warehouse").filter(code__iexact=code).first()
        if bin is None:
            if not BIN_CODE.fullmatch(code):
                raise forms.ValidationError(
                    _(
                        "No bin %(code)s, and it cannot be one (letters, digits, '-', '.' or "
                        "'_'): scan the bin's label again."
                    )
                    % {"code": code}
                )
            return code  # a new location: asked in clean()
        if bin.warehouse_id != self.transfer.to_warehouse_id:
            raise forms.ValidationError(
                _("Bin %(bin)s is in %(there)s, not %(here)s: scan a bin of %(here)s.")
                % {"bin": bin.code, "there": bin.warehouse.code,
                   "here": self.transfer.to_warehouse.code}
            )  # fmt: skip
        try:
            bin_check_put(bin)
        except MovementRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return bin

    def clean_sku(self) -> TransferLine:
        code = self.cleaned_data["sku"].strip()
        lines = list(
            TransferLine.objects.select_related("sku", "from_bin")
            .filter(transfer=self.transfer, sku__code__iexact=code)
            .order_by("pk")
        )
        if not lines:
            if Sku.objects.filter(code__iexact=code).exists():
                raise forms.ValidationError(
                    _("%(code)s is not on %(number)s: check the label and the transfer note.")
                    % {"code": code, "number": self.transfer.number}
                )
            raise forms.ValidationError(
                _("No SKU %(code)s in the catalog: scan the label again.") % {"code": code}
            )
        return next((line for line in lines if line.outstanding), lines[0])

    def clean_key(self) -> str:
        return _clean_key(self.cleaned_data["key"])

    def clean(self) -> dict:
        data = super().clean()
        line, units, bin = data.get("sku"), data.get("units"), data.get("bin")
        if line and units and units > line.outstanding and data.get("confirm_units") != units:
            self.questions.append(Question("confirm_units", str(units), _(
                "%(units)s is more than the %(due)s of %(sku)s still in transit on %(number)s "
                "(sent %(sent)s, %(received)s in). Receive all %(units)s? The %(over)s extra "
                "are recorded for a manager."
            ) % {"units": units, "due": line.outstanding, "sku": line.sku.code,
                 "number": self.transfer.number, "sent": line.quantity,
                 "received": line.received, "over": units - line.outstanding}))  # fmt: skip
        if isinstance(bin, str) and (data.get("create_bin") or "").lower() != bin.lower():
            self.questions.append(Question("create_bin", bin, _(
                "There is no bin %(bin)s yet. Create bin %(bin)s in %(warehouse)s and put the "
                "units there?"
            ) % {"bin": bin, "warehouse": self.transfer.to_warehouse.code}))  # fmt: skip
        return data
