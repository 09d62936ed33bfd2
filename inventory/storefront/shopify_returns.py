"""Shopify returns: reading a return's lines, and reporting what became of returned units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inventory.storefront.base import (
    Disposition,
    EventLine,
    MappingError,
    ReturnDisposition,
    StorefrontUnavailable,
    StorefrontValidationError,
)
from inventory.storefront.http import next_cursor, require
from inventory.storefront.shopify_documents import (
    DISPOSE_MUTATION,
    RETURN_LINE_ITEMS_PAGE_SIZE,
    RETURN_LINE_ITEMS_QUERY,
    RETURN_LINES_PAGE_SIZE,
    RETURN_LINES_QUERY,
    RETURN_ORDERS_PAGE_SIZE,
    REVERSE_FULFILLMENT_ORDER_LINES_QUERY,
    REVERSE_LINES_PAGE_SIZE,
)
from inventory.storefront.shopify_graphql import gid, legacy_id
from inventory.storefront.shopify_webhooks import ref

# Our dispositions → ReverseFulfillmentOrderDispositionType.
DISPOSITION_TYPES = {
    Disposition.RESTOCKED: "RESTOCKED",
    Disposition.PROCESSING_REQUIRED: "PROCESSING_REQUIRED",
    Disposition.NOT_RESTOCKED: "NOT_RESTOCKED",
    Disposition.MISSING: "MISSING",
}


@dataclass
class _ReverseLine:
    """One reverse fulfillment order line item: which order line it returns and what is left."""

    id: str
    line_item_id: str  # gid://shopify/LineItem/…
    disposed: dict[str, int]  # disposition type → units already disposed
    free: int  # units not disposed yet


def _reverse_line(node: Mapping[str, Any]) -> _ReverseLine:
    line_item = (node.get("fulfillmentLineItem") or {}).get("lineItem") or {}
    disposed: dict[str, int] = {}
    for disposition in node.get("dispositions") or []:
        kind = str(disposition.get("type"))
        disposed[kind] = disposed.get(kind, 0) + int(disposition.get("quantity") or 0)
    total = int(node.get("totalQuantity") or 0)
    return _ReverseLine(
        id=str(node["id"]),
        line_item_id=gid("LineItem", line_item.get("id") or ""),
        disposed=disposed,
        free=max(0, total - sum(disposed.values())),
    )


def _return_line(node: Mapping[str, Any]) -> EventLine:
    line_item = (node.get("fulfillmentLineItem") or {}).get("lineItem") or {}
    reason = node.get("returnReasonDefinition") or {}
    return EventLine(
        sku=line_item.get("sku") or "",
        quantity=int(node.get("quantity") or 0),
        line_ref=legacy_id(line_item["id"]) if line_item.get("id") else ref(node.get("id")),
        reason=reason.get("handle") or "",
    )


class ShopifyReturns:
    """Return lines and outcomes, through the adapter's GraphQL client."""

    # -- returns ---------------------------------------------------------------------------

    def read_return_lines(self, return_ref: str) -> list[EventLine]:
        """The return's line items through ``return(id:)`` → ``returnLineItems``, page by page.

        Each line names its order line as the webhooks do (``line_ref``: the line item's id) with
        its SKU, quantity and reason handle; a line with no order line behind it (an
        ``UnverifiedReturnLineItem``) keeps its own id and no SKU. A return Shopify does not know
        raises ``MappingError``.
        """
        return_id = gid("Return", return_ref)
        lines: list[EventLine] = []
        after: str | None = None
        while True:
            variables = {
                "id": return_id,
                "first": min(self._page_size, RETURN_LINE_ITEMS_PAGE_SIZE),
                "after": after,
            }
            data = self._graphql("OneFactReturnLineItems", RETURN_LINE_ITEMS_QUERY, variables)
            found = data.get("return")
            if not isinstance(found, dict):
                raise MappingError(f"Shopify knows no return {return_id}")
            connection = require(found, "returnLineItems", vendor="Shopify")
            lines += [_return_line(node) for node in connection.get("nodes") or []]
            after = next_cursor(connection)
            if after is None:
                return lines

    # -- return outcomes -------------------------------------------------------------------

    def report_return_dispositions(
        self, *, return_ref: str, order_ref: str, dispositions: list[ReturnDisposition]
    ) -> None:
        """Dispose the return's reverse fulfillment order line items up to our totals.

        Reads the return, works out per order line and disposition type what Shopify does not
        hold yet, checks that it fits, then sends one ``reverseFulfillmentOrderDispose``.
        """
        wanted: dict[tuple[str, str], int] = {}
        for item in dispositions:
            if item.quantity > 0:
                key = (gid("LineItem", item.line_ref), DISPOSITION_TYPES[item.disposition])
                wanted[key] = item.quantity
        if not wanted:
            return
        lines = self._return_lines(return_ref)
        inputs: list[dict[str, Any]] = []
        for (line_item_id, kind), total in sorted(wanted.items()):
            candidates = [line for line in lines if line.line_item_id == line_item_id]
            if not candidates:
                raise MappingError(
                    f"Shopify return {return_ref} has no line for order line {line_item_id}"
                )
            missing = total - sum(line.disposed.get(kind, 0) for line in candidates)
            for line in candidates:
                take = min(missing, line.free)
                if take <= 0:
                    continue
                entry: dict[str, Any] = {
                    "reverseFulfillmentOrderLineItemId": line.id,
                    "quantity": take,
                    "dispositionType": kind,
                }
                if kind == "RESTOCKED":
                    entry["locationId"] = self.location_id
                inputs.append(entry)
                line.free -= take
                missing -= take
            if missing > 0:
                raise StorefrontValidationError(
                    f"Shopify return {return_ref}, order line {line_item_id}: {missing} more "
                    f"{kind} unit(s) than the line has left to dispose"
                )
        if not inputs:
            return  # Shopify holds every total already: a repeated report
        variables = {"dispositionInputs": inputs}
        data = self._graphql("OneFactDisposeReturn", DISPOSE_MUTATION, variables)
        payload = data.get("reverseFulfillmentOrderDispose")
        if not isinstance(payload, dict):
            raise StorefrontValidationError("reverseFulfillmentOrderDispose returned no payload")
        errors = payload.get("userErrors") or []
        if errors:
            message = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
            raise StorefrontValidationError(f"Shopify refused the dispositions: {message}")

    def _return_lines(self, return_ref: str) -> list[_ReverseLine]:
        """Every reverse fulfillment order line item of the return, following both pages.

        Each request stays under Shopify's cost limit: reverse fulfillment orders come
        ``RETURN_ORDERS_PAGE_SIZE`` at a time with their first lines, and an order with more lines
        continues on its own (``REVERSE_LINES_PAGE_SIZE`` a page).
        """
        return_id = gid("Return", return_ref)
        lines: list[_ReverseLine] = []
        orders_seen = 0
        after: str | None = None
        while True:
            variables = {
                "id": return_id,
                "first": RETURN_ORDERS_PAGE_SIZE,
                "after": after,
                "lines": min(self._page_size, RETURN_LINES_PAGE_SIZE),
            }
            data = self._graphql("OneFactReturnLines", RETURN_LINES_QUERY, variables)
            found = data.get("return")
            if not isinstance(found, dict):
                raise MappingError(f"Shopify knows no return {return_id}")
            orders = require(found, "reverseFulfillmentOrders", vendor="Shopify")
            for order in orders.get("nodes") or []:
                orders_seen += 1
                lines += self._reverse_order_lines(
                    order["id"], require(order, "lineItems", vendor="Shopify")
                )
            after = next_cursor(orders)
            if after is None:
                break
        if not orders_seen:
            # A requested return gets its reverse fulfillment order when it is approved.
            raise StorefrontUnavailable(
                f"Shopify return {return_id} has no reverse fulfillment order yet (not approved); "
                "try again later"
            )
        return lines

    def _reverse_order_lines(self, order_id: str, connection: dict[str, Any]) -> list[_ReverseLine]:
        """The lines of one reverse fulfillment order: ``connection`` and the pages after it."""
        lines: list[_ReverseLine] = []
        while True:
            lines += [_reverse_line(node) for node in connection.get("nodes") or []]
            after = next_cursor(connection)
            if after is None:
                return lines
            page = self._graphql(
                "OneFactReverseFulfillmentOrderLines",
                REVERSE_FULFILLMENT_ORDER_LINES_QUERY,
                {"id": order_id, "first": min(self._page_size, REVERSE_LINES_PAGE_SIZE),
                 "after": after},
            )  # fmt: skip
            node = page.get("reverseFulfillmentOrder")
            if not isinstance(node, dict):
                raise MappingError(f"Shopify lost reverse fulfillment order {order_id}")
            connection = require(node, "lineItems", vendor="Shopify")
