"""Reading a large Shopify location's levels with one bulk operation.

Why: a page of 250 levels (``LOCATION_LEVELS_QUERY``) costs 753 points by Shopify's documented
rules, so on the Standard plan (a bucket refilled at 100 points a second) reading 100,000 SKUs
page by page takes about 50 minutes. A bulk operation costs the ``bulkOperationRunQuery``
mutation (10 points) and its polls (1 point each); Shopify runs the query in the background and
serves the result as one JSONL file (https://shopify.dev/docs/api/usage/bulk-operations/queries).

When: a read of the whole location (no SKU list) once ``productVariantsCount`` says the catalog
holds more than ``ONEFACT_SHOPIFY_BULK_ABOVE`` variants (each variant has one inventory item, so
at most that many levels), or a read of more SKUs than that (a reconciliation range): then the
location's file is read and only the wanted SKUs kept.

How: the bulk query may take no variables, select one top-level field (not ``node``/``nodes``),
at most five connections nested at most two deep, with no ``first``/``last``: so the location is
found by ``locations(query: "id:…")`` and its ``inventoryLevels`` are nested under it. In the
file every object of a connection is one line; a nested one carries ``__parentId``, the id of
the object it belongs to (so the location selects ``id``). A level line counts only when its
parent is our location. The operation is polled with ``bulkOperation(id:)`` (waits of 1, 2, 4, …
up to ``POLL_MAX`` seconds, on the adapter's ``sleep`` and ``clock``) until COMPLETED; FAILED,
CANCELED and EXPIRED are errors the reconciliation reports. The file is copied to a temporary
file on disk and handed out ``PAGE_LEVELS`` levels at a time: the cursor names the operation and
the byte offset, so memory stays one page whatever the catalog's size, and a cursor given to
another adapter downloads the file again and seeks to it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings

from inventory.storefront.base import (
    Level,
    MappingError,
    Page,
    StorefrontUnavailable,
    StorefrontValidationError,
)

if TYPE_CHECKING:
    from inventory.storefront.shopify import ShopifyAdapter

PAGE_LEVELS = 10_000  # levels per page handed to the reconciliation's loader
POLL_FIRST, POLL_MAX = 1.0, 10.0  # seconds between polls: doubling from the first to the max
MAX_WAIT = 3 * 3600.0  # give up (retry later) when the operation runs longer than this
CURSOR_PREFIX = "bulk:"
DOWNLOAD_CHUNK = 1 << 16

VARIANTS_COUNT_QUERY = """
query OneFactVariantsCount($limit: Int) {
  productVariantsCount(limit: $limit) { count precision }
}
"""

BULK_RUN_MUTATION = """
mutation OneFactBulkLevelsRun($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: false) {
    bulkOperation { id status }
    userErrors { code field message }
  }
}
"""

BULK_OPERATION_QUERY = """
query OneFactBulkOperation($id: ID!) {
  bulkOperation(id: $id) {
    id status errorCode objectCount rootObjectCount fileSize url
  }
}
"""

# The query Shopify runs in bulk: not a request of its own but a string in the mutation's
# variables, with no variables of its own (the location's number is written into it).
BULK_LEVELS_DOCUMENT = """
{
  locations(query: %s) {
    edges {
      node {
        id
        inventoryLevels {
          edges {
            node {
              id
              item { id sku }
              quantities(names: ["on_hand"]) { name quantity }
            }
          }
        }
      }
    }
  }
}
"""

# BulkOperationStatus values that end an operation without a file.
FAILED_STATUSES = frozenset({"FAILED", "CANCELED", "CANCELING", "EXPIRED"})
# BulkOperationUserErrorCode values meaning "too many operations running now": retried later.
BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


class BulkLevels:
    """One adapter's bulk reads: decides when to read in bulk, runs, polls, pages the file."""

    def __init__(self, adapter: ShopifyAdapter, *, above: int | None = None) -> None:
        self.adapter = adapter
        self.above = settings.ONEFACT_SHOPIFY_BULK_ABOVE if above is None else above
        self._file: IO[bytes] | None = None
        self._file_operation: str | None = None

    def read(self, skus: Sequence[str] | None, cursor: str | None) -> Page[Level] | None:
        """One page of a bulk read, or None when this read goes page by page instead."""
        if cursor is not None:
            if not cursor.startswith(CURSOR_PREFIX):
                return None  # a cursor of the paged read
            operation, offset = decode_cursor(cursor)
            return self._page(operation, offset, skus)
        if not self.wanted(skus):
            return None
        operation, url = self.run()
        return self._page(operation, 0, skus, url=url)

    def wanted(self, skus: Sequence[str] | None) -> bool:
        """Above the size: more SKUs asked for, or a catalog of more variants, than ``above``."""
        if skus is not None:
            return len(set(skus)) > self.above
        data = self.adapter._graphql(
            "OneFactVariantsCount", VARIANTS_COUNT_QUERY, {"limit": self.above + 1}
        )
        found = data.get("productVariantsCount")
        if not isinstance(found, dict):
            raise StorefrontValidationError("Shopify answered without productVariantsCount")
        return int(found.get("count") or 0) > self.above

    def run(self) -> tuple[str, str | None]:
        """Start the bulk read of our location and wait until it completes: its id and the
        file's URL (None: nothing found)."""
        number = self.adapter.location_id.rsplit("/", 1)[-1]
        query = BULK_LEVELS_DOCUMENT % json.dumps(f"id:{number}")
        data = self.adapter._graphql("OneFactBulkLevelsRun", BULK_RUN_MUTATION, {"query": query})
        payload = data.get("bulkOperationRunQuery")
        if not isinstance(payload, dict):
            raise StorefrontValidationError("bulkOperationRunQuery returned no payload")
        errors = payload.get("userErrors") or []
        if errors:
            message = "; ".join(str(error.get("message") or error.get("code")) for error in errors)
            if {error.get("code") for error in errors} & BUSY_CODES:
                raise StorefrontUnavailable(f"Shopify runs other bulk operations now: {message}")
            raise StorefrontValidationError(f"Shopify refused the bulk read: {message}")
        operation = (payload.get("bulkOperation") or {}).get("id")
        if not operation:
            raise StorefrontValidationError("bulkOperationRunQuery returned no operation")
        return str(operation), self._wait(str(operation)).get("url")

    def _wait(self, operation: str) -> dict[str, Any]:
        clock, sleep = self.adapter._clock, self.adapter._sleep
        started, pause = clock(), POLL_FIRST
        while True:
            found = self._status(operation)
            status = found.get("status")
            if status == "COMPLETED":
                return found
            if status in FAILED_STATUSES:
                raise _ended(operation, found)
            if clock() - started > MAX_WAIT:
                raise StorefrontUnavailable(
                    f"Shopify's bulk read {operation} is still {status} after "
                    f"{MAX_WAIT / 3600:g} hours"
                )
            sleep(pause)
            pause = min(POLL_MAX, pause * 2)

    def _status(self, operation: str) -> dict[str, Any]:
        data = self.adapter._graphql(
            "OneFactBulkOperation", BULK_OPERATION_QUERY, {"id": operation}
        )
        found = data.get("bulkOperation")
        if not isinstance(found, dict):
            raise MappingError(f"Shopify knows no bulk operation {operation}")
        return found

    def _page(
        self, operation: str, offset: int, skus: Sequence[str] | None, *, url: str | None = ""
    ) -> Page[Level]:
        handle = self._open(operation, url)
        if handle is None:
            return Page(items=[])  # Shopify gives no file when the query found nothing
        handle.seek(offset)
        wanted = set(skus) if skus is not None else None
        levels: list[Level] = []
        location = self.adapter.location_id
        while len(levels) < PAGE_LEVELS:
            line = handle.readline()
            if not line:
                self._close()
                return Page(items=levels)
            level = parse_level(line, location)
            if level is None or (wanted is not None and level[0].sku not in wanted):
                continue
            self.adapter._remember(level[0].sku, level[1])
            levels.append(level[0])
        return Page(items=levels, next_cursor=encode_cursor(operation, handle.tell()))

    def _open(self, operation: str, url: str | None) -> IO[bytes] | None:
        """The operation's file, downloaded once to a temporary file (None: no file). An empty
        ``url`` asks Shopify for it again (a cursor from another reader)."""
        if self._file_operation == operation and self._file is not None:
            return self._file
        self._close()
        if url == "":
            found = self._status(operation)
            if found.get("status") != "COMPLETED":
                raise _ended(operation, found)
            url = found.get("url")
        if not url:
            return None
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - kept open across pages, closed by _close
        try:
            with self.adapter._client.stream("GET", url, timeout=self.adapter._timeout) as reply:
                if reply.status_code != 200:
                    raise StorefrontUnavailable(
                        f"Shopify's bulk file of {operation} answered {reply.status_code}"
                    )
                for chunk in reply.iter_bytes(DOWNLOAD_CHUNK):
                    handle.write(chunk)
        except Exception:
            handle.close()
            raise
        self._file, self._file_operation = handle, operation
        return handle

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._file_operation = None, None


def _ended(operation: str, found: dict[str, Any]) -> StorefrontUnavailable:
    """The error of an operation that ended (or expired) without a file to read."""
    code = found.get("errorCode")
    detail = f" ({code})" if code else ""
    return StorefrontUnavailable(
        f"Shopify's bulk read of the levels {operation} is {found.get('status')}{detail} after "
        f"{found.get('objectCount') or 0} objects; the next reconciliation starts another"
    )


def parse_level(line: bytes | str, location_id: str) -> tuple[Level, str] | None:
    """A level and its inventory item's id from one line of the file, or None for any other line
    (the location itself, another location's level, an item without SKU or on-hand)."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise StorefrontValidationError(f"Shopify's bulk file holds a broken line: {exc}") from exc
    if not isinstance(row, dict) or row.get("__parentId") != location_id:
        return None
    item = row.get("item") or {}
    quantity = next(
        (
            entry.get("quantity")
            for entry in row.get("quantities") or []
            if entry.get("name") == "on_hand"
        ),
        None,
    )
    if not item.get("sku") or quantity is None:
        return None
    return Level(sku=item["sku"], quantity=int(quantity)), str(item.get("id"))


def encode_cursor(operation: str, offset: int) -> str:
    return f"{CURSOR_PREFIX}{offset}:{operation}"


def decode_cursor(cursor: str) -> tuple[str, int]:
    offset, _, operation = cursor.removeprefix(CURSOR_PREFIX).partition(":")
    if not operation or not offset.isdigit():
        raise ValueError(f"not a bulk cursor of this adapter: {cursor!r}")
    return operation, int(offset)
