"""Small server-side SVG charts (no JavaScript, no CDN): lines and stacked bars per day."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#1f5fbf", "#b3261e", "#1b7f3b", "#a66300", "#6a3fb5", "#00838f", "#5b6475"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 44, 28, 12


def _scale(values: list[float]) -> float:
    top = max([v for v in values if v is not None] or [0])
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    return (int(top / step) + 1) * step


def render(chart) -> SafeString:
    """An accessible SVG for a selectors.Chart (``kind`` "line" or "stacked")."""
    days, series = chart.days, chart.series
    n = max(len(days), 1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    if chart.kind == "stacked":
        totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    else:
        totals = [v for values in series.values() for v in values]
    top = _scale(totals)
    x = lambda i: LEFT + (i + 0.5) * plot_w / n  # noqa: E731
    y = lambda v: TOP + plot_h - (v / top) * plot_h  # noqa: E731
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(chart.title)}" data-chart="{escape(chart.key)}" '
        'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="system-ui,sans-serif">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for frac in (0, 0.5, 1):
        gy = y(top * frac)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{gy:.1f}" y2="{gy:.1f}" '
                     'stroke="#d8dce4"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end" fill="#5b6475">'
                     f"{top * frac:g}</text>")  # fmt: skip
    for i, day in enumerate(days):
        if i % max(1, n // 7) == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                         f'fill="#5b6475">{day:%d %b}</text>')  # fmt: skip
    bar_w = max(2.0, plot_w / n * 0.7)
    base = [0.0] * len(days)
    for s, (label, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        if chart.kind == "stacked":
            for i, v in enumerate(values):
                if not v:
                    continue
                y0, y1 = y(base[i]), y(base[i] + v)
                parts.append(
                    f'<rect x="{x(i) - bar_w / 2:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" '
                    f'height="{y0 - y1:.1f}" fill="{colour}"><title>{escape(label)} '
                    f"{days[i]:%d %b}: {v:g} {escape(chart.unit)}</title></rect>"
                )
                base[i] += v
        else:
            points = " ".join(f"{x(i):.1f},{y(v or 0):.1f}" for i, v in enumerate(values))
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')  # fmt: skip
            for i, v in enumerate(values):
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v or 0):.1f}" r="2.5" '
                             f'fill="{colour}"><title>{escape(label)} {days[i]:%d %b}: '
                             f"{v:g} {escape(chart.unit)}</title></circle>")  # fmt: skip
    parts.append("</svg>")
    legend = "".join(
        f'<span style="margin-right:1rem"><span style="display:inline-block;width:.8rem;'
        f'height:.8rem;background:{PALETTE[s % len(PALETTE)]};margin-right:.3rem"></span>'
        f"{escape(label)}</span>"
        for s, label in enumerate(series)
    )
    empty = "" if any(any(v for v in vals) for vals in series.values()) else (
        '<p class="muted">Nothing recorded in this period yet.</p>')  # fmt: skip
    return mark_safe("".join(parts) + f'<div class="muted">{legend}</div>' + empty)  # noqa: S308
