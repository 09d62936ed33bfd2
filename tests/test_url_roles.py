"""Every URL, every role: anonymous users are sent to log in, staff get 403 on managers'
and admins' pages, managers get 403 on admins' pages. A new URL must be classified here."""

import pytest
from django.urls import URLResolver, get_resolver, reverse

from tests.factories import UserFactory

# Token or signature authenticated, or Django's own: tested in their own modules.
EXEMPT_PREFIXES = ("admin/", "api/", "accounts/")
EXEMPT = {"inventory:storefront-webhook"}

STAFF = {
    "home", "inventory:find", "inventory:sku-list", "inventory:sku-detail",
    "inventory:bin-detail", "inventory:job-detail",
    "returns:receive-find", "returns:receipt", "returns:unit-scan", "returns:line-missing",
    "returns:unit-grade", "returns:unit-remove", "returns:receipt-confirm",
    "driftwalks:walk-mine", "driftwalks:walk-start", "driftwalks:count-go",
    "driftwalks:count-sheet", "driftwalks:count-submit", "driftwalks:count-found-line",
    "driftwalks:find-task", "driftwalks:find-count", "driftwalks:find-finish",
    "replenishment:receive-start", "replenishment:receive", "replenishment:receipt-create",
    "replenishment:receive-bins",
    "replenishment:transfer-receive-start", "replenishment:transfer-receive",
    "replenishment:transfer-receipt-create",
    "inventory:labels-print", "inventory:bin-labels", "inventory:sku-labels",
    "replenishment:purchase-order-labels", "returns:return-labels",
}  # fmt: skip
ADMIN = {"inventory:bin-import", "inventory:sku-import", "inventory:storefront-webhooks-register",
         "inventory:storefront-secrets"}  # fmt: skip


def _urls():
    def walk(patterns, prefix="", namespace=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                if route.startswith(EXEMPT_PREFIXES):
                    continue
                yield from walk(p.url_patterns, route, p.namespace or namespace)
            else:
                yield (f"{namespace}:{p.name}" if namespace else p.name), p

    for name, pattern in walk(get_resolver().url_patterns):
        if name in EXEMPT:
            continue
        kwargs = {key: ("1" if key not in ("pk", "line_id") else 1)
                  for key in pattern.pattern.regex.groupindex}  # fmt: skip
        defaults = pattern.default_args or {}
        kwargs = {k: v for k, v in kwargs.items() if k not in defaults}
        yield name, reverse(name, kwargs=kwargs)


URLS = sorted(_urls())


def _level(name: str) -> str:
    return "staff" if name in STAFF else "admin" if name in ADMIN else "manager"


def test_every_url_is_classified():
    known = {name for name, _ in URLS}
    assert known >= STAFF | ADMIN, sorted((STAFF | ADMIN) - known)


def _status(client, url):
    """GET, or POST where the view takes POST only (the role check comes first either way)."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


@pytest.mark.parametrize(("name", "url"), URLS)
def test_anonymous_is_sent_to_log_in(client, db, name, url):
    response = _status(client, url)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


@pytest.mark.parametrize(("name", "url"), URLS)
def test_each_role_reaches_only_its_pages(client, db, name, url):
    level = _level(name)
    for group, allowed in (
        ("Warehouse staff", level == "staff"),
        ("Managers", level in ("staff", "manager")),
        ("Admins", True),
    ):
        client.force_login(
            UserFactory(username=f"u-{group}", group=group, is_staff=group == "Admins")
        )
        status = _status(client, url).status_code
        if allowed:
            assert status != 403, (group, url, status)
        else:
            assert status == 403, (group, url, status)
