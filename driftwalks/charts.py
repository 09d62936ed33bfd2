"""A small server-side bar chart: coordinates for an inline <svg>, no JavaScript, no CDN."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    max_label: str
    baseline: float


def bar_chart(
    points: list[tuple[str, float | int | None]],
    *,
    width: int = 360,
    height: int = 140,
    max_value: float | None = None,
    unit: str = "",
) -> BarChart:
    """Bars for ``points`` (label, value); a None value is an empty slot."""
    top_pad, bottom_pad = 14, 18
    plot = height - top_pad - bottom_pad
    values = [v for _, v in points if v is not None]
    scale_max = max_value if max_value is not None else max(values, default=0)
    slot = width / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0.0 if not scale_max or value is None else plot * min(value / scale_max, 1.0)
        bars.append(
            Bar(
                x=round(i * slot + slot * 0.15, 1),
                y=round(top_pad + plot - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                label=label,
                value="–" if value is None else f"{value:g}{unit}",
            )
        )
    return BarChart(
        width=width,
        height=height,
        bars=bars,
        max_label=f"{scale_max:g}{unit}",
        baseline=top_pad + plot,
    )
