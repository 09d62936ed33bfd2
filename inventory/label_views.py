"""Print labels: a form for bins and SKUs, and the PDFs (shown inline, to print or save)."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from inventory.label_forms import (
    TOO_MANY,
    BinLabelForm,
    LabelFormatForm,
    SkuLabelForm,
    refusal_of,
)
from inventory.labels import FORMATS, LABELS_MAX, Label, labels_pdf, labels_repeated

PAGE = "inventory/labels_print.html"
UNITS_PAGE = "inventory/labels_units.html"


def pdf_response(pdf: bytes, *, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _safe(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


@require_GET
@permission_required("inventory.view_bin", raise_exception=True)
def labels_print(request: HttpRequest) -> HttpResponse:
    """The form page: which bins (or which SKU, how many) and on which label format."""
    bins = BinLabelForm(initial={"bin": request.GET.get("bin", "")})
    skus = SkuLabelForm(initial={"sku": request.GET.get("sku", "")})
    return render(request, PAGE, {"bin_form": bins, "sku_form": skus})


@require_GET
@permission_required("inventory.view_bin", raise_exception=True)
def bin_labels(request: HttpRequest) -> HttpResponse:
    """Bin labels in walk order as a PDF; a bad request shows the form with its errors."""
    form = BinLabelForm(request.GET)
    if not form.is_valid():
        context = {"bin_form": form, "sku_form": SkuLabelForm()}
        return render(request, PAGE, context, status=400)
    bins = form.cleaned_data["bins"]
    label_format = FORMATS[form.cleaned_data["format"]]
    pdf = labels_pdf(
        labels=[Label(bin.code) for bin in bins], label_format=label_format, title="Bin labels"
    )
    name = bins[0].code if len(bins) == 1 else f"{bins[0].code}-{bins[-1].code}"
    return pdf_response(pdf, filename=f"bins-{_safe(name)}-{label_format.key}.pdf")


@require_GET
@permission_required("inventory.view_sku", raise_exception=True)
def sku_labels(request: HttpRequest) -> HttpResponse:
    form = SkuLabelForm(request.GET)
    if not form.is_valid():
        context = {"bin_form": BinLabelForm(), "sku_form": form}
        return render(request, PAGE, context, status=400)
    sku, copies = form.cleaned_data["sku"], form.cleaned_data["copies"]
    label_format = FORMATS[form.cleaned_data["format"]]
    pdf = labels_pdf(
        labels=labels_repeated([(sku.code, sku.title, copies)]),
        label_format=label_format,
        title=f"Labels for {sku.code}",
    )
    return pdf_response(pdf, filename=f"sku-{_safe(sku.code)}-{label_format.key}.pdf")


def units_labels(
    request: HttpRequest, *, rows: list[tuple[str, str, int]], title: str, back: str, name: str
) -> HttpResponse:
    """SKU labels, one per unit, for the ``(code, title, units)`` rows another app counted (a
    purchase order's units received, a return's units confirmed sellable). Without a format
    chosen, or with a bad one, a page lists what would print beside the format's form."""
    form = LabelFormatForm(request.GET if "format" in request.GET else None)
    total = sum(units for _, _, units in rows)
    if form.is_bound and form.is_valid():
        if not total:
            form.add_error(None, "There is nothing to label yet.")
        elif total > LABELS_MAX:
            form.add_error(None, TOO_MANY % {"count": f"{total:,}", "most": f"{LABELS_MAX:,}"})
        elif why := refusal_of((code for code, _, _ in rows), form.cleaned_data["format"]):
            form.add_error("format", why)
        else:
            label_format = FORMATS[form.cleaned_data["format"]]
            pdf = labels_pdf(labels=labels_repeated(rows), label_format=label_format, title=title)
            return pdf_response(pdf, filename=f"{_safe(name)}-{label_format.key}.pdf")
    context = {"form": form, "rows": rows, "total": total, "title": title, "back": back}
    return render(request, UNITS_PAGE, context, status=400 if form.is_bound else 200)
