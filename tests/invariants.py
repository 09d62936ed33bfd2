"""DESIGN's invariants, each beside the tests that hold it (``tests/test_invariants.py`` checks
that every test named here exists, so the table cannot point at a test that was renamed away).

When an invariant is added to DESIGN, it is added here with its test; a row without a test is a
gap to close, not a row to leave out."""

INVARIANTS: list[tuple[str, list[str]]] = [
    (
        "For every (bin, SKU): balance = sum of its ledger movements; balance ≥ 0.",
        [
            "tests/inventory/test_properties.py::LedgerPropertyTest::"
            "test_movements_keep_balance_equal_to_ledger_and_never_negative",
            "tests/inventory/test_services.py::"
            "test_on_hand_adjust_rejects_negative_balance_and_writes_nothing",
            "tests/inventory/test_selectors.py::"
            "test_ledger_mismatches_finds_a_balance_changed_behind_the_ledger",
        ],
    ),
    (
        "Ledger rows are never updated or deleted.",
        ["tests/inventory/test_postgres.py::test_raw_sql_update_or_delete_on_the_ledger_fails"],
    ),
    (
        "Replaying any inbound event (same source and event id) changes nothing.",
        [
            "tests/inventory/test_inbound.py::test_replayed_order_events_change_nothing",
            "tests/inventory/test_transfer_replay.py::"
            "test_transfer_create_replay_answers_200_with_the_first_legs",
            "tests/driftwalks/test_counting.py::"
            "test_count_submit_replayed_with_the_same_key_changes_nothing",
        ],
    ),
    (
        "No two owners for one fact; a non-owner's write is refused and recorded.",
        [
            "tests/inventory/test_ownership.py::"
            "test_ownership_two_rows_for_one_fact_is_refused_by_the_database",
            "tests/inventory/test_ownership.py::"
            "test_authority_enforce_refuses_and_records_a_non_owner",
            "tests/inventory/test_inbound.py::"
            "test_order_event_from_a_non_owner_is_refused_and_changes_nothing",
        ],
    ),
    (
        "A returned unit adds to on-hand only after staff confirm it arrived, in sellable "
        "condition, into a named bin.",
        [
            "tests/returns/test_receiving.py::test_scan_and_grade_without_confirmation_add_nothing",
            "tests/returns/test_receiving.py::test_damaged_and_missing_grades_add_nothing_on_hand",
            "tests/returns/test_receiving.py::"
            "test_receipt_confirm_restocks_one_sellable_unit_into_its_named_bin",
        ],
    ),
    (
        "Replenishment models hold no on-hand field.",
        ["tests/replenishment/test_services.py::test_no_replenishment_model_has_an_on_hand_field"],
    ),
    (
        "Every correction of a consumer's copy leaves a discrepancy row.",
        [
            "tests/inventory/test_reconcile.py::"
            "test_reconcile_each_seeded_gap_gives_one_discrepancy_a_correction_and_counts",
        ],
    ),
    (
        "A SKU whose shelf number is not yet known is never pushed or corrected.",
        [
            "tests/inventory/test_adoption.py::"
            "test_a_live_storefront_never_gets_an_uncounted_skus_number",
        ],
    ),
    (
        "No run sends corrections past the circuit breaker without a manager.",
        [
            "tests/inventory/test_adoption.py::"
            "test_breaker_holds_a_reconciliation_that_would_cut_the_storefront",
            "tests/inventory/test_adoption.py::"
            "test_breaker_trips_on_a_run_that_would_zero_many_skus",
        ],
    ),
    (
        "Every discrepancy ends resolved by a count, a correction or a manager's decision with a "
        "reason; none is deleted.",
        [
            "tests/inventory/test_discrepancy_undeletable.py::"
            "test_the_orm_refuses_to_delete_a_discrepancy_one_or_many",
            "tests/inventory/test_discrepancy_undeletable.py::"
            "test_raw_sql_delete_of_a_discrepancy_fails_on_postgresql",
            "tests/inventory/test_discrepancy_undeletable.py::"
            "test_a_decision_without_a_reason_is_refused_by_the_service_and_by_the_database",
        ],
    ),
]
