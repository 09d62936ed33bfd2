"""Log in, and password reset only where mail can go out.

Without ``DJANGO_EMAIL_URL`` a reset mail would fail in the log while the user is told it
was sent, so the reset pages answer 404 and the login page says to ask an admin. With it,
a reset request is limited per client address and per account (Django's cache, one hour),
so the form cannot be used to flood a mailbox or to probe many accounts from one place.
"""

import hashlib
from functools import wraps

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from inventory.forms import ProfileForm
from inventory.middleware import preferred_language
from inventory.selectors import demo_users_seeded
from inventory.services import user_preference_set

RESET_WINDOW_SECONDS = 3600


def password_reset_offered(view):
    """A reset page exists only when mail is configured (``ONEFACT_PASSWORD_RESET``)."""

    @wraps(view)
    def offered(request, *args, **kwargs):
        if not settings.ONEFACT_PASSWORD_RESET:
            raise Http404("Password reset is not offered: no mail is configured.")
        return view(request, *args, **kwargs)

    return offered


def _count_request(*, scope: str, value: str) -> int:
    """Count one reset request for ``value`` in this hour's window; return the count."""
    key = f"password-reset:{scope}:{hashlib.sha256(value.encode()).hexdigest()}"
    cache.add(key, 0, timeout=RESET_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr: this is its first request
        cache.set(key, 1, timeout=RESET_WINDOW_SECONDS)
        return 1


class PasswordResetForm(auth_forms.PasswordResetForm):
    def __init__(self, *args, client_address: str, **kwargs) -> None:
        self.client_address = client_address
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        counts = (
            _count_request(scope="address", value=self.client_address),
            _count_request(scope="account", value=email.casefold()),
        )
        if max(counts) > settings.ONEFACT_PASSWORD_RESET_LIMIT:
            raise ValidationError(
                gettext_lazy(
                    "Too many password reset requests from here or for this address: try "
                    "again in an hour, or ask an admin to reset the password."
                ),
                code="rate_limited",
            )
        return email


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm

    def get_form_kwargs(self) -> dict:
        address = get_client_ip_address(self.request) or ""
        return {**super().get_form_kwargs(), "client_address": address}


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs) -> dict:
        return {
            **super().get_context_data(**kwargs),
            "password_reset": settings.ONEFACT_PASSWORD_RESET,
            "demo_users": demo_users_seeded(),
        }


@require_http_methods(["GET", "POST"])
def profile(request):
    """The signed-in user's own page: their language (else the browser's is used)."""
    form = ProfileForm(request.POST or None, initial={"language": preferred_language(request.user)})
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        user_preference_set(user=request.user, language=language)
        translation.activate(language or translation.get_language_from_request(request))
        messages.success(request, _("Your preferences are saved."))
        return redirect("profile")
    return render(request, "registration/profile.html", {"form": form})
