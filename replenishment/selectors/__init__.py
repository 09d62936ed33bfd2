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
)
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
    "coverage_for_sku",
    "coverage_iter",
    "coverage_page",
    "coverage_rows",
    "coverage_window",
    "ghost_rows",
    "purchase_order_with_lines",
    "purchase_orders_for_list",
    "purchase_orders_to_receive",
    "receipts_for_po",
]
