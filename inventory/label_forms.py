"""The print-labels forms: what to print and on which label format, each error at its field."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inventory.cleaning import CleanForm
from inventory.labels import FORMATS, LABELS_MAX, code_refusal, default_format, format_choices
from inventory.selectors.labels import bin_for_code, bins_for_labels, sku_for_code, walk_position

TOO_MANY = gettext_lazy("That is %(count)s labels; one print is at most %(most)s.")


class LabelFormatForm(CleanForm):
    format = forms.ChoiceField(
        label=gettext_lazy("Label format"), choices=format_choices, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].initial = default_format().key

    def clean_format(self) -> str:
        """Not named (a link from a bin's page): ``ONEFACT_LABEL_FORMAT``."""
        return self.cleaned_data["format"] or default_format().key


def refusal_of(codes, label_format: str) -> str:
    """Why one of ``codes`` cannot be a barcode on that format's labels, or ""."""
    fmt = FORMATS[label_format]
    return next((why for code in dict.fromkeys(codes) if (why := code_refusal(code, fmt))), "")


class BinLabelForm(LabelFormatForm):
    """One bin, a zone, a stretch of the walk (from–to) or every bin, in walk order."""

    SCOPES = [
        ("one", gettext_lazy("One bin")),
        ("zone", gettext_lazy("A zone")),
        ("range", gettext_lazy("A stretch of the walk (from – to)")),
        ("all", gettext_lazy("Every bin")),
    ]
    scope = forms.ChoiceField(choices=SCOPES, initial="one", widget=forms.RadioSelect)
    bin = forms.CharField(max_length=20, required=False, strip=True, label=gettext_lazy("Bin"))
    zone = forms.CharField(max_length=20, required=False, strip=True, label=gettext_lazy("Zone"))
    start = forms.CharField(
        max_length=20, required=False, strip=True, label=gettext_lazy("From bin")
    )
    end = forms.CharField(max_length=20, required=False, strip=True, label=gettext_lazy("To bin"))
    field_order = ["scope", "bin", "zone", "start", "end", "format"]

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == "one":
            bins = self._one()
        elif scope == "zone":
            bins = self._zone()
        elif scope == "range":
            bins = self._range()
        elif scope == "all":
            bins = list(bins_for_labels()[: LABELS_MAX + 1])
            if not bins:
                self.add_error("scope", _("There are no active bins to label."))
        else:
            bins = None
        if bins:
            self._check(bins, field="bin" if scope == "one" else scope)
        data["bins"] = bins or []
        return data

    def _bin(self, field: str, missing: str):
        code = self.cleaned_data.get(field, "")
        if not code:
            if field not in self.errors:
                self.add_error(field, missing)
            return None
        if (bin := bin_for_code(code=code)) is None:
            self.add_error(field, _("No bin %(code)s.") % {"code": code})
        return bin

    def _one(self):
        bin = self._bin("bin", _("Scan or type the bin to label."))
        return [bin] if bin is not None else None

    def _zone(self):
        zone = self.cleaned_data.get("zone", "")
        if not zone:
            self.add_error("zone", _("Type the zone to label."))
            return None
        bins = list(bins_for_labels(zone=zone)[: LABELS_MAX + 1])
        if not bins:
            self.add_error("zone", _("No active bins in zone %(zone)s.") % {"zone": zone})
        return bins

    def _range(self):
        start = self._bin("start", _("Scan or type the first bin."))
        end = self._bin("end", _("Scan or type the last bin."))
        if start is None or end is None:
            return None
        if walk_position(start) > walk_position(end):
            self.add_error(
                "end",
                _("%(end)s comes before %(start)s on the walk: swap them.")
                % {"end": end.code, "start": start.code},
            )
            return None
        bins = list(bins_for_labels(start=start, end=end)[: LABELS_MAX + 1])
        if not bins:
            self.add_error(
                "start",
                _("No active bins from %(start)s to %(end)s.")
                % {"start": start.code, "end": end.code},
            )
        return bins

    def _check(self, bins, *, field: str) -> None:
        field = {"all": "scope", "range": "start"}.get(field, field)
        if len(bins) > LABELS_MAX:
            self.add_error(
                field,
                _("That is more than %(most)s bins; print a smaller part.")
                % {"most": f"{LABELS_MAX:,}"},
            )
        elif "format" in self.cleaned_data and (
            why := refusal_of((b.code for b in bins), self.cleaned_data["format"])
        ):
            self.add_error(field, why)


class SkuLabelForm(LabelFormatForm):
    sku = forms.CharField(max_length=64, strip=True, label=gettext_lazy("SKU"))
    copies = forms.IntegerField(
        min_value=1,
        initial=1,
        label=gettext_lazy("Labels"),
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    field_order = ["sku", "copies", "format"]

    def clean_sku(self):
        code = self.cleaned_data["sku"]
        if (sku := sku_for_code(code=code)) is None:
            raise forms.ValidationError(_("No SKU %(code)s.") % {"code": code})
        return sku

    def clean(self):
        data = super().clean()
        sku, label_format = data.get("sku"), data.get("format")
        if sku and label_format and (why := refusal_of([sku.code], label_format)):
            self.add_error("sku", why)
        return data

    def clean_copies(self):
        copies = self.cleaned_data["copies"]
        if copies > LABELS_MAX:
            raise forms.ValidationError(
                TOO_MANY % {"count": f"{copies:,}", "most": f"{LABELS_MAX:,}"}
            )
        return copies
