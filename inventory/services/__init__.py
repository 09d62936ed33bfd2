"""Every write in ``inventory``. ``on_hand_adjust`` is the one write path for on-hand."""

from inventory.services.adoption import shelf_evidence_record, storefront_mode_set
from inventory.services.corrections import (
    correction_batch_cancel,
    correction_batch_release,
    storefront_go_live,
)
from inventory.services.discrepancies import (
    discrepancies_create,
    discrepancy_record,
    discrepancy_resolve,
)
from inventory.services.inbound import (
    catalog_apply,
    catalog_pull,
    inbox_process,
    inbox_record,
    inbox_retry,
    webhook_verify,
)
from inventory.services.jobs import job_start
from inventory.services.outbox import outbox_record, push_schedule
from inventory.services.ownership import (
    authority_enforce,
    ownership_change,
    ownership_validate,
    warehouse_owner_set,
    warehouse_owner_validate,
)
from inventory.services.preferences import user_preference_set
from inventory.services.push import outbox_prune, storefront_push
from inventory.services.reconcile import orders_at_risk_check, storefront_reconcile
from inventory.services.rules import (
    bin_check_put,
    movement_check,
    sku_check_receive,
    units_check,
)
from inventory.services.stock import (
    bin_create,
    on_hand_adjust,
    on_hand_adjust_by_code,
    on_hand_lock_for_count,
    on_hand_transfer,
)

__all__ = [
    "authority_enforce",
    "bin_check_put",
    "bin_create",
    "catalog_apply",
    "catalog_pull",
    "correction_batch_cancel",
    "correction_batch_release",
    "discrepancies_create",
    "discrepancy_record",
    "discrepancy_resolve",
    "inbox_process",
    "inbox_record",
    "inbox_retry",
    "job_start",
    "movement_check",
    "on_hand_adjust",
    "on_hand_adjust_by_code",
    "on_hand_lock_for_count",
    "on_hand_transfer",
    "orders_at_risk_check",
    "outbox_prune",
    "outbox_record",
    "ownership_change",
    "ownership_validate",
    "push_schedule",
    "shelf_evidence_record",
    "sku_check_receive",
    "storefront_go_live",
    "storefront_mode_set",
    "storefront_push",
    "storefront_reconcile",
    "units_check",
    "user_preference_set",
    "warehouse_owner_set",
    "warehouse_owner_validate",
    "webhook_verify",
]
