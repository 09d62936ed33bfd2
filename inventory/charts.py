"""The project's one chart mechanism: server-rendered SVG (no JavaScript, no CDN).

A chart is a ``selectors.Chart`` (a value per day or week, per series) drawn as a plot
stretched to its box, with its axis labels as HTML beside it: the labels keep their real
font size (12 px) however narrow the screen, and the x labels are thinned on the server to a
number that never overlaps, even on a phone. A day with no data is a gap (a break in the
line, no bar), never drawn as a zero. Durations read in seconds, milliseconds only under one.
"""

import math

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

PALETTE = ["#1f5fbf", "#b3261e", "#1b7f3b", "#a66300", "#6a3fb5", "#00838f", "#5b6475"]
# A label ("07 Dec") is about 42 px at 12 px; the narrowest plot (a phone, or a third of a
# desktop) is about 250 px wide, so four labels keep over 60 px apart.
MAX_X_LABELS = 4
# The smallest axis top per unit, so an empty or flat chart still reads in whole numbers.
MIN_TOP = {"ms": 100, "units": 2, "%": 1}


def duration_display(ms: float | None) -> str:
    """A lag or a duration: "87 ms" under a second, then seconds, minutes, hours."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{round(ms)} ms"
    for unit, size, upto in (("s", 1000, 120), ("min", 60_000, 120), ("h", 3_600_000, None)):
        amount = ms / size
        if upto is None or amount < upto:
            text = f"{amount:.1f}" if amount < 10 else f"{amount:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def value_display(value: float | None, unit: str) -> str:
    if value is None:
        return _("no data")
    if unit == "ms":
        return duration_display(value)
    if unit == "%":
        return f"{value:g} %"
    if unit == "units":
        return _("%(value)s units") % {"value": f"{value:g}"}
    return f"{value:g} {unit}".strip()


def nice_top(top: float) -> float:
    """The axis top: the smallest of 1, 2, 2.5, 5 or 10 × a power of ten at or above ``top``."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= top)


def label_indexes(n: int, most: int = MAX_X_LABELS) -> list[int]:
    """Which of ``n`` slots get an x label: evenly spaced, the newest always, at most ``most``."""
    step = max(1, math.ceil(n / most))
    return sorted(range(n - 1, -1, -step))


def _path(points: list[tuple[float, float] | None]) -> str:
    """A line broken at every missing point (a new ``M``), never joined across a gap."""
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]:.2f} {point[1]:.2f}")
        pen_down = True
    return " ".join(parts)


def _dots(points: list[tuple[float, float] | None]) -> str:
    """A dot on every point with data (zero-length segments with round caps), so a day
    alone between gaps shows too."""
    return " ".join(f"M{p[0]:.2f} {p[1]:.2f}h0" for p in points if p is not None)


def render(chart) -> SafeString:
    """An accessible chart for a ``selectors.Chart`` (``kind`` "line" or "stacked")."""
    days, series = chart.days, chart.series
    n = max(len(days), 1)
    if chart.kind == "stacked":
        totals = [
            sum(v for values in series.values() if (v := values[i]) is not None)
            for i in range(len(days))
        ]
    else:
        totals = [v for values in series.values() for v in values if v is not None]
    top = chart.top or max(nice_top(max(totals, default=0)), MIN_TOP.get(chart.unit, 1))
    x = lambda i: (i + 0.5) * 100 / n  # noqa: E731  (percent of the plot's width)
    y = lambda v: 100 - min(v / top, 1) * 100  # noqa: E731

    shapes = [f'<line x1="0" x2="100" y1="{y(top * f):.2f}" y2="{y(top * f):.2f}" '
              'stroke="#d8dce4" vector-effect="non-scaling-stroke"/>'
              for f in (0, 0.5, 1)]  # fmt: skip
    base = [0.0] * len(days)
    for s, values in enumerate(series.values()):
        colour = PALETTE[s % len(PALETTE)]
        if chart.kind == "stacked":
            width = 70 / n
            for i, v in enumerate(values):
                if not v:
                    continue
                y0, y1 = y(base[i]), y(base[i] + v)
                left = x(i) - width / 2
                shapes.append(
                    f'<rect x="{left:.2f}" y="{y1:.2f}" width="{width:.2f}" '
                    f'height="{y0 - y1:.2f}" fill="{colour}"/>'
                )
                base[i] += v
        else:
            points = [None if v is None else (x(i), y(v)) for i, v in enumerate(values)]
            if any(points):
                for css, d, width in (("line", _path(points), 2.5), ("dots", _dots(points), 7)):
                    shapes.append(f'<path class="chart-{css}" d="{d}" fill="none" '
                                  f'stroke="{colour}" stroke-width="{width}" '
                                  'stroke-linecap="round" stroke-linejoin="round" '
                                  'vector-effect="non-scaling-stroke"/>')  # fmt: skip
    for i, day in enumerate(days):  # one hover target per day, saying what it holds
        said = [(label, values[i]) for label, values in series.items()]
        if all(v is None for _, v in said):
            text, missing = "no data", ' data-missing="true"'
        else:
            text = " · ".join(f"{label} {value_display(v, chart.unit)}" for label, v in said)
            missing = ""
        shapes.append(f'<rect class="chart-day" x="{i * 100 / n:.2f}" y="0" '
                      f'width="{100 / n:.2f}" height="100" fill="transparent" '
                      f'data-day="{day:%Y-%m-%d}"{missing}>'
                      f"<title>{day:%d %b}: {escape(text)}</title></rect>")  # fmt: skip

    y_labels = format_html_join(
        "",
        '<span class="chart-tick y" style="top:{}%">{}</span>',
        ((f"{y(top * f):.2f}", value_display(top * f, chart.unit)) for f in (0, 0.5, 1)),
    )
    x_labels = format_html_join(
        "",
        '<span class="chart-tick x" style="left:{}%">{}</span>',
        ((f"{x(i):.2f}", f"{days[i]:%d %b}") for i in label_indexes(len(days))),
    )
    svg = mark_safe(  # noqa: S308  (every text in it is escaped above)
        '<svg class="chart-plot" viewBox="0 0 100 100" preserveAspectRatio="none" '
        'aria-hidden="true" xmlns="http://www.w3.org/2000/svg">' + "".join(shapes) + "</svg>"
    )
    legend = format_html_join(
        "",
        '<span class="chart-key"><span class="chart-swatch" style="background:{}"></span>{}</span>',
        ((PALETTE[s % len(PALETTE)], label) for s, label in enumerate(series)),
    )
    empty = not any(v for values in series.values() for v in values if v is not None)
    notes = "".join(
        [format_html('<p class="muted chart-note">{}</p>', chart.note) if chart.note else "",
         '<p class="muted">Nothing recorded in this period yet.</p>' if empty else ""]
    )  # fmt: skip
    return format_html(
        '<figure class="chart" data-chart="{}"><div class="chart-box" role="img" aria-label="{}">'
        '{}{}{}</div><figcaption class="chart-legend">{}</figcaption>{}</figure>',
        chart.key,
        chart.title,
        y_labels,
        svg,
        x_labels,
        legend,
        mark_safe(notes),  # noqa: S308
    )
