"""Printable bin and SKU labels: a Code 128 barcode with the code under it, as a PDF.

What a scanner reads from a label is exactly the code the scan fields look up (a bin's or a
SKU's code, as stored), so every label is encoded from that one string and nothing else: no
check text, no prefix. Code 128 carries printable ASCII only; a code outside it cannot be
labelled and says so (:class:`LabelCodeInvalid`) instead of printing something that scans as
another code.

Label formats are data: a sheet (A4, Letter) cut into a grid of labels, or a thermal roll
whose page is one label. ``ONEFACT_LABEL_FORMAT`` picks the default; a print may name another.
The bars come from reportlab's own Code 128 writer, fitted to the label with the quiet zone
the symbology asks for (ten modules each side).
"""

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch, mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

# One print is at most this many labels (a warehouse's bins fit; a typo of 50000 does not).
LABELS_MAX = 5000
QUIET_MODULES = 10  # Code 128's quiet zone, in modules, on each side of the bars
MODULE_MAX = 0.5 * mm  # short codes don't get bars wider than this
MODULE_MIN = 0.125 * mm  # 5 mil: finer bars than this most hand scanners cannot resolve
CODE_FONT = "Helvetica-Bold"
CAPTION_FONT = "Helvetica"


@dataclass(frozen=True)
class LabelFormat:
    """A page of ``columns × rows`` labels of ``label_width × label_height`` (points), the
    first one's top-left corner at (``left``, ``top``) from the page's top-left, the next
    ``pitch_x``/``pitch_y`` further on."""

    key: str
    name: str
    page_width: float
    page_height: float
    columns: int
    rows: int
    label_width: float
    label_height: float
    left: float = 0
    top: float = 0
    pitch_x: float = 0
    pitch_y: float = 0

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def origin(self, index: int) -> tuple[float, float]:
        """Bottom-left corner (reportlab's coordinates) of the ``index``-th label on a page."""
        row, column = divmod(index, self.columns)
        x = self.left + column * (self.pitch_x or self.label_width)
        y = self.page_height - self.top - row * (self.pitch_y or self.label_height)
        return x, y - self.label_height


def _thermal(key: str, name: str, width: float, height: float) -> LabelFormat:
    return LabelFormat(key, name, width, height, 1, 1, width, height)


FORMATS: dict[str, LabelFormat] = {
    f.key: f
    for f in [
        # Avery 3474 and its like: 24 labels of 70 × 37 mm, edge to edge across the sheet,
        # 8 rows of 37 mm centred in 297 mm (0.5 mm top and bottom).
        LabelFormat(
            "a4-3x8", gettext_lazy("A4 sheet, 3 × 8 (70 × 37 mm, e.g. Avery 3474)"),
            *A4, 3, 8, 70 * mm, 37 * mm,
            left=0, top=0.5 * mm,
        ),
        # Letter sheets of 24 labels of 2.625 × 1.25 in (the 5160 family's width, 8 rows
        # instead of 10): 3/16 in side margins, 1/8 in gutters, 1/2 in top and bottom.
        LabelFormat(
            "letter-3x8", gettext_lazy("Letter sheet, 3 × 8 (2.625 × 1.25 in)"),
            *LETTER, 3, 8, 2.625 * inch, 1.25 * inch,
            left=0.1875 * inch, top=0.5 * inch, pitch_x=2.75 * inch, pitch_y=1.25 * inch,
        ),
        _thermal(
            "62x29mm", gettext_lazy("Thermal 62 × 29 mm (e.g. Brother DK-11209)"), 62 * mm, 29 * mm
        ),
        _thermal("2x1in", gettext_lazy("Thermal 2 × 1 in (e.g. Zebra, Dymo)"), 2 * inch, 1 * inch),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class Label:
    code: str  # what the barcode carries and the scan fields accept
    caption: str = ""  # small text, e.g. the SKU's title


class LabelCodeInvalid(ValueError):
    def __init__(self, code: str, message: str = ""):
        self.code = code
        super().__init__(
            message
            or _(
                "%(code)r cannot be printed as Code 128: only letters, digits, spaces and ASCII "
                "punctuation can."
            )
            % {"code": code}
        )


def format_choices() -> list[tuple[str, str]]:
    return [(f.key, f.name) for f in FORMATS.values()]


def default_format() -> LabelFormat:
    key = settings.ONEFACT_LABEL_FORMAT
    if key not in FORMATS:
        raise ImproperlyConfigured(
            f"ONEFACT_LABEL_FORMAT={key!r} is not a label format; use one of {', '.join(FORMATS)}."
        )
    return FORMATS[key]


def code_is_printable(code: str) -> bool:
    """Code 128 (code set B) carries ASCII 32–126; a scan field strips what's around a code."""
    return bool(code) and code == code.strip() and all(32 <= ord(c) <= 126 for c in code)


def code_refusal(code: str, label_format: LabelFormat) -> str:
    """Why ``code`` cannot be a barcode on this format's labels, or "" when it can."""
    if not code_is_printable(code):
        return str(LabelCodeInvalid(code))
    if _module(code, label_format) < MODULE_MIN:
        return _(
            "%(code)s is too long for a %(format)s label: its bars would be finer than a "
            "scanner reads. Pick a wider label format."
        ) % {"code": code, "format": label_format.key}
    return ""


def labels_pdf(*, labels: Sequence[Label], label_format: LabelFormat, title: str = "") -> bytes:
    """The labels in order, filling each page row by row; one page per label on a roll."""
    for code in {label.code for label in labels}:
        if refusal := code_refusal(code, label_format):
            raise LabelCodeInvalid(code, refusal)
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=(label_format.page_width, label_format.page_height), pageCompression=1
    )
    canvas.setTitle(title or "OneFact labels")
    canvas.setCreator("OneFact")
    for start in range(0, len(labels), label_format.per_page):
        for index, label in enumerate(labels[start : start + label_format.per_page]):
            _draw_label(canvas, label, label_format, *label_format.origin(index))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _pad(fmt: LabelFormat) -> float:
    return min(fmt.label_width, fmt.label_height) * 0.08


def _module(code: str, fmt: LabelFormat) -> float:
    """The bar module that fits the code and its quiet zones across the label (points)."""
    modules = Code128(code, barWidth=1, lquiet=0, rquiet=0, quiet=0).width
    return min(MODULE_MAX, (fmt.label_width - 2 * _pad(fmt)) / (modules + 2 * QUIET_MODULES))


def _draw_label(canvas: Canvas, label: Label, fmt: LabelFormat, x: float, y: float) -> None:
    width, height = fmt.label_width, fmt.label_height
    pad = _pad(fmt)
    code_size = _fit_font(label.code, CODE_FONT, width - 2 * pad, min(14.0, height * 0.17))
    caption = _latin1(label.caption)
    caption_size = min(7.0, height * 0.11) if caption else 0.0
    # Bars fill what the text leaves, with ten modules of quiet zone either side.
    bars_bottom = y + pad + code_size * 1.15
    bars_top = y + height - pad - (caption_size * 1.25 if caption else 0)
    bars = Code128(
        label.code,
        barWidth=_module(label.code, fmt),
        barHeight=bars_top - bars_bottom,
        quiet=0,
        lquiet=0,
        rquiet=0,
        humanReadable=0,
    )
    bars.drawOn(canvas, x + (width - bars.width) / 2, bars_bottom)
    canvas.setFont(CODE_FONT, code_size)
    canvas.drawCentredString(x + width / 2, y + pad + code_size * 0.2, label.code)
    if caption:
        size = _fit_font(caption, CAPTION_FONT, width - 2 * pad, caption_size)
        canvas.setFont(CAPTION_FONT, size)
        text = _truncate(caption, CAPTION_FONT, size, width - 2 * pad)
        canvas.drawCentredString(x + width / 2, y + height - pad - caption_size, text)


def _fit_font(text: str, font: str, width: float, size: float, smallest: float = 5.0) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width`` (never below smallest)."""
    measured = stringWidth(text, font, size)
    return size if measured <= width else max(smallest, size * width / measured)


def _truncate(text: str, font: str, size: float, width: float) -> str:
    while len(text) > 1 and stringWidth(text, font, size) > width:
        text = text[:-2] + "…"
    return text


def _latin1(text: str) -> str:
    """The standard PDF fonts draw Latin-1; anything else becomes '?' rather than a box."""
    return text.encode("cp1252", "replace").decode("cp1252")


def labels_repeated(items: Iterable[tuple[str, str, int]]) -> list[Label]:
    """``(code, caption, copies)`` rows as that many labels each, in the rows' order."""
    return [Label(code, caption) for code, caption, copies in items for _ in range(copies)]
