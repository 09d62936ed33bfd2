"""Settings of returns intake, read from the environment each time (django-environ).

``ONEFACT_RETURNS_LATE_DAYS`` (default 14): expected units not arrived this many days after
the return was authorised are flagged late.
``ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS`` (default 10): transient failures to tell the storefront
an outcome are retried with backoff this many times, then kept as not sent, with the reason.
``ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX`` (default 3600 seconds): the longest wait between tries.
"""

import environ

env = environ.Env()


def late_days() -> int:
    return max(1, env.int("ONEFACT_RETURNS_LATE_DAYS", default=14))


def outcome_max_attempts() -> int:
    return max(1, env.int("ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS", default=10))


def outcome_backoff_max() -> int:
    return max(1, env.int("ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX", default=3600))
