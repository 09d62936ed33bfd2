"""Drift-walk settings, read from the environment (django-environ) with sensible defaults.

Services read these module attributes at call time (``conf.TOLERANCE_UNITS``), so a test
may change one with ``monkeypatch.setattr``.

Thresholds of a count's variance (counted − the shelf's balance at the moment of the count):

* within tolerance (|variance| ≤ ``TOLERANCE_UNITS`` and ≤ ``TOLERANCE_PERCENT`` % of the
  balance): the correction is applied at once;
* past it: a blind recount by a different person;
* past ``APPROVAL_UNITS`` units or ``APPROVAL_VALUE`` at cost (after the recount): a
  manager approves or rejects it with a reason.
"""

from decimal import Decimal

import environ

env = environ.Env()

TOLERANCE_UNITS: int = env.int("ONEFACT_COUNT_TOLERANCE_UNITS", default=2)
TOLERANCE_PERCENT: float = env.float("ONEFACT_COUNT_TOLERANCE_PERCENT", default=10.0)
APPROVAL_UNITS: int = env.int("ONEFACT_COUNT_APPROVAL_UNITS", default=10)
APPROVAL_VALUE: Decimal = Decimal(env.str("ONEFACT_COUNT_APPROVAL_VALUE", default="200"))

# Cycle counts by sell-through class: how often a bin+SKU pair of each class is counted.
CYCLE_DAYS_A: int = env.int("ONEFACT_CYCLE_DAYS_A", default=30)
CYCLE_DAYS_B: int = env.int("ONEFACT_CYCLE_DAYS_B", default=91)
CYCLE_DAYS_C: int = env.int("ONEFACT_CYCLE_DAYS_C", default=182)
# Class by units shipped over this many days: top 20 % of SKUs = A, next 30 % = B, rest C.
CYCLE_SALES_DAYS: int = env.int("ONEFACT_CYCLE_SALES_DAYS", default=90)
CYCLE_SHARE_A: float = env.float("ONEFACT_CYCLE_SHARE_A", default=0.20)
CYCLE_SHARE_B: float = env.float("ONEFACT_CYCLE_SHARE_B", default=0.30)
# At most this many cycle tasks are opened per run (A first, longest uncounted first).
CYCLE_MAX_PER_RUN: int = env.int("ONEFACT_CYCLE_MAX_PER_RUN", default=500)
CYCLE_DUE_DAYS: int = env.int("ONEFACT_CYCLE_DUE_DAYS", default=7)

# "Start my walk" pulls at most this many of the oldest due open tasks.
WALK_SIZE: int = env.int("ONEFACT_WALK_SIZE", default=20)

# The largest count a counter may enter for one SKU in one bin.
MAX_COUNT = 1_000_000
