"""Forms of the demo storefront page: set a number by hand, place a one-line order."""

from django import forms

from inventory.cleaning import CleanForm
from inventory.storefront.demo.models import DemoLevel
from inventory.storefront.demo.services import MAX_QUANTITY


class _DemoSkuForm(CleanForm):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def clean_sku(self) -> str:
        code = self.cleaned_data["sku"]
        if not DemoLevel.objects.filter(sku_code=code).exists():
            raise forms.ValidationError(f"The demo storefront has no SKU {code}.")
        return code


class DemoDriftForm(_DemoSkuForm):
    """Set the demo's number by hand (no webhook: reconciliation must find the gap)."""

    quantity = forms.IntegerField(min_value=0, max_value=MAX_QUANTITY)


class DemoOrderForm(_DemoSkuForm):
    """A shopper orders ``quantity`` of one SKU."""

    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    customer_name = forms.CharField(max_length=100, required=False)
    # New with every rendering of the row: a second submission of one rendering is refused.
    request_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)
