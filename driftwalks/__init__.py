"""Drift walks: closed-loop count tasks that correct the shelf.

* Tasks open on a gap (``inventory.hooks`` count requests: reconciliation, short
  fulfilment, verify_ledger, ghost rows, return mismatches…), on a schedule (cycle counts by
  sell-through class, ``open_cycle_counts_task``) or by hand. At most one unfinished task
  per bin and SKU (a partial unique constraint); later triggers attach to it.
* A walk is one counter's tasks in bin walk order. The counting page is blind: it shows the
  bin and the SKUs, never the shelf's number.
* A count's variance is counted − the shelf's balance at the moment of submission, read
  under the balance row's lock. Within tolerance the correction (a ``count_adjust`` movement
  through ``inventory.services.on_hand_adjust``) is applied at once; past it a blind recount
  by someone else; a disputed or large correction waits for a manager's reasoned decision.
* Applying the correction (or confirming the record) resolves the discrepancies that asked
  for the count, with a reference to the task. Overdue tasks escalate
  (``escalate_overdue_task``).

Settings (environment, read in ``config/settings.py``): ``ONEFACT_COUNT_TOLERANCE_UNITS`` (2),
``ONEFACT_COUNT_TOLERANCE_PERCENT`` (10), ``ONEFACT_COUNT_APPROVAL_UNITS`` (10),
``ONEFACT_COUNT_APPROVAL_VALUE`` (200), ``ONEFACT_CYCLE_DAYS_A/B/C`` (30/91/182),
``ONEFACT_CYCLE_SALES_DAYS`` (90), ``ONEFACT_CYCLE_SHARE_A/B`` (0.2/0.3),
``ONEFACT_CYCLE_MAX_PER_RUN`` (500), ``ONEFACT_CYCLE_DUE_DAYS`` (7), ``ONEFACT_WALK_SIZE`` (20).
"""
