"""Words for people, not programmers: ``{% load words %}``."""

from django import template

from inventory.models import fact_name as _fact_name
from inventory.selectors import job_result_figures

register = template.Library()


@register.filter
def fact_name(fact: str) -> str:
    return _fact_name(fact)


@register.filter
def result_figures(result) -> list:
    return job_result_figures(result)
