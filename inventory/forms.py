from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inventory.cleaning import CleanForm
from inventory.services.imports import REJECT, SKIP

MAX_IMPORT_BYTES = 2 * 1024 * 1024


class ImportForm(CleanForm):
    """A CSV file, read as UTF-8 text into ``cleaned_data["text"]``, and what to do with a bad
    row. Subclasses say which columns in the file field's help text."""

    file = forms.FileField()
    mode = forms.ChoiceField(
        choices=[
            (REJECT, "Reject the whole file if any row is bad"),
            (SKIP, "Import the good rows, skip the bad ones and report them"),
        ],
        initial=REJECT,
        widget=forms.RadioSelect,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB; split it.")
        try:
            self.cleaned_data["text"] = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                "The file is not UTF-8 text (save it as CSV UTF-8)."
            ) from error
        return upload


class BinImportForm(ImportForm):
    file = forms.FileField(help_text="CSV with a header: code, zone, walk_order, active.")


class SkuImportForm(ImportForm):
    file = forms.FileField(
        help_text="CSV with a header: code, then any of title, unit_cost, active."
    )


class DashboardFilterForm(CleanForm):
    """The dashboard's filters; anything unreadable falls back to the default."""

    status = forms.ChoiceField(
        choices=[("open", _("Open")), ("resolved", _("Resolved")), ("", _("All"))], required=False
    )
    fact = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False)
    sku = forms.CharField(required=False, max_length=64)
    bin = forms.CharField(required=False, max_length=20)
    system = forms.CharField(required=False, max_length=50)
    older_than_days = forms.IntegerField(required=False, min_value=0, max_value=3650)
    sort = forms.ChoiceField(
        choices=[
            ("-age", _("Newest")),
            ("age", _("Oldest")),
            ("units", _("Most units")),
            ("value", _("Most value")),
        ],  # fmt: skip
        required=False,
    )

    def __init__(self, data, *args, **kwargs):
        from inventory.models import Discrepancy, Fact

        data = data.copy()
        data.setdefault("status", "open")
        super().__init__(data, *args, **kwargs)
        self.fields["fact"].choices = [("", _("Every fact")), *Fact.choices]
        self.fields["kind"].choices = [("", _("Every kind")), *Discrepancy.Kind.choices]

    def filters(self) -> dict:
        if not self.is_valid():
            return {"status": "open"}
        data = self.cleaned_data
        return {
            "status": data["status"],
            "fact": data["fact"],
            "kind": data["kind"],
            "sku_code": data["sku"].strip(),
            "bin_code": data["bin"].strip(),
            "system": data["system"].strip(),
            "older_than_days": data["older_than_days"],
            "sort": data["sort"] or "-age",
        }

    def shows_every_open_row(self) -> bool:
        """Only the default filter (open): the table holds every open discrepancy, as many as
        the open-gaps figure counts."""
        filters = self.filters()
        filters.pop("sort", None)
        return filters.pop("status") == "open" and all(v in ("", None) for v in filters.values())


class DiscrepancyDecisionForm(CleanForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why this disagreement is settled without a count or a correction.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A manager's decision needs a reason.")
        return reason


class StorefrontConnectForm(CleanForm):
    """A new storefront; the rules are the service's (``storefront_config_check``)."""

    name = forms.SlugField(
        max_length=50, help_text="A short name, e.g. shop-eu; it names the webhook URL."
    )
    adapter = forms.ChoiceField(choices=[("shopify", "Shopify"), ("saleor", "Saleor"),
                                         ("demo", "Demo storefront")])  # fmt: skip
    url = forms.CharField(
        label="Shop or API URL",
        max_length=300,
        required=False,
        help_text="Shopify: https://your-shop.myshopify.com. Saleor: its GraphQL API URL.",
    )
    location = forms.CharField(
        label="Location or warehouse id",
        max_length=200,
        required=False,
        help_text="Shopify: the location's number. Saleor: the warehouse id.",
    )
    token = forms.CharField(
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Shopify: the Admin API access token. Saleor: the app's token.",
    )
    webhook_secret = forms.CharField(
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Shopify: the app's client secret, which signs its webhooks. Saleor signs "
        "with its own published keys: leave blank.",
    )


class StorefrontSecretsForm(CleanForm):
    """Replace a storefront's stored token or webhook secret (blank: keep the stored one)."""

    token = forms.CharField(
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    webhook_secret = forms.CharField(
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


# --- The adoption path: going live on a preview, releasing or cancelling a held batch ------


class ReasonForm(CleanForm):
    """A manager's decision on a storefront's corrections; the reason is kept with it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Kept with the decision, your name and the time.",
        error_messages={"required": "Say why: this decision needs a reason."},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why: this decision needs a reason.")
        return reason


class GoLiveForm(ReasonForm):
    """Go live on the preview the manager saw: its id comes back, so an older one is refused."""

    preview = forms.IntegerField(widget=forms.HiddenInput)


class ProfileForm(CleanForm):
    """The user's own preferences: the language of their pages."""

    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("The browser's language")), *settings.LANGUAGES],
        required=False,
        help_text=_("The pages and their messages are shown in this language."),
    )
