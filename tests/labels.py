"""Reading printed labels back as a scanner would: render each PDF page to pixels (pdfium),
cut it into the format's labels and decode the barcode on each (zxing-cpp), in print order.

One label at a time, as a hand scanner reads them: a whole sheet of identical codes side by
side is read by zxing as fewer symbols than it holds."""

import pypdfium2
import zxingcpp

from inventory.labels import FORMATS, LabelFormat

DPI = 300


def decoded_pages(pdf: bytes, label_format: LabelFormat) -> list[list[tuple[str, str]]]:
    """Per page, ``(text, format)`` of the one barcode on each label, until the first blank."""
    scale = DPI / 72
    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = []
        for page in document:
            image = page.render(scale=scale).to_pil()
            found = []
            for index in range(label_format.per_page):
                x, y = label_format.origin(index)
                top = label_format.page_height - y - label_format.label_height
                box = (x, top, x + label_format.label_width, top + label_format.label_height)
                cell = image.crop(tuple(round(v * scale) for v in box))
                symbols = zxingcpp.read_barcodes(cell)
                assert len(symbols) <= 1, [s.text for s in symbols]
                if not symbols:
                    break
                found.append((symbols[0].text, symbols[0].format.name))
            pages.append(found)
        return pages
    finally:
        document.close()


def decoded(pdf: bytes, label_format: LabelFormat | str = "a4-3x8") -> list[str]:
    """Every label's code across the pages, in print order; each must be a Code 128."""
    if isinstance(label_format, str):
        label_format = FORMATS[label_format]
    codes = []
    for page in decoded_pages(pdf, label_format):
        for text, barcode_format in page:
            assert barcode_format == "Code128", (text, barcode_format)
            codes.append(text)
    return codes


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [tuple(round(v, 1) for v in page.get_size()) for page in document]
    finally:
        document.close()
