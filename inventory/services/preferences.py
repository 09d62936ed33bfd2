"""A user's own preferences (the language of their pages)."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from inventory.models import UserPreference


@transaction.atomic
def user_preference_set(*, user: AbstractBaseUser, language: str) -> UserPreference:
    """Store the user's language ("" follows the browser's)."""
    if language not in ("", *(code for code, _name in settings.LANGUAGES)):
        raise ValueError(f"Unknown language {language!r}.")
    preference, _created = UserPreference.objects.update_or_create(
        user=user, defaults={"language": language}
    )
    return preference
