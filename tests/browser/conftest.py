"""Playwright for Python driving Debian's Chromium (never a downloaded browser).

The ``browser`` and ``page`` fixtures live in the root conftest, so every directory shares
one Playwright per session; this module keeps the launch options and the login step."""

import os

# Playwright's sync API keeps an event loop running in the test's thread; Django's ORM
# calls made by the test body itself are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
