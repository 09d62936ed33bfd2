"""The ownership table enforces its own rule; each change reads as a sentence; the 403 page
speaks to the role that sees it."""

import datetime
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from inventory.denied_views import permissions_needed
from inventory.models import Fact, Ownership, OwnershipChange, System
from inventory.roles import ADMINS
from inventory.seed import DEFAULT_REASONS, OLD_SEED_REASON
from inventory.services import ownership_change
from inventory.views import authority_audit

migration = importlib.import_module("inventory.migrations.0016_ownership_seed_reasons_in_words")

CHANGE_URL = "/admin/inventory/ownership/{}/change/"


def _system(name: str) -> System:
    return System.objects.get(name=name)


def _admin_post(ownership: Ownership, **data) -> dict:
    post = {
        "owner": ownership.owner_id or "",
        "consumers": [c.pk for c in ownership.consumers.all()],
        "truth_moment": ownership.truth_moment,
        "reason": "a reason",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
    }
    post.update(data)
    return post


# --- the rule, in the service every write path calls ----------------------------------------


def test_ownership_change_refuses_a_fact_without_an_owner(admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    before = OwnershipChange.objects.count()
    with pytest.raises(ValidationError) as refused:
        ownership_change(ownership=price, owner=None, consumers=[_system("storefront")],
                         reason="pricing engine retired", actor=admin_user)  # fmt: skip
    assert "Price needs an owner" in refused.value.message_dict["owner"][0]
    price.refresh_from_db()
    assert price.owner == _system("pricing")
    assert OwnershipChange.objects.count() == before


def test_ownership_change_refuses_the_owner_among_its_consumers(admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    storefront = _system("storefront")
    with pytest.raises(ValidationError) as refused:
        ownership_change(ownership=price, owner=storefront, consumers=[storefront],
                         reason="prices in the shop", actor=admin_user)  # fmt: skip
    assert refused.value.message_dict["consumers"] == [
        "storefront owns price, so it cannot also consume it: untick storefront in the consumers."
    ]
    price.refresh_from_db()
    assert price.owner == _system("pricing")
    assert set(price.consumers.all()) == {storefront}


# --- the admin form: message at the field, nothing saved ------------------------------------


@pytest.mark.parametrize(
    ("field", "data", "message"),
    [
        ("owner", {"owner": ""}, "Price needs an owner"),
        ("consumers", {"owner": "storefront"}, "storefront owns price, so it cannot also"),
    ],
)
def test_ownership_admin_refuses_with_the_message_at_the_field(
    client, admin_user, field, data, message
):
    price = Ownership.objects.get(fact=Fact.PRICE)
    if data["owner"]:
        data = {"owner": _system(data["owner"]).pk}
    before = OwnershipChange.objects.count()
    client.force_login(admin_user)
    response = client.post(CHANGE_URL.format(price.pk), _admin_post(price, **data))
    assert response.status_code == 200  # the form again, not a redirect
    form = response.context["adminform"].form
    assert message in " ".join(form.errors[field])
    price.refresh_from_db()
    assert price.owner == _system("pricing")
    assert OwnershipChange.objects.count() == before


def test_ownership_admin_saves_a_valid_change_as_a_sentence(client, admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    client.force_login(admin_user)
    response = client.post(
        CHANGE_URL.format(price.pk),
        _admin_post(price, owner=_system("storefront").pk, consumers=[], reason="shop sets it"),
    )
    assert response.status_code == 302
    change = OwnershipChange.objects.filter(ownership=price).latest("id")
    assert change.sentence().startswith(
        "Price: owner pricing → storefront; consumers: storefront removed; by admin-t, "
    )
    page = client.get(CHANGE_URL.format(price.pk)).content.decode()
    assert change.sentence() in page
    assert "None" not in page


# --- the sentence ------------------------------------------------------------------------------


def test_ownership_change_sentence_names_what_changed_who_when_and_why(admin_user, settings):
    settings.TIME_ZONE = "Europe/Paris"
    on_hand = Ownership.objects.get(fact=Fact.ON_HAND)
    change = ownership_change(
        ownership=on_hand, owner=on_hand.owner,
        consumers=[_system("storefront"), _system("returns")],
        truth_moment="order", reason="decrement at order time", actor=admin_user,
    )  # fmt: skip
    when = datetime.datetime(timezone.now().year, 12, 7, 13, 52, tzinfo=datetime.UTC)
    OwnershipChange.objects.filter(pk=change.pk).update(changed_at=when)
    change.refresh_from_db()
    assert change.sentence() == (
        "On-hand: owner unchanged (shelf); consumers: returns added, replenishment removed; "
        "truth moment ship → order; by admin-t, 7 Dec 14:52: decrement at order time"
    )


def test_ownership_change_sentence_says_consumers_unchanged_and_by_the_system(db):
    price = Ownership.objects.get(fact=Fact.PRICE)
    change = ownership_change(ownership=price, owner=_system("shelf"),
                              consumers=[_system("storefront")], reason="r",
                              actor=None)  # fmt: skip
    assert change.sentence().startswith(
        "Price: owner pricing → shelf; consumers unchanged; by the system, "
    )
    assert "None" not in str(change)


def test_seeded_rows_say_where_the_defaults_come_from_in_words(db):
    for change in OwnershipChange.objects.select_related("ownership", "changed_by"):
        assert change.reason == DEFAULT_REASONS[change.ownership.fact]
        assert "DESIGN.md" not in change.sentence()
    price = OwnershipChange.objects.get(ownership__fact=Fact.PRICE)
    assert price.sentence().startswith(
        "Price: owner pricing; consumers storefront; by the system, "
    )
    assert price.sentence().endswith(": OneFact's default: the pricing engine owns prices; "
                                     "the storefront shows them.")  # fmt: skip


def test_migration_rewrites_only_the_seeded_rows_reason(admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    OwnershipChange.objects.filter(ownership=price).update(reason=OLD_SEED_REASON)
    by_hand = OwnershipChange.objects.create(
        ownership=price, changed_by=admin_user, before={"owner": "pricing"},
        after={"owner": "pricing"}, reason=OLD_SEED_REASON,
    )  # fmt: skip
    migration.reasons_in_words(apps, SimpleNamespace(connection=connection))
    seeded = OwnershipChange.objects.get(ownership=price, changed_by=None)
    assert seeded.reason == DEFAULT_REASONS["price"]
    by_hand.refresh_from_db()
    assert by_hand.reason == OLD_SEED_REASON


def test_admin_changelist_shows_each_rows_own_change(client, admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    for owner, reason in (("storefront", "first move"), ("shelf", "second move")):
        ownership_change(ownership=price, owner=_system(owner), consumers=[],
                         reason=reason, actor=admin_user)  # fmt: skip
    client.force_login(admin_user)
    page = client.get("/admin/inventory/ownershipchange/?ownership__fact=price").content.decode()
    assert "Price: owner storefront → shelf; consumers unchanged; by admin-t," in page
    assert "Price: owner pricing → storefront; consumers: storefront removed; by admin-t," in page
    assert "Price: owner pricing; consumers storefront; by the system," in page
    assert "Price → shelf" not in page  # today's owner is not repeated on every row


def test_authority_audit_shows_changes_as_sentences(client, manager_user, admin_user):
    price = Ownership.objects.get(fact=Fact.PRICE)
    change = ownership_change(ownership=price, owner=_system("storefront"), consumers=[],
                              reason="prices in the shop", actor=admin_user)  # fmt: skip
    client.force_login(manager_user)
    page = client.get("/authority/").content.decode()
    assert change.sentence().replace("'", "&#x27;") in page
    assert "{&#x27;owner&#x27;" not in page and "migration" not in page


# --- 403 by role; plurals --------------------------------------------------------------------


def test_permissions_needed_reads_the_views_permission_required():
    assert permissions_needed(authority_audit) == ("inventory.view_authority_audit",)
    assert permissions_needed(lambda request: None) == ()


def test_403_tells_staff_to_ask_an_admin_for_the_managers_group(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/authority/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "This page needs the permission “Can view the authority audit”" in page
    assert "which the Managers and Admins groups have" in page
    assert (
        "You are warehouse staff: if your work needs it, ask an admin to add you to Managers"
        in page
    )


def test_403_tells_a_manager_that_an_admin_grants_it(client, manager_user):
    client.force_login(manager_user)
    response = client.get("/bins/import/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "This page needs the permission “Can add bin”, which the Admins group has." in page
    assert (
        "You are a manager, and managers cannot grant permissions: if your work needs it, "
        "ask an admin" in page
    )


def test_403_never_tells_an_admin_to_ask_an_admin(client, admin_user):
    Group.objects.get(name=ADMINS).permissions.remove(
        Permission.objects.get(codename="view_authority_audit")
    )
    client.force_login(admin_user)
    response = client.get("/authority/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "which the Managers group has" in page
    assert "You are an admin, so you can grant it yourself" in page
    assert f'href="/admin/auth/user/{admin_user.pk}/change/"' in page
    assert "ask an admin" not in page.lower()


def test_home_figures_say_1_fact_not_1_facts(client, manager_user):
    Ownership.objects.filter(fact=Fact.PRICE).update(owner=None)  # a gap left by hand
    client.force_login(manager_user)
    page = client.get("/").content.decode()
    assert "fact with no owner" in page and "facts with no owner" not in page
