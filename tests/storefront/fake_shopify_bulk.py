"""Shopify's bulk query operations, for :class:`tests.storefront.fakes.FakeShopify`.

``FakeShopify`` holds one :class:`FakeBulkOperations` as ``shop.bulk``; its GraphQL dispatch
takes the operations of :meth:`FakeBulkOperations.handlers` and its HTTP server serves the files
through :meth:`FakeBulkOperations.file_reply`.

What Shopify refuses, the fake refuses (https://shopify.dev/docs/api/usage/bulk-operations/queries
and ``bulkOperationRunQuery``'s description in the Admin API schema): a query that does not parse,
a mutation, more than one top-level field, the top-level ``node``/``nodes``, no connection, more
than five connections, connections nested more than two deep, ``first``/``last`` on a connection
(a bulk query reads every node), and a node holding a nested connection without ``id`` (the
nested lines' ``__parentId``). Refusals are ``userErrors`` with code ``INVALID``; more running
operations than the API version allows (five from 2026-01, one before) answer ``LIMIT_REACHED``.

The operation runs on the shop's clock (``FakeShopify.now``: a :class:`SimulatedClock` shared with
the adapter, or the real time): CREATED, then RUNNING after ``start_delay`` seconds, COMPLETED once
``objects_per_second`` has gone through every object (Shopify publishes no rate: the default,
1,000 objects a second, is an assumption). ``bulkOperation(id:)`` reports status, counts and, once
completed, a ``url`` on the fake's own server whose GET answers the JSONL file: one line per
object of a connection, a nested one with ``__parentId``. ``fail_next(error_code)`` makes the next
operation end FAILED; ``expire(id)`` makes a completed one EXPIRED (its file gone).

The fake runs the one shape OneFact sends: ``locations(query: "id:<n>")`` with its nested
``inventoryLevels`` (a level's ``id``, ``item { id sku }`` and ``quantities``); any other valid
query is answered with a GraphQL error saying so.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse

if TYPE_CHECKING:
    from tests.storefront.fakes import FakeShopify

JsonDict = dict[str, Any]
Reply = tuple[int, dict[str, str], bytes]

MAX_CONNECTIONS = 5
MAX_DEPTH = 2
PAGINATION_ARGUMENTS = frozenset({"first", "last"})
FILE_PATH = re.compile(r"^/bulk-results/(\d+)\.jsonl(?:\?.*)?$")


class SimulatedClock:
    """Seconds that pass only when someone sleeps: waits are counted, not slept."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


@dataclass
class BulkOperation:
    number: int
    query: str
    lines: list[str]  # the JSONL file, one object a line
    roots: int  # objects of the top-level connection
    created: float
    failure: str | None = None  # BulkOperationErrorCode it ends with
    expired: bool = False

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.number}"


class FakeBulkOperations:
    """The bulk operations of one fake shop."""

    def __init__(
        self,
        shop: FakeShopify,
        *,
        start_delay: float = 1.0,
        objects_per_second: float = 1000.0,
    ) -> None:
        self.shop = shop
        self.start_delay = start_delay
        self.objects_per_second = objects_per_second
        self.operations: dict[str, BulkOperation] = {}
        self.downloads = 0
        self._numbers = itertools.count(1)
        self._failures: list[str] = []

    # scripting

    def fail_next(self, error_code: str = "INTERNAL_SERVER_ERROR") -> None:
        """The next operation ends FAILED with this ``BulkOperationErrorCode``."""
        with self.shop.lock:
            self._failures.append(error_code)

    def expire(self, gid: str) -> None:
        with self.shop.lock:
            self.operations[gid].expired = True

    # GraphQL

    def handlers(self) -> dict[str, Any]:
        return {
            "OneFactBulkLevelsRun": self._run,
            "OneFactBulkOperation": self._operation,
            "OneFactVariantsCount": self._variants_count,
        }

    def _variants_count(self, variables: JsonDict, query: str) -> JsonDict:
        total = len(self.shop._variants())
        limit = variables.get("limit")
        if limit is None or total <= int(limit):
            return {"productVariantsCount": {"count": total, "precision": "EXACT"}}
        return {"productVariantsCount": {"count": int(limit), "precision": "AT_LEAST"}}

    def _run(self, variables: JsonDict, query: str) -> JsonDict:
        text = str(variables.get("query") or "")
        problem = bulk_query_problem(text)
        if problem is not None:
            return _run_payload(None, [{"code": "INVALID", "field": ["query"], "message": problem}])
        running = [op for op in self.operations.values() if self._status(op) in _ACTIVE]
        if len(running) >= self._concurrency():
            message = (
                f"A bulk query operation for this app and shop is already in progress: "
                f"{running[0].gid}."
            )
            return _run_payload(
                None, [{"code": "LIMIT_REACHED", "field": None, "message": message}]
            )
        lines, roots = self._levels_file(text)
        if lines is None:
            return {"errors": [{"message": "the fake runs bulk reads of location levels only"}]}
        operation = BulkOperation(
            number=next(self._numbers),
            query=text,
            lines=lines,
            roots=roots,
            created=self.shop.now(),
            failure=self._failures.pop(0) if self._failures else None,
        )
        self.operations[operation.gid] = operation
        return _run_payload({"id": operation.gid, "status": "CREATED"}, [])

    def _operation(self, variables: JsonDict, query: str) -> JsonDict:
        operation = self.operations.get(str(variables.get("id")))
        if operation is None:
            return {"bulkOperation": None}
        status = self._status(operation)
        done = self._objects_done(operation)
        node = {
            "id": operation.gid,
            "status": status,
            "errorCode": operation.failure if status == "FAILED" else None,
            "objectCount": str(done),  # UnsignedInt64 is a string in JSON
            "rootObjectCount": str(min(operation.roots, done)),
            "fileSize": None,
            "url": None,
        }
        if status == "COMPLETED" and operation.lines:
            node["fileSize"] = str(sum(len(line) + 1 for line in operation.lines))
            node["url"] = f"{self.shop.base_url}/bulk-results/{operation.number}.jsonl?sig=fake"
        return {"bulkOperation": node}

    # the file

    def file_reply(self, path: str) -> Reply | None:
        """The JSONL file of a completed operation, or None when ``path`` is no bulk file."""
        match = FILE_PATH.match(path)
        if match is None:
            return None
        with self.shop.lock:
            operation = self.operations.get(f"gid://shopify/BulkOperation/{match.group(1)}")
            if operation is None or self._status(operation) != "COMPLETED":
                return 403, {"Content-Type": "application/xml"}, b"<Error>AccessDenied</Error>"
            self.downloads += 1
            body = "".join(line + "\n" for line in operation.lines).encode()
        return 200, {"Content-Type": "application/jsonl"}, body

    # state

    def _concurrency(self) -> int:
        version = self.shop.api_version
        return 5 if version == "unstable" or version >= "2026-01" else 1

    def _objects_done(self, operation: BulkOperation) -> int:
        elapsed = self.shop.now() - operation.created - self.start_delay
        return max(0, min(len(operation.lines), int(elapsed * self.objects_per_second)))

    def _status(self, operation: BulkOperation) -> str:
        if operation.expired:
            return "EXPIRED"
        elapsed = self.shop.now() - operation.created
        if elapsed < self.start_delay:
            return "CREATED"
        if self._objects_done(operation) < len(operation.lines):
            return "RUNNING"
        return "FAILED" if operation.failure else "COMPLETED"

    def _levels_file(self, text: str) -> tuple[list[str] | None, int]:
        """The JSONL lines of ``locations(query: "id:<n>") { … inventoryLevels … }``."""
        root = _root_field(parse(text))
        if root.name.value != "locations":
            return None, 0
        search = next((a for a in root.arguments or () if a.name.value == "query"), None)
        wanted = getattr(search.value, "value", "") if search is not None else ""
        number = wanted.removeprefix("id:") if wanted.startswith("id:") else None
        location = self.shop.location_id
        locations = [location] if number in (None, location.rsplit("/", 1)[-1]) else []
        lines: list[str] = []
        for gid in locations:
            lines.append(json.dumps({"id": gid}))
            for variant in self.shop._variants():
                on_hand = self.shop.levels[variant.inventory_item_gid].get(gid)
                if on_hand is None:
                    continue
                row = {
                    "id": f"gid://shopify/InventoryLevel/{variant.inventory_item_id}"
                    f"?inventory_item_id={variant.inventory_item_id}",
                    "item": {"id": variant.inventory_item_gid, "sku": variant.sku},
                    "quantities": [{"name": "on_hand", "quantity": on_hand}],
                    "__parentId": gid,
                }
                lines.append(json.dumps(row))
        return lines, len(locations)


_ACTIVE = frozenset({"CREATED", "RUNNING"})


def bulk_query_problem(text: str) -> str | None:
    """Why Shopify would refuse ``text`` as a bulk query, or None when it takes it."""
    try:
        document = parse(text)
    except GraphQLError as error:
        return f"Invalid bulk query: {error.message}"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation.value != "query":
        return "Bulk queries must hold exactly one query operation."
    if operations[0].variable_definitions:
        return "Bulk queries take no variables."
    fields = [s for s in operations[0].selection_set.selections if isinstance(s, FieldNode)]
    if len(fields) != 1:
        return "Bulk queries must select exactly one top-level field."
    if fields[0].name.value in ("node", "nodes"):
        return "Bulk queries cannot use the top-level node or nodes field."
    connections: list[int] = []
    problem = _walk(fields[0], 0, connections)
    if problem is not None:
        return problem
    if not connections:
        return "Bulk queries must contain at least one connection."
    if len(connections) > MAX_CONNECTIONS:
        return f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
    if max(connections) > MAX_DEPTH:
        return f"Bulk queries cannot nest connections more than {MAX_DEPTH} levels deep."
    return None


def _walk(field: FieldNode, depth: int, connections: list[int]) -> str | None:
    """Record each connection's nesting depth; the first rule a field breaks, if any."""
    children = _children(field)
    if "edges" in children or "nodes" in children:
        depth += 1
        connections.append(depth)
        used = {argument.name.value for argument in field.arguments or ()} & PAGINATION_ARGUMENTS
        if used:
            return (
                f"Bulk queries read every node: remove {', '.join(sorted(used))} from "
                f"'{field.name.value}'."
            )
        for node in (children.get("nodes"), _children(children.get("edges")).get("node")):
            if node is None:
                continue
            inner = _children(node)
            if _has_connection(node) and "id" not in inner:
                return (
                    f"The nodes of '{field.name.value}' hold a nested connection, so they must "
                    "select 'id'."
                )
            for child in inner.values():
                if (problem := _walk(child, depth, connections)) is not None:
                    return problem
        return None
    for child in children.values():
        if (problem := _walk(child, depth, connections)) is not None:
            return problem
    return None


def _children(field: FieldNode | None) -> dict[str, FieldNode]:
    if field is None or field.selection_set is None:
        return {}
    return {  # by response key: aliases of one field are several fields
        (s.alias or s.name).value: s
        for s in field.selection_set.selections
        if isinstance(s, FieldNode)
    }


def _has_connection(field: FieldNode) -> bool:
    for child in _children(field).values():
        grand = _children(child)
        if "edges" in grand or "nodes" in grand or _has_connection(child):
            return True
    return False


def _root_field(document: Any) -> FieldNode:
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return next(s for s in operation.selection_set.selections if isinstance(s, FieldNode))


def _run_payload(operation: JsonDict | None, errors: list[JsonDict]) -> JsonDict:
    return {"bulkOperationRunQuery": {"bulkOperation": operation, "userErrors": errors}}
