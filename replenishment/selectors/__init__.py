"""Reads of replenishment: coverage from the shelf's truth, purchase orders, ghost rows."""

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
    "kept_window",
    "purchase_order_with_lines",
    "purchase_orders_for_list",
    "purchase_orders_to_receive",
    "receipts_for_po",
    "sales_history_drift",
    "window_figures",
]
