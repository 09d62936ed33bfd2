"""Login rate limiting and the deployment checklist's session/CSRF settings."""

import pytest
from django.conf import settings

from tests.factories import UserFactory


def _login(client, password):
    return client.post("/accounts/login/", {"username": "guess-me", "password": password})


def test_login_is_locked_after_repeated_failures(client, db):
    UserFactory(username="guess-me")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    # Even the right password is refused while locked out.
    assert _login(client, "pw-for-tests-only").status_code == 429


def test_a_successful_login_resets_the_count(client, db):
    UserFactory(username="guess-me")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "wrong")
    assert _login(client, "pw-for-tests-only").status_code == 302
    client.logout()
    assert _login(client, "wrong").status_code == 200  # counting starts again


@pytest.mark.parametrize("name", ["SESSION_COOKIE_HTTPONLY", "SECURE_CONTENT_TYPE_NOSNIFF"])
def test_session_and_headers_follow_the_checklist(name):
    assert getattr(settings, name) is True
