"""Reads of replenishment: coverage from the shelf's truth, purchase orders, transfers,
what is in transit, ghost rows."""

from replenishment.selectors.coverage import (
    SORTS,
    Coverage,
    CoveragePage,
    CoverageWindow,
    coverage_for_sku,
    coverage_iter,
    coverage_page,
    coverage_rows,
    coverage_window,
    window_figures,
)
from replenishment.selectors.history import HistoryDrift, kept_window, sales_history_drift
from replenishment.selectors.orders import (
    GhostRow,
    ghost_rows,
    purchase_order_with_lines,
    purchase_orders_for_list,
    purchase_orders_to_receive,
    receipts_for_po,
)
from replenishment.selectors.transfers import (
    in_transit_by_sku,
    transfer_receipts,
    transfer_with_lines,
    transfers_for_list,
    transfers_to_receive,
)

__all__ = [
    "SORTS",
    "Coverage",
    "CoveragePage",
    "CoverageWindow",
    "GhostRow",
    "HistoryDrift",
    "coverage_for_sku",
    "coverage_iter",
    "coverage_page",
    "coverage_rows",
    "coverage_window",
    "ghost_rows",
    "in_transit_by_sku",
    "kept_window",
    "purchase_order_with_lines",
    "purchase_orders_for_list",
    "purchase_orders_to_receive",
    "receipts_for_po",
    "sales_history_drift",
    "transfer_receipts",
    "transfer_with_lines",
    "transfers_for_list",
    "transfers_to_receive",
    "window_figures",
]
