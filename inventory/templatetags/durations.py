"""``{{ lag_ms|duration }}``: a duration in ms as people read it (``charts.duration_display``)."""

from django import template

from inventory.charts import duration_display

register = template.Library()


@register.filter
def duration(ms: int | None) -> str:
    return duration_display(ms)
