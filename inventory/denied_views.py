"""The 403 page, worded for the role that sees it.

It says what the refused page needs (the permission its ``permission_required`` names),
which group holds it, and who can grant it: a staff member or a manager is told to ask an
admin; an admin is never told to ask an admin, but where in the admin to grant it.
"""

import inspect

from django.contrib.auth.models import Permission
from django.http import HttpResponseForbidden
from django.template import loader
from django.urls import Resolver404, resolve, reverse

from inventory.roles import ADMINS, MANAGERS, STAFF, role_for

# The role groups from the smallest to the largest: the one to suggest is the smallest.
GROUP_ORDER = [STAFF, MANAGERS, ADMINS]


def permissions_needed(view) -> tuple[str, ...]:
    """The permissions a view's ``permission_required`` asks for, or () if it names none.

    Follows the ``__wrapped__`` chain of the view's decorators and reads the permissions
    out of Django's ``check_perms`` closure; anything else (a refusal raised inside the
    view, a class-based view) gives ().
    """
    seen: set[int] = set()
    func = view
    while callable(func) and id(func) not in seen:
        seen.add(id(func))
        try:
            test = inspect.getclosurevars(func).nonlocals.get("test_func")
            perms = inspect.getclosurevars(test).nonlocals.get("perms") if test else None
        except TypeError:
            perms = None
        if perms:
            return tuple(perms)
        func = getattr(func, "__wrapped__", None)
    return ()


def _permission(name: str) -> Permission | None:
    app_label, _, codename = name.partition(".")
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .prefetch_related("group_set")
        .first()
    )


def permission_denied(request, exception):
    """``handler403``: Django's page, with what the page needs and who can grant it."""
    user = request.user
    role = role_for(user)
    try:
        needed = permissions_needed(resolve(request.path_info).func)
    except Resolver404:
        needed = ()
    missing = [name for name in needed if not user.has_perm(name)]
    permission = _permission(missing[0]) if missing else None
    groups = sorted(
        (g.name for g in permission.group_set.all()) if permission else [],
        key=lambda name: (
            GROUP_ORDER.index(name) if name in GROUP_ORDER else len(GROUP_ORDER),
            name,
        ),
    )
    can_grant = user.is_authenticated and user.has_perm("auth.change_user")
    context = {
        "exception": str(exception),
        "denied_role": role,
        "permission": permission,
        "groups": groups,
        "can_grant": can_grant,
        "grant_url": reverse("admin:auth_user_change", args=[user.pk]) if can_grant else "",
    }
    template = loader.get_template("403.html")
    return HttpResponseForbidden(template.render(context, request))
