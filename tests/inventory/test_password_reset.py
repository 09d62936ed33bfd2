"""Password reset is offered only where mail can go out, and is rate-limited: without
DJANGO_EMAIL_URL its pages are gone and the login page says to ask an admin."""

import os
import subprocess
import sys

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

RESET_URLS = [
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/",
]


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mail_on(settings):
    settings.ONEFACT_PASSWORD_RESET = True
    settings.ONEFACT_PASSWORD_RESET_LIMIT = 5


def _ask(client, email: str, address: str = "203.0.113.7"):
    return client.post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=address)


@pytest.mark.django_db
@pytest.mark.parametrize("url", RESET_URLS)
def test_password_reset_pages_are_gone_without_mail(client, settings, mailoutbox, url):
    settings.ONEFACT_PASSWORD_RESET = False
    UserFactory(username="ana", email="ana@example.com")

    assert client.get(url).status_code == 404
    assert client.post(url, {"email": "ana@example.com"}).status_code == 404
    assert mailoutbox == []


@pytest.mark.django_db
def test_login_page_says_to_ask_an_admin_without_mail(client, settings):
    settings.ONEFACT_PASSWORD_RESET = False

    page = client.get("/accounts/login/").content.decode()

    assert "Ask an admin to reset it." in page
    assert "/accounts/password_reset/" not in page


@pytest.mark.django_db
def test_login_page_offers_password_reset_with_mail(client, mail_on):
    page = client.get("/accounts/login/").content.decode()

    assert 'href="/accounts/password_reset/"' in page
    assert "Ask an admin" not in page


@pytest.mark.django_db
def test_password_reset_sends_a_link_that_sets_the_password(client, mail_on, mailoutbox):
    user = UserFactory(username="ana", email="ana@example.com")

    response = _ask(client, "ana@example.com")

    assert response.status_code == 302 and response.url == "/accounts/password_reset/done/"
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ana@example.com"]
    assert mailoutbox[0].subject == "Reset your OneFact password"
    link = next(w for w in mailoutbox[0].body.split() if "/accounts/reset/" in w)
    form = client.get(link.removeprefix("http://testserver"), follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-long-new-passphrase", "new_password2": "a-long-new-passphrase"},
    )
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password("a-long-new-passphrase")


@pytest.mark.django_db
def test_password_reset_limits_requests_per_address(client, mail_on, mailoutbox):
    for n in range(6):
        UserFactory(username=f"user-{n}", email=f"user-{n}@example.com")

    answers = [_ask(client, f"user-{n}@example.com").status_code for n in range(6)]

    assert answers == [302] * 5 + [200]
    assert len(mailoutbox) == 5
    refused = _ask(client, "user-5@example.com")
    assert "Too many password reset requests" in refused.context["form"].errors["email"][0]
    assert _ask(client, "user-5@example.com", address="198.51.100.1").status_code == 302


@pytest.mark.django_db
def test_password_reset_limits_requests_per_account(client, mail_on, mailoutbox):
    UserFactory(username="ana", email="ana@example.com")

    answers = [_ask(client, "ANA@example.com", f"198.51.100.{n}").status_code for n in range(6)]

    assert answers == [302] * 5 + [200]
    assert len(mailoutbox) == 5


@pytest.mark.django_db
def test_password_reset_counts_unknown_addresses_too(client, mail_on, mailoutbox):
    answers = [_ask(client, "nobody@example.com", f"198.51.100.{n}").status_code for n in range(6)]

    assert answers == [302] * 5 + [200]
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("email_url", "offered", "backend"),
    [
        ("", "False", "django.core.mail.backends.smtp.EmailBackend"),
        ("consolemail://", "True", "django.core.mail.backends.console.EmailBackend"),
        (
            "smtp+tls://mailer:pw@mail.example:587",
            "True",
            "django.core.mail.backends.smtp.EmailBackend",
        ),
    ],
)
def test_settings_offer_password_reset_only_with_an_email_url(email_url, offered, backend):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"}
    env["DJANGO_EMAIL_URL"] = email_url
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ONEFACT_PASSWORD_RESET, s.EMAIL_BACKEND)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [offered, backend]


def test_check_deploy_warns_when_reset_limits_are_counted_per_process(settings):
    from inventory.checks import password_reset_rate_limit

    settings.ONEFACT_PASSWORD_RESET = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [m.id for m in password_reset_rate_limit(None)] == ["inventory.W002"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/1"}}  # fmt: skip
    assert password_reset_rate_limit(None) == []
    settings.ONEFACT_PASSWORD_RESET = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert password_reset_rate_limit(None) == []
