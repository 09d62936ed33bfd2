"""Forms of returns intake. Each carries, where a double submission must change nothing, a
hidden idempotency key generated when the form is rendered."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.cleaning import CleanForm
from returns.models import ReceiptUnit
from returns.services import MAX_QUANTITY


def new_key() -> str:
    return uuid.uuid4().hex


class KeyField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=64, widget=forms.HiddenInput, **kwargs)


class FindForm(CleanForm):
    q = forms.CharField(max_length=100, required=False, strip=True)


class ScanForm(CleanForm):
    code = forms.CharField(max_length=100, strip=True)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)
    scan_key = KeyField()

    def clean_quantity(self) -> int:
        return self.cleaned_data.get("quantity") or 1


class GradeForm(CleanForm):
    grade = forms.ChoiceField(
        choices=[
            (ReceiptUnit.Grade.SELLABLE, _("Sellable")),
            (ReceiptUnit.Grade.DAMAGED, _("Damaged")),
            (ReceiptUnit.Grade.WRONG_ITEM, _("Wrong item")),
        ],
        error_messages={"required": _("Choose sellable (with a bin), damaged or wrong item.")},
    )
    bin = forms.CharField(max_length=20, required=False, strip=True)
    # Ticked to confirm a new bin: carries the code it confirms (another code asks again).
    create_bin = forms.CharField(max_length=20, required=False, strip=True)

    def creates(self) -> bool:
        data = self.cleaned_data
        return bool(data["bin"]) and data["create_bin"].lower() == data["bin"].lower()


class MissingForm(CleanForm):
    line = forms.IntegerField(min_value=1)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    scan_key = KeyField()


class ConfirmForm(CleanForm):
    confirm_key = KeyField()
    last_box = forms.BooleanField(required=False)


class PhoneReturnForm(CleanForm):
    order_ref = forms.CharField(label=_("Order"), max_length=100, strip=True)
    customer_name = forms.CharField(label=_("Customer"), max_length=100, required=False)
    creation_key = KeyField()


class PhoneReturnLineForm(CleanForm):
    sku = forms.CharField(label="SKU", max_length=64, required=False, strip=True)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)
    reason = forms.CharField(max_length=255, required=False, strip=True)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("sku") and not data.get("quantity"):
            self.add_error("quantity", _("How many units of it come back?"))
        if data.get("quantity") and not data.get("sku"):
            self.add_error("sku", _("Which SKU comes back?"))
        return data


PhoneReturnLineFormSet = forms.formset_factory(
    PhoneReturnLineForm, extra=3, max_num=30, validate_max=True
)


class WriteOffForm(CleanForm):
    reason = forms.CharField(
        max_length=2000, strip=True, error_messages={"required": _("Say why it is written off.")}
    )


class RestockForm(CleanForm):
    bin = forms.CharField(
        max_length=20, strip=True, error_messages={"required": _("Name the bin it goes into.")}
    )
    note = forms.CharField(max_length=200, required=False, strip=True)


class ResolveForm(CleanForm):
    note = forms.CharField(
        max_length=2000, strip=True, error_messages={"required": _("Say what was decided.")}
    )


class CloseForm(CleanForm):
    confirm_key = KeyField()
