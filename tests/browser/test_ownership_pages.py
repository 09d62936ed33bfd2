"""The ownership admin refuses a broken table at the field; every change reads as a
sentence; the 403 page speaks to the role that sees it."""

import pytest
from django.contrib.auth.models import Group, Permission

from inventory.models import Fact, Ownership, OwnershipChange, System
from inventory.roles import ADMINS, MANAGERS, STAFF
from inventory.services import ownership_change
from tests.browser.conftest import log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-for-tests-only"
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def admin(db):
    return UserFactory(username="admin-b", group=ADMINS, is_staff=True)


def _price() -> Ownership:
    return Ownership.objects.get(fact=Fact.PRICE)


@pytest.mark.parametrize(
    ("owner", "field", "message"),
    [
        ("", "owner", "Price needs an owner"),
        ("storefront", "consumers", "storefront owns price, so it cannot also consume it"),
    ],
)
def test_ownership_admin_refuses_at_the_field_and_saves_nothing(
    live_server, desktop, admin, owner, field, message
):
    price = _price()
    before = OwnershipChange.objects.count()
    log_in(desktop, live_server, admin.username, PASSWORD)
    desktop.goto(f"{live_server.url}/admin/inventory/ownership/{price.pk}/change/")
    owner_value = str(System.objects.get(name=owner).pk) if owner else ""
    desktop.select_option("#id_owner", owner_value)
    desktop.fill("#id_reason", "trying the rule")
    desktop.click("input[name=_save]")
    desktop.wait_for_load_state()
    error = desktop.locator(f".field-{field} .errorlist")
    assert message in error.inner_text()
    assert error.is_visible()
    assert desktop.locator(".errornote").is_visible()
    price.refresh_from_db()
    assert price.owner.name == "pricing"
    assert OwnershipChange.objects.count() == before


def test_ownership_changes_list_shows_each_rows_own_change(live_server, desktop, admin):
    for owner, reason in (("storefront", "prices set in the shop"), ("shelf", "back office")):
        ownership_change(ownership=_price(), owner=System.objects.get(name=owner),
                         consumers=[], reason=reason, actor=admin)  # fmt: skip
    log_in(desktop, live_server, admin.username, PASSWORD)
    desktop.goto(f"{live_server.url}/admin/inventory/ownershipchange/?ownership__fact=price")
    rows = desktop.locator("#result_list td.field-change_sentence").all_inner_texts()
    assert len(rows) == 3 and len(set(rows)) == 3
    assert rows[0].startswith("Price: owner storefront → shelf; consumers unchanged; by admin-b")
    assert rows[0].endswith(": back office")
    assert rows[1].startswith("Price: owner pricing → storefront; consumers: storefront removed")
    assert rows[2].startswith("Price: owner pricing; consumers storefront; by the system")
    assert "OneFact's default" in rows[2]
    desktop.goto(f"{live_server.url}/admin/inventory/ownership/{_price().pk}/change/")
    inline = desktop.locator("#changes-group").inner_text()
    assert "by admin-b" in inline and "None" not in inline


def test_authority_page_shows_changes_as_sentences_on_a_phone(live_server, page, admin):
    UserFactory(username="manager-b", group=MANAGERS)
    ownership_change(ownership=_price(), owner=System.objects.get(name="storefront"),
                     consumers=[], reason="prices set in the shop", actor=admin)  # fmt: skip
    log_in(page, live_server, "manager-b", PASSWORD)
    page.goto(f"{live_server.url}/authority/")
    rows = page.get_by_test_id("ownership-change").all_inner_texts()
    assert rows[0].startswith(
        "Price: owner pricing → storefront; consumers: storefront removed; by admin-b, "
    )
    assert rows[0].endswith(": prices set in the shop")
    assert not any("{'" in row or "DESIGN.md" in row for row in rows)
    assert page.get_by_test_id("ownership-change").first.is_visible()


@pytest.mark.parametrize(
    ("role", "says", "never"),
    [
        (STAFF, "You are warehouse staff: if your work needs it, ask an admin to add you to "
         "Managers", "grant it yourself"),
        (MANAGERS, "You are a manager, and managers cannot grant permissions: if your work "
         "needs it, ask an admin", "grant it yourself"),
        (ADMINS, "You are an admin, so you can grant it yourself", "ask an admin"),
    ],
)  # fmt: skip
def test_403_page_speaks_to_the_role_that_sees_it(live_server, page, role, says, never):
    if role == ADMINS:
        # An admin meets a 403 only on a permission their group lacks: take one away.
        Group.objects.get(name=ADMINS).permissions.remove(
            Permission.objects.get(codename="view_authority_audit")
        )
    user = UserFactory(username=f"{role.split()[0].lower()}-b", group=role,
                       is_staff=role == ADMINS)  # fmt: skip
    log_in(page, live_server, user.username, PASSWORD)
    url = "/bins/import/" if role == MANAGERS else "/authority/"
    response = page.goto(f"{live_server.url}{url}")
    assert response.status == 403
    needs = page.get_by_test_id("denied-needs").inner_text()
    assert needs.startswith("This page needs the permission “Can ")
    advice = page.get_by_test_id("denied-advice")
    assert says in advice.inner_text()
    assert never not in advice.inner_text().lower()
    if role == ADMINS:
        advice.get_by_role("link").click()
        page.wait_for_url(f"**/admin/auth/user/{user.pk}/change/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
