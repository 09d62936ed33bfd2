"""Replenishment's own settings, read from the environment (config/settings.py stays shared).

``ONEFACT_REPLENISHMENT_WINDOW_DAYS`` (default 28): the trailing window, in whole days, over
which sell-through is measured.
"""

import environ

env = environ.Env()


def window_days() -> int:
    """The sell-through window in days (read each time, so a change needs no restart)."""
    days = env.int("ONEFACT_REPLENISHMENT_WINDOW_DAYS", default=28)
    if days < 1:
        raise environ.ImproperlyConfigured("ONEFACT_REPLENISHMENT_WINDOW_DAYS must be at least 1.")
    return days
