"""Where input from outside is cleaned, once, for every app.

Text: NUL and the other C0 control characters (and DEL) are refused before a view runs, by
``inventory.middleware.RefuseControlCharactersMiddleware``: PostgreSQL cannot store or even
compare a NUL, and no field of OneFact means anything by the others. A form body may hold a
tab, a newline or a carriage return (a textarea's reason); a path or a query never does.
Forms built on ``CleanForm`` say the same at the field: a one-line field refuses every control
character, a textarea keeps its line breaks.

Numbers: a whole number read from a query or a form is bounded to what the database stores
(PostgreSQL ``integer``), and a page number is clamped to ``1 … MAX_PAGE`` (the paginator
then shows the last page for anything past it), so no number typed into an address reaches
SQL as an overflow.
"""

import re
from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError

DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1
MAX_PAGE = 100_000

# C0 controls and DEL; a form body may also carry tab, newline and carriage return.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")
DIGITS = re.compile(r"([+-]?)([0-9]+)")


def control_character_in(value: str, *, multiline: bool = False) -> str | None:
    """The first control character of ``value`` that may not stand there, or None."""
    found = (CONTROL_BUT_LINE_BREAKS if multiline else CONTROL).search(value)
    return found.group() if found else None


def describe_character(char: str) -> str:
    return "a NUL character" if char == "\x00" else f"a control character (U+{ord(char):04X})"


def refuse_control_characters(value: str) -> None:
    """Validator for one-line text."""
    if isinstance(value, str) and (char := control_character_in(value)):
        raise ValidationError(f"Remove {describe_character(char)}; type plain text.")


def refuse_control_characters_but_line_breaks(value: str) -> None:
    """Validator for text that may run over several lines."""
    if isinstance(value, str) and (char := control_character_in(value, multiline=True)):
        raise ValidationError(f"Remove {describe_character(char)}; type plain text.")


def whole_number(value: str | None, *, lo: int = DB_INT_MIN, hi: int = DB_INT_MAX) -> int | None:
    """``value`` as a whole number of ASCII digits within ``lo … hi``, or None.

    Unicode digits (``²``, ``٣``), exponents (``1e400``), fractions and anything longer than a
    64-bit number are None, not an error: a query parameter that is not a number is absent.
    """
    text = (value or "").strip()
    if not WHOLE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if lo <= number <= hi else None


def query_int(
    params: Mapping[str, str],
    name: str,
    *,
    default: int,
    lo: int = DB_INT_MIN,
    hi: int = DB_INT_MAX,
) -> int:
    """A whole-number parameter clamped to ``lo … hi`` (however many digits it has);
    ``default`` when it is not a number."""
    found = DIGITS.fullmatch((params.get(name) or "").strip())
    if found is None:
        return default
    sign, digits = found.groups()
    # int() of thousands of digits is slow (and refused past 4,300): past 19 it is huge.
    number = int(digits) if len(digits) <= 19 else 10**19
    return min(max(-number if sign == "-" else number, lo), hi)


def whole_numbers(values: list[str]) -> set[int]:
    """The values of a repeated parameter (ids ticked on a sheet) that are whole numbers the
    database can hold; anything else is left out."""
    return {n for v in values if (n := whole_number(v, lo=1)) is not None}


def page_number(params: Mapping[str, str], name: str = "page") -> int:
    """The page asked for, clamped to ``1 … MAX_PAGE``; 1 when it is not a number."""
    return query_int(params, name, default=1, lo=1, hi=MAX_PAGE)


class CleanForm(forms.Form):
    """The base of every form: one-line text refuses control characters, a textarea keeps its
    line breaks but refuses the rest, and a whole number is bounded to what the database
    stores, each with its message at the field."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            clean_field(field)


def clean_field(field: forms.Field) -> forms.Field:
    """Add the input rules to one field (also for fields a form adds after ``__init__``)."""
    if isinstance(field, forms.CharField):
        multiline = isinstance(field.widget, forms.Textarea)
        rule = refuse_control_characters_but_line_breaks if multiline else refuse_control_characters
        if rule not in field.validators:
            field.validators.append(rule)
    elif isinstance(field, forms.IntegerField):
        if field.max_value is None or field.max_value > DB_INT_MAX:
            field.max_value = DB_INT_MAX
            field.validators.append(_at_most)
        if field.min_value is None or field.min_value < DB_INT_MIN:
            field.min_value = DB_INT_MIN
            field.validators.append(_at_least)
    return field


def _at_most(value: int) -> None:
    if value is not None and value > DB_INT_MAX:
        raise ValidationError(f"Enter a whole number no larger than {DB_INT_MAX:,}.")


def _at_least(value: int) -> None:
    if value is not None and value < DB_INT_MIN:
        raise ValidationError(f"Enter a whole number no smaller than {DB_INT_MIN:,}.")
