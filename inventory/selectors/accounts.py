"""Reads for the login page."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model

from inventory.seed import DEMO_USERS


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str


def demo_users_seeded() -> list[DemoUser]:
    """The demo users ``seed_demo`` created, with their passwords, for the login page of a
    local run: only with DEBUG on, and only those still present (none before the seed ran)."""
    if not settings.DEBUG:
        return []

    present = set(
        get_user_model()
        .objects.filter(username__in=[row[0] for row in DEMO_USERS], is_active=True)
        .values_list("username", flat=True)
    )
    return [
        DemoUser(username=username, password=password, role=role)
        for username, password, role, *_ in DEMO_USERS
        if username in present
    ]
