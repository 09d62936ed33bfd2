"""No input from a browser makes a page answer 5xx or touch the ledger.

Text is cleaned in one place (``inventory.middleware`` refuses control characters in the
path, the query and form bodies; ``inventory.cleaning.CleanForm`` says so at the field) and
numbers are read through one helper (``inventory.cleaning``). The property test drives every
URL of every app, as each role, with hostile path values, query parameters and form bodies.
``/api/`` and ``/webhooks/`` have their own fuzzing (schemathesis, signed bodies); the
middleware's refusal covers the webhooks' paths and queries, and leaves the API to its
schema, tested here.
"""

import inspect
import re
from urllib.parse import quote, urlencode

import pytest
from django import forms
from django.apps import apps
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.cleaning import (
    DB_INT_MAX,
    MAX_PAGE,
    CleanForm,
    page_number,
    query_int,
    whole_number,
    whole_numbers,
)
from inventory.models import StockMovement
from inventory.roles import ADMINS, MANAGERS, STAFF
from inventory.selectors import ledger_mismatches
from tests.factories import UserFactory

# Django's admin is Django's; the JSON API and the webhooks are fuzzed in their own modules.
EXCLUDED_PREFIXES = ("admin/", "api/", "webhooks/")
CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")

HOSTILE = [
    "\x00",
    "A-14\x00",
    "\x01\x02\x1b[31m",
    "line\nbreak",
    "tab\there",
    "\x7f",
    str(10**30),
    "-" + str(10**30),
    "2147483648",
    "9223372036854775808",
    "-1",
    "1e400",
    "-1e400",
    "NaN",
    "inf",
    "²",
    "٣",
    "１２",
    "x" * 10_000,
    "9" * 5_000,
    "",
    " ",
    "'; DROP TABLE inventory_stockmovement; --",
    "%00",
    "\ud7ff\ufeff",
]
PAGES = ["0", "-1", "-999999999999", str(MAX_PAGE + 1), str(10**30), "1e400", "²", "\x00"]
# Valid values, so a view gets past its lookup and reads the rest of the request.
REAL = {
    "int": ["1"],
    "str": ["A-14", "SKU-1"],
    "path": ["A-14", "SKU-1"],
    "slug": ["storefront", "shopify-1"],
}
QUERY_NAMES = [
    "page", "q", "status", "kind", "sku", "days", "format", "zone", "overdue", "changes",
    "uncounted", "supplier", "sort", "show", "po", "print", "gaps", "found_sku", "found_qty",
    "older_than_days", "system", "fact", "next", "transfer", "\x00",
]  # fmt: skip
FORM_NAMES = [
    "sku", "quantity", "units", "bin", "key", "reason", "counted", "task", "line", "rma",
    "ordered", "decision", "preview", "code", "mode", "condition", "assignee", "found_sku",
    "found_qty", "t1", "lines-TOTAL_FORMS", "lines-INITIAL_FORMS", "lines-0-sku", "next",
    "from_warehouse", "to_warehouse", "lines-0-from_bin", "lines-0-quantity", "confirm_units",
    "create_bin",
]  # fmt: skip
ROLES = ["anonymous", STAFF, MANAGERS, ADMINS]


def _routes():
    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(EXCLUDED_PREFIXES):
                continue
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            else:
                yield route

    return sorted(set(walk(get_resolver().url_patterns)))


ROUTES = _routes()


def _path(route: str, values) -> str:
    """The route with each converter filled (quoted: a NUL travels as %00)."""
    filled = iter(values)
    return "/" + CONVERTER.sub(lambda m: quote(next(filled), safe=""), route)


def _converters(route: str) -> list[str]:
    return [m["kind"] or "str" for m in CONVERTER.finditer(route)]


hostile_text = st.sampled_from(HOSTILE) | st.text(
    alphabet=st.characters(codec="utf-8", categories=["Cc", "Nd", "No", "Zs", "Lo"]),
    max_size=12,
)


@st.composite
def requests(draw, route: str):
    path_values = [draw(st.sampled_from(REAL[kind]) | hostile_text) for kind in _converters(route)]
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), hostile_text, max_size=4))
    if draw(st.booleans()):
        query["page"] = draw(st.sampled_from(PAGES))
    body = draw(st.dictionaries(st.sampled_from(FORM_NAMES), hostile_text, max_size=6))
    return {
        "path": _path(route, path_values),
        "query": query,
        "body": body,
        "role": draw(st.sampled_from(ROLES)),
        "method": draw(st.sampled_from(["get", "post"])),
    }


@pytest.fixture
def users(db):
    return {
        "anonymous": None,
        STAFF: UserFactory(username="hostile-staff", group=STAFF),
        MANAGERS: UserFactory(username="hostile-manager", group=MANAGERS),
        ADMINS: UserFactory(username="hostile-admin", group=ADMINS, is_staff=True),
    }


def _send(client, users, request) -> int:
    client.logout()
    if (user := users[request["role"]]) is not None:
        client.force_login(user)
    url = request["path"] + ("?" + urlencode(request["query"]) if request["query"] else "")
    if request["method"] == "get":
        return client.get(url).status_code
    return client.post(url, request["body"]).status_code


def _drive_every_url(client, users):
    movements = StockMovement.objects.count()
    for route in ROUTES:

        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(request=requests(route))
        def no_5xx(request):
            status = _send(client, users, request)
            assert status < 500, (status, request["method"], request["path"][:200], request)

        no_5xx()
    assert StockMovement.objects.count() == movements
    assert ledger_mismatches() == []


def test_every_url_answers_hostile_input_without_5xx_or_ledger_change(client, users, stocked_bin):
    """On SQLite a huge number overflows; on PostgreSQL (CI) a NUL in any text it is asked to
    compare fails the query as well: the suite runs this on both."""
    _drive_every_url(client, users)


def test_every_url_refuses_a_nul_in_the_query_with_400(client, admin_user):
    client.force_login(admin_user)
    answered = {}
    for route in ROUTES:
        path = _path(route, [REAL[kind][0] for kind in _converters(route)])
        get = client.get(path, {"q": "a\x00b", "page": "1"}).status_code
        answered[route] = (get, client.post(path + "?page=%00", {}).status_code)
    assert {route: s for route, s in answered.items() if s != (400, 400)} == {}


def test_middleware_refuses_a_nul_in_the_path_with_the_400_page(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/bins/A-14%00/")
    assert response.status_code == 400
    assert b"NUL character" in response.content
    assert "400.html" in [t.name for t in response.templates]


@pytest.mark.parametrize("path", ["/webhooks/storefront/?x=%01", "/webhooks/store%00front/"])
def test_middleware_refuses_control_characters_under_webhooks_with_json(client, db, path):
    response = client.post(path, b"{}", content_type="application/json")
    assert response.status_code == 400
    assert "character" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/skus/A%00B/stock", "/api/discrepancies?sku=%00"])
def test_middleware_leaves_the_api_to_its_schema(client, shelf, url):
    """The API answers what its OpenAPI schema documents, never the middleware's 400."""
    response = client.get(url, headers={"authorization": f"Bearer {shelf.issue_token()}"})
    assert response.status_code in (404, 422)
    assert response.json()


def test_middleware_refuses_a_nul_in_a_form_field_and_changes_nothing(
    client, manager_user, stocked_bin
):
    client.force_login(manager_user)
    movements = StockMovement.objects.count()
    response = client.post("/walks/tasks/new/", {"reason": "count\x00 it", "sku": "SKU-1"})
    assert response.status_code == 400
    assert b"form field &#x27;reason&#x27; holds a NUL character" in response.content
    assert StockMovement.objects.count() == movements


def test_middleware_lets_line_breaks_through_in_form_bodies(rf):
    from inventory.middleware import refusal_for

    request = rf.post("/walks/tasks/new/", {"reason": "first line\r\nsecond\tline"})
    assert refusal_for(request) is None
    assert refusal_for(rf.get("/skus/", {"q": "a\nb"})) is not None


def test_suggestion_list_huge_page_shows_the_last_page(client, manager_user, stocked_bin):
    client.force_login(manager_user)
    for page in (str(10**30), "99999999999", "-5", "1e400", "²"):
        response = client.get("/replenishment/suggestions/", {"page": page, "show": "all"})
        assert response.status_code == 200, page
        assert response.context["page"].number == 1


def test_suggestion_list_huge_page_keeps_the_filters(client, manager_user, stocked_bin):
    client.force_login(manager_user)
    response = client.get("/replenishment/suggestions/", {"page": str(10**30), "show": "all"})
    assert response.context["form"].is_valid()
    assert response.context["form"].cleaned_data["show"] == "all"


def test_page_number_clamps_to_one_and_max_page():
    assert page_number({"page": "7"}) == 7
    assert page_number({"page": str(10**30)}) == MAX_PAGE
    assert page_number({"page": "9" * 5_000}) == MAX_PAGE
    assert page_number({"page": "-3"}) == 1
    for junk in ("1e400", "²", "٣", "NaN", "", "\x00"):
        assert page_number({"page": junk}) == 1, junk
    assert page_number({"changes": "4"}, "changes") == 4


def test_query_int_clamps_to_its_bounds_and_defaults_on_junk():
    assert query_int({"days": "30"}, "days", default=90, lo=7, hi=365) == 30
    assert query_int({"days": str(10**30)}, "days", default=90, lo=7, hi=365) == 365
    assert query_int({"days": "-1"}, "days", default=90, lo=7, hi=365) == 7
    assert query_int({"days": "1e400"}, "days", default=90, lo=7, hi=365) == 90
    assert query_int({}, "days", default=90) == 90


def test_whole_number_refuses_what_the_database_cannot_hold():
    assert whole_number("12") == 12
    assert whole_number(str(DB_INT_MAX + 1)) is None
    assert whole_number("²") is None and whole_number("٣") is None
    assert whole_numbers(["3", "²", str(10**30), "-1", "x", "3"]) == {3}


class _Sample(CleanForm):
    name = forms.CharField()
    reason = forms.CharField(widget=forms.Textarea)
    count = forms.IntegerField(min_value=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "a\tb", "control character (U+0009)"),
        ("name", "a\nb", "control character (U+000A)"),
        ("reason", "a\x1bb", "control character (U+001B)"),
        ("count", str(10**30), f"no larger than {DB_INT_MAX:,}"),
        ("count", "1e400", "Enter a whole number"),
    ],
)
def test_clean_form_refuses_hostile_values_at_the_field(field, value, message):
    data = {"name": "mug", "reason": "first\nsecond", "count": "3", field: value}
    form = _Sample(data)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field]), form.errors


def test_clean_form_keeps_line_breaks_in_a_textarea():
    form = _Sample({"name": "mug", "reason": "first\r\nsecond\tthird", "count": "3"})
    assert form.is_valid(), form.errors


def test_every_form_of_every_app_is_a_clean_form():
    plain = []
    for config in apps.get_app_configs():
        if not config.name.startswith(("inventory", "returns", "replenishment", "driftwalks")):
            continue
        for module_name in ("forms", "demo_forms"):
            try:
                module = __import__(f"{config.name}.{module_name}", fromlist=["*"])
            except ModuleNotFoundError:
                continue
            plain += [
                f"{module.__name__}.{name}"
                for name, cls in inspect.getmembers(module, inspect.isclass)
                if issubclass(cls, forms.BaseForm)
                and cls.__module__ == module.__name__
                and not issubclass(cls, CleanForm)
            ]
    assert plain == []
