"""Each user's own choices for the pages."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UserPreference(models.Model):
    """A user's own choices for the pages: for now the language they read them in.

    An empty language means "follow the browser" (Accept-Language, then English)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    language = models.CharField(
        max_length=10, blank=True, choices=settings.LANGUAGES, verbose_name=_("language")
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(language__in=["", *(code for code, _name in settings.LANGUAGES)]),
                name="inventory_userpreference_language_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.language or 'browser'})"
