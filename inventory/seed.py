"""Seed data, the rows every OneFact database starts with: the systems and ownership table of
DESIGN.md, and the three role groups with their permissions.

Called by migrations (with historical models) and by the test suite after a flush; both
functions take an ``apps`` registry and are idempotent.
"""

from django.conf import settings

from inventory.roles import ADMINS, MANAGERS, STAFF

SYSTEMS = [
    ("shelf", "shelf", ""),
    ("storefront", "storefront", "demo"),
    ("pricing", "pricing", ""),
    ("replenishment", "replenishment", ""),
    ("returns", "returns", ""),
]

# fact: (owner, consumers)
OWNERSHIP = {
    "on_hand": ("shelf", ["storefront", "replenishment"]),
    "catalog": ("storefront", ["shelf", "replenishment"]),
    "order": ("storefront", ["shelf"]),
    "refund": ("storefront", ["returns"]),
    "restock": ("shelf", ["storefront"]),
    "price": ("pricing", ["storefront"]),
    "in_transit": ("replenishment", ["shelf"]),
}

# Why each default is the default: the reason of the seeded audit row, in words.
DEFAULT_REASONS = {
    "on_hand": "OneFact's default: the shelf owns on-hand, because units are counted where "
    "they sit; the storefront and replenishment mirror it.",
    "catalog": "OneFact's default: the storefront owns the catalog (SKUs, titles, active "
    "flag), where it is edited; the shelf and replenishment mirror it.",
    "order": "OneFact's default: orders are placed in the storefront, so it owns them; the "
    "shelf mirrors them as commitments.",
    "refund": "OneFact's default: the storefront owns refunds, since it pays them; returns "
    "intake only reads them.",
    "restock": "OneFact's default: the shelf decides whether a returned unit is sellable "
    "again, since that is where it is inspected; the storefront mirrors it.",
    "price": "OneFact's default: the pricing engine owns prices; the storefront shows them.",
    "in_transit": "OneFact's default: replenishment owns purchase orders in transit, since "
    "it places them; the shelf mirrors them until they are received.",
}
# The reason the seeded rows had before (migration 0015 rewrites it into the words above).
OLD_SEED_REASON = "Defaults from DESIGN.md (initial migration)."


def seed_warehouse(apps, schema_editor=None):
    """The default warehouse every existing bin is in, until a second one is added."""
    using = schema_editor.connection.alias if schema_editor is not None else "default"
    Warehouse = apps.get_model("inventory", "Warehouse")
    if not Warehouse.objects.using(using).filter(is_default=True).exists():
        Warehouse.objects.using(using).get_or_create(
            code="MAIN", defaults={"name": "Main warehouse", "is_default": True}
        )


def seed_ownership(apps, schema_editor=None):
    using = schema_editor.connection.alias if schema_editor is not None else "default"
    System = apps.get_model("inventory", "System")
    Ownership = apps.get_model("inventory", "Ownership")
    OwnershipChange = apps.get_model("inventory", "OwnershipChange")
    systems = {
        name: System.objects.using(using).get_or_create(
            name=name, defaults={"kind": kind, "adapter": adapter}
        )[0]
        for name, kind, adapter in SYSTEMS
    }
    for fact, (owner, consumers) in OWNERSHIP.items():
        truth_moment = (
            getattr(settings, "ONEFACT_TRUTH_MOMENT", "ship") if fact == "on_hand" else ""
        )
        row, created = Ownership.objects.using(using).get_or_create(
            fact=fact, defaults={"owner": systems[owner], "truth_moment": truth_moment}
        )
        if created:
            row.consumers.set([systems[c] for c in consumers])
            OwnershipChange.objects.using(using).create(
                ownership=row,
                changed_by=None,
                before={},
                after={
                    "owner": owner,
                    "consumers": sorted(consumers),
                    "truth_moment": truth_moment,
                },
                reason=DEFAULT_REASONS[fact],
            )


def seed_groups(apps, schema_editor=None):
    """Create the role groups and give them their permissions (never takes any away)."""
    from django.contrib.auth.management import create_permissions

    from inventory.roles import ADMIN_APPS, ADMINS, MANAGERS, STAFF, role_permissions

    staff_permissions, manager_permissions = role_permissions()
    using = schema_editor.connection.alias if schema_editor is not None else "default"

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=using)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(names):
        """The named permissions that exist in this migration state (later apps add more)."""
        found = []
        for name in names:
            app_label, codename = name.split(".")
            found += Permission.objects.using(using).filter(
                content_type__app_label=app_label, codename=codename
            )
        return found

    groups = Group.objects.using(using)
    groups.get_or_create(name=STAFF)[0].permissions.add(*perms(staff_permissions))
    groups.get_or_create(name=MANAGERS)[0].permissions.add(*perms(manager_permissions))
    groups.get_or_create(name=ADMINS)[0].permissions.add(
        *Permission.objects.using(using).filter(content_type__app_label__in=ADMIN_APPS)
    )


# The demo users, one list for the seed, its printout, the README and the login page.
# Two managers: whoever counted or recounted a task never decides it, so a count one manager
# recounted is approved by the other.
DEMO_USERS = [
    # username, password, group, is_staff (Django admin)
    ("staff", "onefact-staff", STAFF, False),
    ("manager", "onefact-manager", MANAGERS, False),
    ("manager2", "onefact-manager2", MANAGERS, False),
    ("admin", "onefact-admin", ADMINS, True),
]
