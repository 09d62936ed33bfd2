"""Forms of drift walks: they check the shape of the input; the services check the state."""

import uuid
from dataclasses import dataclass
from itertools import zip_longest

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from driftwalks import selectors
from driftwalks.models import MAX_COUNT, CountTask
from driftwalks.services import CountLine
from inventory.cleaning import CleanForm, whole_number
from inventory.forms import ImportForm
from inventory.models import Bin, Sku

COUNT_ATTRS = {
    "inputmode": "numeric",
    "pattern": "[0-9]*",
    "enterkeyhint": "next",
    "autocomplete": "off",
    "min": "0",
    "max": str(MAX_COUNT),
}


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass
class FoundLine:
    """A SKU the counter found in the bin that was not on the sheet."""

    code: str
    sku: Sku | None
    raw: str
    error: str = ""

    @property
    def counted(self) -> int:
        return int(self.raw)


def _whole(raw: str) -> int | None:
    return whole_number(raw, lo=0, hi=MAX_COUNT)


class CountSheetForm(CleanForm):
    """One bin's blind count: a number per SKU on the sheet, plus SKUs found there.

    Bound to a POST, the fields are the tasks the counter saw (``task`` inputs); found
    lines come as repeated ``found_sku`` / ``found_qty`` pairs.
    """

    key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, tasks, **kwargs):
        kwargs.setdefault("initial", {"key": new_key()})
        super().__init__(*args, **kwargs)
        self.tasks = list(tasks)
        for n, task in enumerate(self.tasks):
            attrs = dict(COUNT_ATTRS, **({"autofocus": True} if n == 0 else {}))
            self.fields[f"t{task.pk}"] = forms.IntegerField(
                label=task.sku.code,
                min_value=0,
                max_value=MAX_COUNT,
                widget=forms.NumberInput(attrs=attrs),
                error_messages={"required": _("Enter what you counted (0 if none).")},
            )
        self.found = self._found_lines()

    def _found_lines(self) -> list[FoundLine]:
        if not self.is_bound:
            return []
        codes = [c.strip() for c in self.data.getlist("found_sku")]
        raws = self.data.getlist("found_qty")
        skus = {s.code.upper(): s for s in Sku.objects.filter(code__in=[c for c in codes if c])}
        return [
            FoundLine(code=code or "", sku=skus.get((code or "").upper()), raw=raw or "")
            for code, raw in zip_longest(codes, raws)
        ]

    def task_fields(self) -> list[tuple[CountTask, forms.BoundField]]:
        return [(task, self[f"t{task.pk}"]) for task in self.tasks]

    def clean(self):
        cleaned = super().clean()
        seen = {task.sku.code.upper() for task in self.tasks}
        for line in self.found:
            if line.sku is None:
                line.error = _("No SKU %(code)s in the catalog.") % {
                    "code": line.code or _("(empty)")
                }
            elif line.sku.code.upper() in seen:
                line.error = _("%(code)s is already on this sheet.") % {"code": line.sku.code}
            elif _whole(line.raw) is None:
                line.error = _("Enter what you counted: a whole number, 0 or more.")
            if line.sku is not None:
                seen.add(line.sku.code.upper())
        if any(line.error for line in self.found):
            raise forms.ValidationError(_("Fix the lines marked below; nothing was recorded."))
        if not self.tasks and not self.found:
            raise forms.ValidationError(_("Nothing to count in this bin."))
        return cleaned

    def lines(self) -> list[CountLine]:
        task_lines = [
            CountLine(sku=task.sku, counted=self.cleaned_data[f"t{task.pk}"], task_id=task.pk)
            for task in self.tasks
        ]
        found = [CountLine(sku=line.sku, counted=_whole(line.raw)) for line in self.found]
        return task_lines + found


class FoundSkuForm(CleanForm):
    """A scanned SKU code, to add as a "found here" line of the sheet."""

    code = forms.CharField(max_length=64, strip=True)

    def __init__(self, *args, on_sheet: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.on_sheet = {code.upper() for code in on_sheet}

    def clean_code(self) -> Sku:
        code = self.cleaned_data["code"]
        sku = Sku.objects.filter(code__iexact=code).first()
        if sku is None:
            raise forms.ValidationError(_("No SKU %(code)s in the catalog.") % {"code": code})
        if sku.code.upper() in self.on_sheet:
            raise forms.ValidationError(
                _("%(code)s is already on this sheet.") % {"code": sku.code}
            )
        return sku


class BinCodeForm(CleanForm):
    code = forms.CharField(max_length=20, strip=True)

    def clean_code(self) -> Bin:
        return self.clean_code_of(self.cleaned_data["code"])

    @staticmethod
    def clean_code_of(code: str) -> Bin:
        bin = Bin.objects.filter(code__iexact=code).first()
        if bin is None:
            raise forms.ValidationError(_("No bin %(code)s.") % {"code": code})
        return bin


class FindCountForm(CleanForm):
    """A find-it task's SKU found in a bin: the scanned bin and what was counted there."""

    key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    bin = forms.CharField(
        max_length=20,
        strip=True,
        label=_("Bin where you found it"),
        widget=forms.TextInput(attrs={"placeholder": _("Scan the bin"), "autocomplete": "off",
                                      "enterkeyhint": "next", "autofocus": True,
                                      "data-scan": True}),
        error_messages={"required": _("Scan the bin where you found it.")},
    )  # fmt: skip
    counted = forms.IntegerField(
        label=_("Units in that bin"),
        min_value=0,
        max_value=MAX_COUNT,
        widget=forms.NumberInput(attrs=COUNT_ATTRS),
        error_messages={"required": _("Enter what you counted in that bin.")},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"key": new_key()})
        super().__init__(*args, **kwargs)

    def clean_bin(self) -> Bin:
        return BinCodeForm.clean_code_of(self.cleaned_data["bin"])


class ManualTaskForm(CleanForm):
    """A manager asks for a count: "count bin A-14" (optionally one SKU)."""

    bin = forms.CharField(
        max_length=20, widget=forms.TextInput(attrs={"placeholder": _("Bin, e.g. A-14")})
    )
    sku = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "SKU (empty: every SKU in the bin)"}),
    )
    priority = forms.TypedChoiceField(
        choices=CountTask.Priority.choices, coerce=int, initial=CountTask.Priority.NORMAL
    )
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"due_on": timezone.localdate()})
        super().__init__(*args, **kwargs)

    def clean_bin(self) -> Bin:
        code = self.cleaned_data["bin"].strip()
        bin = Bin.objects.filter(code__iexact=code).first()
        if bin is None:
            raise forms.ValidationError(_("No bin %(code)s.") % {"code": code})
        return bin

    def clean_sku(self) -> Sku | None:
        code = self.cleaned_data["sku"].strip()
        if not code:
            return None
        sku = Sku.objects.filter(code__iexact=code).first()
        if sku is None:
            raise forms.ValidationError(_("No SKU %(code)s in the catalog.") % {"code": code})
        return sku

    def clean_due_on(self):
        due_on = self.cleaned_data["due_on"]
        if due_on < timezone.localdate():
            raise forms.ValidationError("The due date cannot be in the past.")
        return due_on


class AssignForm(CleanForm):
    tasks = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)
    assignee = forms.ModelChoiceField(
        queryset=selectors.counters(), required=False, empty_label="Back to the pool"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.counters()
        if self.is_bound:
            # Any id may be named; the service refuses what cannot be assigned.
            ids = [v for v in self.data.getlist("tasks") if v.isdigit()]
            self.fields["tasks"].choices = [(i, i) for i in ids]
        self.fields["tasks"].error_messages["required"] = "Tick at least one task."


class DecisionForm(CleanForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for your decision."},
    )
    # The second confirmation of a manager deciding a task they counted, as the only manager
    # (ONEFACT_COUNT_SOLE_MANAGER); the service refuses such a decision without it.
    alone = forms.BooleanField(required=False)


class CancelForm(CleanForm):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for closing it without a count."},
    )


class CountImportForm(ImportForm):
    file = forms.FileField(help_text="CSV with a header: bin, sku, counted, and optionally note.")
