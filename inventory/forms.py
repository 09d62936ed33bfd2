from django import forms

from inventory.services.imports import REJECT, SKIP

MAX_IMPORT_BYTES = 2 * 1024 * 1024


class BinImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header: code, zone, walk_order, active.")
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
