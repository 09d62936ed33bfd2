from django.utils.functional import SimpleLazyObject

from inventory import selectors
from inventory.roles import role_for


def role(request):
    return {"role": role_for(request.user) if hasattr(request, "user") else ""}


def breaker(request):
    """The batches the circuit breaker holds, for the red banner on every manager's page.

    Read in one query, and only when a page that shows the banner renders it; staff, who
    may not review discrepancies, pay nothing (their permissions are already loaded).
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("inventory.view_discrepancy"):
        return {"held_batches": ()}
    return {"held_batches": SimpleLazyObject(lambda: list(selectors.held_batches()))}
