import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from inventory.exceptions import InvalidMovement, NotOwner
from inventory.models import AuthorityConflict, Fact, Ownership, OwnershipChange, System
from inventory.roles import ADMINS, MANAGERS, STAFF
from inventory.services import authority_enforce, ownership_change

DESIGN_TABLE = {
    "on_hand": ("shelf", {"storefront", "replenishment"}),
    "catalog": ("storefront", {"shelf", "replenishment"}),
    "order": ("storefront", {"shelf"}),
    "refund": ("storefront", {"returns"}),
    "restock": ("shelf", {"storefront"}),
    "price": ("pricing", {"storefront"}),
    "in_transit": ("replenishment", {"shelf"}),
}


def test_ownership_migration_seeds_the_design_table(db):
    seeded = {
        o.fact: (o.owner.name, {c.name for c in o.consumers.all()})
        for o in Ownership.objects.select_related("owner")
    }
    assert seeded == DESIGN_TABLE
    assert Ownership.objects.get(fact=Fact.ON_HAND).truth_moment == "ship"
    assert OwnershipChange.objects.count() == len(DESIGN_TABLE)


def test_ownership_two_rows_for_one_fact_is_refused_by_the_database(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Ownership.objects.create(fact=Fact.PRICE, owner=System.objects.get(name="shelf"))


def test_ownership_truth_moment_only_on_on_hand_is_a_database_constraint(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Ownership.objects.filter(fact=Fact.PRICE).update(truth_moment="ship")
    with pytest.raises(IntegrityError), transaction.atomic():
        Ownership.objects.filter(fact=Fact.ON_HAND).update(truth_moment="")


def test_authority_enforce_accepts_the_owner(shelf):
    authority_enforce(fact=Fact.ON_HAND, system=shelf, payload={"qty": 3})
    assert not AuthorityConflict.objects.exists()


def test_authority_enforce_refuses_and_records_a_non_owner(storefront, shelf):
    with pytest.raises(NotOwner, match="storefront may not write on_hand: shelf owns it"):
        authority_enforce(fact=Fact.ON_HAND, system=storefront, payload={"sku": "X", "qty": 4})
    conflict = AuthorityConflict.objects.get()
    assert (conflict.system, conflict.fact, conflict.owner) == (storefront, "on_hand", shelf)
    assert conflict.payload == {"sku": "X", "qty": 4}


def test_authority_enforce_follows_an_owner_change_without_a_deploy(storefront, admin_user):
    ownership = Ownership.objects.get(fact=Fact.PRICE)
    with pytest.raises(NotOwner):
        authority_enforce(fact=Fact.PRICE, system=storefront, payload={"price": "9.99"})
    ownership_change(
        ownership=ownership,
        owner=storefront,
        consumers=[],
        reason="Prices now set in the storefront",
        actor=admin_user,
    )
    authority_enforce(fact=Fact.PRICE, system=storefront, payload={"price": "9.99"})
    assert AuthorityConflict.objects.count() == 1


def test_authority_enforce_refuses_every_system_for_a_gap(storefront, shelf, admin_user):
    # ownership_change refuses a gap; a row left without an owner by hand is still refused.
    Ownership.objects.filter(fact=Fact.PRICE).update(owner=None)
    with pytest.raises(NotOwner, match="no owner"):
        authority_enforce(fact=Fact.PRICE, system=shelf)


def test_authority_enforce_refuses_an_inactive_owner(shelf):
    shelf.active = False
    shelf.save()
    with pytest.raises(NotOwner):
        authority_enforce(fact=Fact.ON_HAND, system=shelf)


def test_ownership_change_is_audited_with_who_when_before_after_and_why(admin_user, storefront):
    ownership = Ownership.objects.get(fact=Fact.ON_HAND)
    change = ownership_change(
        ownership=ownership,
        owner=ownership.owner,
        consumers=[storefront],
        truth_moment="order",
        reason="Storefront decrements at order time",
        actor=admin_user,
    )
    assert change.changed_by == admin_user
    assert change.before == {
        "owner": "shelf",
        "consumers": ["replenishment", "storefront"],
        "truth_moment": "ship",
    }
    assert change.after == {"owner": "shelf", "consumers": ["storefront"], "truth_moment": "order"}
    assert change.changed_at is not None
    assert Ownership.objects.get(fact=Fact.ON_HAND).truth_moment == "order"


def test_ownership_change_without_reason_changes_nothing(admin_user, storefront):
    ownership = Ownership.objects.get(fact=Fact.CATALOG)
    before = OwnershipChange.objects.count()
    with pytest.raises(InvalidMovement, match="reason"):
        ownership_change(
            ownership=ownership, owner=None, consumers=[], reason="  ", actor=admin_user
        )
    assert Ownership.objects.get(fact=Fact.CATALOG).owner == storefront
    assert OwnershipChange.objects.count() == before


def test_roles_groups_exist_with_their_permissions(db):
    staff = set(Group.objects.get(name=STAFF).permissions.values_list("codename", flat=True))
    managers = set(Group.objects.get(name=MANAGERS).permissions.values_list("codename", flat=True))
    admins = set(Group.objects.get(name=ADMINS).permissions.values_list("codename", flat=True))
    assert "view_onhand" in staff and "view_authority_audit" not in staff
    assert {"view_authority_audit", "view_ownership"} <= managers
    assert "change_ownership" not in managers
    assert {"change_ownership", "change_system", "change_bin"} <= admins
