"""The three roles of OneFact and what each may do.

Groups and their permissions are created by migration (``0002_seed``); this module is the
one place that names them, for the migration, the views and ``seed_demo``.
"""

from django.contrib.auth.models import AbstractBaseUser

STAFF = "Warehouse staff"
MANAGERS = "Managers"
ADMINS = "Admins"

# Permissions per group, as "app_label.codename". Managers get the staff's too;
# admins get everything in the project's apps (plus the Django admin via is_staff).
STAFF_PERMISSIONS = [
    "inventory.view_bin",
    "inventory.view_sku",
    "inventory.view_onhand",
    "inventory.view_stockmovement",
]
MANAGER_PERMISSIONS = STAFF_PERMISSIONS + [
    "inventory.view_authority_audit",
    "inventory.view_ownership",
    "inventory.view_ownershipchange",
    "inventory.view_authorityconflict",
    "inventory.view_system",
    "inventory.view_commitment",
    "inventory.view_discrepancy",
    "inventory.change_discrepancy",
    "inventory.run_reconciliation",
    "inventory.view_syncstate",
]
ADMIN_APPS = ["inventory", "returns", "replenishment", "driftwalks", "auth"]
# Apps that build on inventory declare their roles' permissions in ``<app>/roles.py`` as
# ``PERMISSIONS = {"staff": [...], "manager": [...]}`` (managers also get the staff's).
ROLE_APPS = ["returns", "replenishment", "driftwalks"]


def role_permissions() -> tuple[list[str], list[str]]:
    """(staff, managers) permission names across inventory and the apps built on it."""
    import importlib
    import importlib.util

    staff, managers = list(STAFF_PERMISSIONS), list(MANAGER_PERMISSIONS)
    for app in ROLE_APPS:
        if importlib.util.find_spec(f"{app}.roles") is None:
            continue
        declared = importlib.import_module(f"{app}.roles").PERMISSIONS
        staff += declared.get("staff", [])
        managers += declared.get("staff", []) + declared.get("manager", [])
    return staff, managers


HOME_TEMPLATES = {
    "admin": "inventory/home_admin.html",
    "manager": "inventory/home_manager.html",
    "staff": "inventory/home_staff.html",
}


def role_for(user: AbstractBaseUser) -> str:
    """The user's role for the home page: admin, manager or staff."""
    if not user.is_authenticated:
        return ""
    if user.is_superuser or user.has_perm("inventory.change_ownership"):
        return "admin"
    if user.has_perm("inventory.view_authority_audit"):
        return "manager"
    return "staff"
