"""Local HTTP fakes of Shopify's Admin GraphQL API and Saleor's GraphQL API.

Each fake is a real HTTP server on 127.0.0.1 (port 0, so any free port) answering the operations the
OneFact adapters send, from in-memory state, in the response shapes Shopify and Saleor document:
``data`` / ``errors`` / ``extensions.cost`` for Shopify, ``results[].errors`` /
``results[].stock`` for Saleor's ``stockBulkUpdate``. They are not GraphQL engines: an operation is
recognised by its ``operationName`` (the adapters' ``OneFact…`` names) and answered from its
variables, with every field the adapters select.

Shopify's rate limit is charged as Shopify charges it: each query's requested cost is computed from
its document and variables against the vendored Admin API schema (``schemas/``), a query over
1,000 points is refused with ``MAX_COST_EXCEEDED`` before it runs, and a leaky bucket per shop
(``maximum_available``, ``restore_rate``: the Standard plan's 2,000 and 100/s by default; ``now``:
the clock it refills by) answers ``THROTTLED`` when it holds less than the request asks, and
refunds what a short page did not return. Every answer carries ``extensions.cost``;
``points_charged``, ``requested_costs`` and ``throttled`` say what was spent and refused.

Usage::

    with FakeShopify() as shop:
        shop.add_product("Mug", [("MUG-1", 5)])
        adapter = ShopifyAdapter(shop_url=shop.shop_url, access_token=shop.access_token,
                                 location_id=shop.location_id, webhook_secret=shop.webhook_secret)
        ...

    with FakeSaleor() as saleor:
        saleor.add_product("Mug", [("MUG-1", 5)])
        adapter = SaleorAdapter(api_url=saleor.api_url, token=saleor.token,
                                warehouse_id=saleor.warehouse_id)
        body, headers = saleor.webhook("ORDER_CREATED", saleor_order_payload(...))

Scriptable faults (both fakes; each applies to the next N GraphQL requests, or with
``operation="OneFact…"`` to the next N requests of that operation):
``fail_next(n, status=503)``, ``rate_limit_next(n, retry_after="2.0")`` (HTTP 429),
``delay_next(n, seconds)`` (the request is processed, the answer is held back: a client timeout
after the server applied a mutation), ``unauthorized_next(n)`` (HTTP 401),
``graphql_error_next(n, code=…)`` (HTTP 200 with a top-level GraphQL error); Shopify also
``throttle_next(n, …)`` (a ``THROTTLED`` error with its ``throttleStatus``) and
``previous_attempt_failed_next()``. State helpers: ``set_on_hand``/``set_quantity`` (someone else
changes a number), ``change_before_next_mutation`` (…right before our write lands), ``reject_sku``
(one row of a batch refused), ``unstock``. Shopify's ``inventorySetQuantities`` honours
``@idempotent``: the same key with the same variables answers the first result again without
applying twice (``applied_mutations`` counts real applies, ``replayed_mutations`` replays), and a
mutation with any ``userErrors`` applies nothing. Shopify returns: ``add_return`` creates a return
with its return line items (read by ``return(id:) { returnLineItems }``) and its reverse
fulfillment order(s) (``ReverseFulfillmentOrderLineItem`` per returned order line), read by
``return(id:)`` / ``reverseFulfillmentOrder(id:)`` and disposed by
``reverseFulfillmentOrderDispose`` (validated as a whole: any ``userErrors`` dispose nothing; a
RESTOCKED disposition adds the units to the item's on-hand at the location, as Shopify restocks);
``dispositions(return_id)`` reads what was disposed. Saleor serves its JWKS at
``/.well-known/jwks.json`` (``jwks_fetches`` counts fetches) and signs webhooks as Saleor does
(PyJWT, RS256, detached payload); ``rotate_signing_key()`` swaps the key. Every request is kept in
``requests`` (see ``operations(name)``).

Pytest: the ``fake_shopify`` and ``fake_saleor`` fixtures below yield started, empty fakes; use
them from another directory with ``pytest_plugins = ["tests.storefront.fakes"]`` in the root
conftest, or import the classes and use them as context managers.

Webhook builders: ``shopify_webhook(topic, payload, secret=…)`` (HMAC-signed body and headers) with
``shopify_*_payload`` helpers in the documented REST shapes, and ``FakeSaleor.webhook(event,
payload)`` with ``saleor_*_payload`` helpers shaped by the adapter's ``SUBSCRIPTION_QUERY``.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    build_client_schema,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    parse,
)

from tests.storefront.fake_shopify_bulk import FakeBulkOperations
from tests.storefront.saleor_graphql import (
    GRAPHQL_PAGINATION_LIMIT,
    GRAPHQL_QUERY_MAX_COMPLEXITY,
    PageLimitBreach,
    page_limit_breaches,
    query_cost,
    schema_errors,
)

JsonDict = dict[str, Any]
Reply = tuple[int, dict[str, str], bytes]


# -- the HTTP server shared by both fakes ----------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def operation(self) -> str | None:
        payload = self.json
        return payload.get("operationName") if isinstance(payload, dict) else None


@dataclass
class Fault:
    kind: str  # "status" | "rate_limit" | "delay" | "unauthorized" | "graphql_error" | "throttle"
    status: int = 503
    seconds: float = 0.0
    retry_after: str = "2.0"
    operation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 whose replies come from :meth:`handle`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # fault scripting (``operation``: only requests of that operationName consume the fault)

    def fail_next(self, count: int = 1, *, status: int = 503, operation: str | None = None) -> None:
        """The next ``count`` GraphQL requests answer ``status`` (e.g. 502, 503)."""
        self._add_faults(count, Fault("status", status=status, operation=operation))

    def rate_limit_next(
        self, count: int = 1, *, retry_after: str = "2.0", operation: str | None = None
    ) -> None:
        """The next ``count`` GraphQL requests answer HTTP 429 with ``Retry-After``."""
        self._add_faults(count, Fault("rate_limit", retry_after=retry_after, operation=operation))

    def delay_next(
        self, count: int = 1, *, seconds: float = 1.0, operation: str | None = None
    ) -> None:
        """Process the next ``count`` requests but hold each answer back ``seconds``."""
        self._add_faults(count, Fault("delay", seconds=seconds, operation=operation))

    def unauthorized_next(self, count: int = 1, *, operation: str | None = None) -> None:
        """The next ``count`` GraphQL requests answer HTTP 401."""
        self._add_faults(count, Fault("unauthorized", operation=operation))

    def graphql_error_next(
        self,
        count: int = 1,
        *,
        code: str,
        message: str = "fake error",
        operation: str | None = None,
    ) -> None:
        """The next ``count`` requests answer HTTP 200 with a top-level GraphQL error ``code``."""
        fault = Fault(
            "graphql_error", operation=operation, extra={"code": code, "message": message}
        )
        self._add_faults(count, fault)

    def _add_faults(self, count: int, fault: Fault) -> None:
        with self.lock:
            self._faults.extend([fault] * count)

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.operation is None or fault.operation == request.operation:
                    self._faults.remove(fault)
                    return fault
        return None

    def operations(self, name: str | None = None) -> list[RecordedRequest]:
        """Recorded GraphQL requests, optionally only those of one operation."""
        with self.lock:
            recorded = [r for r in self.requests if r.method == "POST"]
        return [r for r in recorded if name is None or r.operation == name]

    # request handling

    def serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        request = RecordedRequest(method, path, {k.lower(): v for k, v in headers.items()}, body)
        with self.lock:
            self.requests.append(request)
        return self.handle(request)

    def handle(self, request: RecordedRequest) -> Reply:
        """Each fake answers its API's requests; the base server knows none of them."""
        return _json_reply({"errors": [{"message": f"no route for {request.path}"}]}, status=404)

    def graphql_with_faults(
        self, request: RecordedRequest, answer: Callable[[RecordedRequest], Reply]
    ) -> Reply:
        """Apply the next scripted fault (if any) around ``answer``."""
        fault = self._take_fault(request)
        if fault is None:
            return answer(request)
        if fault.kind == "status":
            return _json_reply({"errors": f"fake outage ({fault.status})"}, status=fault.status)
        if fault.kind == "rate_limit":
            return _json_reply(
                {"errors": "Too Many Requests"},
                status=429,
                headers={"Retry-After": fault.retry_after},
            )
        if fault.kind == "unauthorized":
            return self.unauthorized_reply()
        if fault.kind == "delay":
            reply = answer(request)
            self._stopping.wait(fault.seconds)
            return reply
        return self.fault_reply(fault, request)

    def unauthorized_reply(self) -> Reply:
        return _json_reply({"errors": "Unauthorized"}, status=401)

    def fault_reply(self, fault: Fault, request: RecordedRequest) -> Reply:
        raise ValueError(f"unsupported fault {fault.kind}")


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = fake.serve(method, self.path, dict(self.headers), body)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. timed out)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _json_reply(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _page(items: Sequence[Any], first: int, after: str | None) -> tuple[list[Any], JsonDict]:
    """Relay-style page over a list; cursors are opaque base64 offsets."""
    start = _cursor_offset(after) + 1 if after else 0
    chunk = list(items[start : start + first])
    end = start + len(chunk) - 1
    page_info = {
        "hasNextPage": start + first < len(items),
        "endCursor": _cursor(end) if chunk else after,
    }
    return chunk, page_info


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _cursor_offset(cursor: str) -> int:
    return int(json.loads(base64.b64decode(cursor))["offset"])


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# -- Shopify ---------------------------------------------------------------------------------

# Shopify's calculated query cost (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits):
# charged from the document and its variables before the query runs, against the published schema.

SCHEMAS = Path(__file__).parent / "schemas"
SHOPIFY_SCHEMA_VERSIONS = ("2026-01", "2026-10")  # vendored in schemas/ (see its README)
SHOPIFY_MAX_QUERY_COST = 1000
SHOPIFY_MUTATION_COST = 10
# The Standard plan: 100 points a second, a bucket of 20 seconds' worth.
SHOPIFY_STANDARD_BUCKET = 2000.0
SHOPIFY_STANDARD_RESTORE_RATE = 100.0
SHOPIFY_RATE_LIMITS_DOC = "https://shopify.dev/api/usage/rate-limits"


class ShopifyQueryError(Exception):
    """A document Shopify would refuse before charging for it (unknown field, unsized list)."""


@functools.cache
def shopify_schema(version: str) -> GraphQLSchema:
    """The vendored Admin API schema of ``version``."""
    with gzip.open(SCHEMAS / f"shopify-admin_{version}.json.gz", "rt") as source:
        schema = build_client_schema(json.load(source)["data"])
    # Shopify deprecates some fields on an implementation but not on its interface, which
    # graphql-core's check of the schema itself refuses; the schema is Shopify's as published, so
    # that check is marked done (empty) and ``validate`` checks the documents only.
    schema._validation_errors = []
    return schema


def shopify_schema_version(api_version: str) -> str:
    """The newest vendored schema version not newer than ``api_version`` (else the oldest)."""
    older = [version for version in SHOPIFY_SCHEMA_VERSIONS if version <= api_version]
    return older[-1] if older else SHOPIFY_SCHEMA_VERSIONS[0]


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> DocumentNode:
    return parse(document)


def shopify_requested_cost(
    document: str,
    variables: JsonDict | None = None,
    *,
    version: str = SHOPIFY_SCHEMA_VERSIONS[-1],
    operation_name: str | None = None,
) -> int:
    """The requested cost of one operation by Shopify's documented rules.

    A scalar or enum costs 0, an object 1 (a list of objects too: one object), an interface or
    union the dearest of its possible selections; a connection costs 2 plus ``first`` (or
    ``last``) times one node (``nodes`` or ``edges { node }``; ``pageInfo`` and ``cursor`` are
    free), so nested connections multiply; each mutation field costs 10, whatever it selects.
    """
    return _operation_cost(document, variables, version, operation_name, _REQUESTED)


def shopify_actual_cost(
    document: str,
    variables: JsonDict | None,
    data: JsonDict,
    *,
    version: str = SHOPIFY_SCHEMA_VERSIONS[-1],
    operation_name: str | None = None,
) -> int:
    """The actual cost: the same rules, a connection counting the nodes it returned in ``data``
    (Shopify charges the requested cost up front and refunds the difference)."""
    return _operation_cost(document, variables, version, operation_name, data)


_REQUESTED: Any = object()  # "no answer yet": price the connections at first/last


def _operation_cost(
    document: str, variables: JsonDict | None, version: str, operation_name: str | None, data: Any
) -> int:
    schema = shopify_schema(version)
    try:
        tree = _parsed(document)
    except GraphQLError as exc:
        raise ShopifyQueryError(exc.message) from exc
    fragments = {
        node.name.value: node
        for node in tree.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    operation = get_operation_ast(tree, operation_name)
    if operation is None:
        raise ShopifyQueryError("No operation to run")
    cost = _ShopifyCost(schema, fragments, variables or {})
    if operation.operation is OperationType.MUTATION:
        fields = cost.fields(operation.selection_set)
        return SHOPIFY_MUTATION_COST * len([f for f in fields if not f.name.value.startswith("__")])
    return cost.selection(operation.selection_set, schema.query_type, data)


class _ShopifyCost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: JsonDict,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection(self, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> int:
        """Fields on ``parent`` itself add up; fragments on a narrower type count the dearest."""
        if selection_set is None:
            return 0
        own = 0
        narrower: dict[str, int] = {}
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                own += self.field(node, parent, data)
                continue
            if isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is None:
                    raise ShopifyQueryError(f"Fragment {node.name.value} was not defined")
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                assert isinstance(node, InlineFragmentNode)
                condition, inner = node.type_condition, node.selection_set
            target = parent if condition is None else self.schema.get_type(condition.name.value)
            if target is None:
                raise ShopifyQueryError(f"No such type {condition.name.value}")
            cost = self.selection(inner, target, data)
            if target is parent:
                own += cost
            else:
                narrower[target.name] = narrower.get(target.name, 0) + cost
        return own + max(narrower.values(), default=0)

    def fields(self, selection_set: SelectionSetNode) -> list[FieldNode]:
        """The fields of a selection, fragments spread."""
        found: list[FieldNode] = []
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                found.append(node)
            elif isinstance(node, FragmentSpreadNode):
                found += self.fields(self.fragments[node.name.value].selection_set)
            else:
                found += self.fields(node.selection_set)
        return found

    def field(self, node: FieldNode, parent: Any, data: Any) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:
            raise ShopifyQueryError(f"Field '{name}' doesn't exist on type '{parent.name}'")
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        value = _REQUESTED if data is _REQUESTED else _response_value(node, data)
        if _is_connection(named):
            size = self.size(node, parent)
            if value is _REQUESTED:
                return 2 + size * self.node_cost(node.selection_set, named, _REQUESTED)
            return 2 + sum(
                self.node_cost(node.selection_set, named, returned)
                for returned in _returned_nodes(node, value)
            )
        if isinstance(value, list):
            value = value[0] if value else None
        return 1 + self.selection(node.selection_set, named, value)

    def node_cost(self, selection_set: SelectionSetNode | None, connection: Any, data: Any) -> int:
        """One node of a connection, selected through ``nodes`` or ``edges { node }``."""
        cost = 0
        for node in self.fields(selection_set) if selection_set else []:
            name = node.name.value
            if name == "nodes" or name == "edges":
                item_type = get_named_type(connection.fields[name].type)
                inner = [node] if name == "nodes" else self.fields(node.selection_set)
                for item in inner:
                    if item.name.value in ("nodes", "node"):
                        node_type = item_type if name == "nodes" else _node_type(item_type)
                        cost += 1 + self.selection(item.selection_set, node_type, data)
            elif name not in ("pageInfo", "__typename"):
                cost += self.field(node, connection, data)
        return cost

    def size(self, node: FieldNode, parent: Any) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = argument.value
                if isinstance(value, VariableNode):
                    size = self.variables.get(value.name.value)
                elif isinstance(value, IntValueNode):
                    size = int(value.value)
                else:
                    size = None
                if size is not None:
                    if not 0 < int(size) <= 250:
                        raise ShopifyQueryError(
                            f"The {argument.name.value} argument must be between 1 and 250."
                        )
                    return int(size)
        raise ShopifyQueryError(
            f"you must provide one of first or last for {parent.name}.{node.name.value}"
        )


def _is_connection(named: Any) -> bool:
    fields = getattr(named, "fields", None)
    return named.name.endswith("Connection") and bool(fields) and "pageInfo" in fields


def _node_type(edge_type: Any) -> Any:
    return get_named_type(edge_type.fields["node"].type)


def _response_value(node: FieldNode, data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    return data.get(node.alias.value if node.alias else node.name.value)


def _returned_nodes(node: FieldNode, connection: Any) -> list[Any]:
    """The nodes a connection answered, however the query selected them."""
    if not isinstance(connection, dict):
        return []
    for selected in node.selection_set.selections if node.selection_set else []:
        if not isinstance(selected, FieldNode):
            continue
        key = selected.alias.value if selected.alias else selected.name.value
        if selected.name.value == "nodes":
            return list(connection.get(key) or [])
        if selected.name.value == "edges":
            return [edge.get("node") for edge in connection.get(key) or []]
    return []


SHOPIFY_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
_SKU_TERM = re.compile(r'sku:"((?:[^"\\]|\\.)*)"|sku:([^\s"]+)')


@dataclass
class ShopifyVariant:
    id: int
    sku: str
    title: str
    inventory_item_id: int
    product: ShopifyProduct

    @property
    def inventory_item_gid(self) -> str:
        return f"gid://shopify/InventoryItem/{self.inventory_item_id}"


@dataclass
class ShopifyProduct:
    id: int
    title: str
    status: str  # ACTIVE | ARCHIVED | DRAFT
    variants: list[ShopifyVariant] = field(default_factory=list)


@dataclass
class ShopifyReverseLine:
    """A ReverseFulfillmentOrderLineItem: the units of one order line to process."""

    id: int
    line_item_id: int
    sku: str
    total: int
    dispositions: list[JsonDict] = field(default_factory=list)  # {quantity, type, location}

    @property
    def gid(self) -> str:
        return f"gid://shopify/ReverseFulfillmentOrderLineItem/{self.id}"

    @property
    def disposed(self) -> int:
        return sum(d["quantity"] for d in self.dispositions)


@dataclass
class ShopifyReverseOrder:
    """A ReverseFulfillmentOrder of a return."""

    id: int
    lines: list[ShopifyReverseLine]

    @property
    def gid(self) -> str:
        return f"gid://shopify/ReverseFulfillmentOrder/{self.id}"


@dataclass
class ShopifyReturnLine:
    """A ReturnLineItem: the units of one order line the customer asked to return."""

    id: int
    line_item_id: int | None  # None: an UnverifiedReturnLineItem, no order line behind it
    sku: str
    quantity: int
    reason: str  # the handle of its ReturnReasonDefinition

    @property
    def gid(self) -> str:
        kind = "ReturnLineItem" if self.line_item_id is not None else "UnverifiedReturnLineItem"
        return f"gid://shopify/{kind}/{self.id}"


@dataclass
class ShopifyReturn:
    id: int
    order_id: int
    reverse_orders: list[ShopifyReverseOrder]
    lines: list[ShopifyReturnLine] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return f"gid://shopify/Return/{self.id}"


DISPOSITION_TYPES = frozenset({"RESTOCKED", "PROCESSING_REQUIRED", "NOT_RESTOCKED", "MISSING"})

# Access scopes. Every operation needs one (Shopify answers ACCESS_DENIED without it, naming the
# scope); a write scope implies its read scope. The fake grants them all unless told otherwise.
SHOPIFY_SCOPES = (
    "read_inventory", "write_inventory", "read_products", "read_orders", "read_returns",
    "write_returns",
)  # fmt: skip
SHOPIFY_OPERATION_SCOPES = {
    "OneFactInventoryItemsBySku": ("inventoryItems", "read_inventory"),
    "OneFactLocationLevels": ("location", "read_inventory"),
    "OneFactInventoryItem": ("inventoryItem", "read_inventory"),
    "OneFactSetOnHand": ("inventorySetQuantities", "write_inventory"),
    "OneFactCatalog": ("productVariants", "read_products"),
    "OneFactReturnLines": ("return", "read_returns"),
    "OneFactReverseFulfillmentOrderLines": ("reverseFulfillmentOrder", "read_returns"),
    "OneFactReturnLineItems": ("return", "read_returns"),
    "OneFactDisposeReturn": ("reverseFulfillmentOrderDispose", "write_returns"),
    "OneFactVariantsCount": ("productVariantsCount", "read_products"),
    "OneFactBulkLevelsRun": ("bulkOperationRunQuery", "read_inventory"),
}
# WebhookSubscriptionTopic values the fake knows (a part of Shopify's enum: those OneFact reads
# and a few others) and the scope each needs, as the enum's descriptions say.
SHOPIFY_WEBHOOK_TOPICS = {
    "ORDERS_CREATE": "read_orders",
    "ORDERS_CANCELLED": "read_orders",
    "ORDERS_FULFILLED": "read_orders",
    "ORDERS_UPDATED": "read_orders",
    "REFUNDS_CREATE": "read_orders",
    "RETURNS_REQUEST": "read_returns",
    "RETURNS_APPROVE": "read_returns",
    "PRODUCTS_CREATE": "read_products",
    "PRODUCTS_UPDATE": "read_products",
    "INVENTORY_LEVELS_UPDATE": "read_inventory",
    "APP_UNINSTALLED": "",
}


class FakeShopify(FakeServer):
    """Shopify's Admin GraphQL API (one shop, one location) for the adapter's operations."""

    def __init__(
        self,
        *,
        access_token: str = "shpat_fake_token",
        webhook_secret: str = "shopify-webhook-secret",
        api_version: str = "2026-04",
        location_number: int = 1,
        maximum_available: float = SHOPIFY_STANDARD_BUCKET,
        restore_rate: float = SHOPIFY_STANDARD_RESTORE_RATE,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.api_version = api_version
        self.location_id = f"gid://shopify/Location/{location_number}"
        self.products: list[ShopifyProduct] = []
        # inventory item gid → location gid → on_hand
        self.levels: dict[str, dict[str, int]] = {}
        self.applied_mutations = 0
        self.replayed_mutations = 0
        self.adjustments: list[JsonDict] = []
        self._idempotency: dict[str, tuple[str, JsonDict]] = {}
        self._rejections: dict[str, tuple[str, str]] = {}
        self._before_mutation: list[tuple[str, int]] = []
        self._previous_attempt_failed = 0
        self._ids = itertools.count(1001)
        # The leaky bucket of this app on this shop: ``now`` is the clock it refills by (a test
        # passes its own to drive it without sleeping).
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.now = now
        self._available = maximum_available
        self._refilled_at = now()
        self.points_charged = 0.0
        self.requested_costs: list[tuple[str, int]] = []  # (operation, cost) of every request
        self.throttled = 0  # requests answered THROTTLED by the bucket (not scripted faults)
        self.returns: dict[str, ShopifyReturn] = {}
        self.dispose_mutations = 0
        self.scopes: list[str] = list(SHOPIFY_SCOPES)  # the app installation's access scopes
        self.webhook_subscriptions: list[JsonDict] = []  # {id, topic, uri, format}
        # Bulk query operations (``bulkOperationRunQuery``, their files): fake_shopify_bulk.
        self.bulk = FakeBulkOperations(self)

    def start(self) -> Self:
        # The schema the costs are computed from takes a second or more to load, several on a
        # busy machine (pytest-xdist workers each load it): longer than the tests' 2 s client
        # timeout if the first request paid for it. Loaded before serving, once per process.
        shopify_schema(shopify_schema_version(self.api_version))
        return super().start()

    @property
    def shop_url(self) -> str:
        return self.base_url

    @property
    def graphql_path(self) -> str:
        return f"/admin/api/{self.api_version}/graphql.json"

    # state

    def add_product(
        self,
        title: str,
        variants: Iterable[tuple[str, int | None] | tuple[str, int | None, str]],
        *,
        status: str = "ACTIVE",
    ) -> ShopifyProduct:
        """A product whose variants are (sku, on_hand[, variant title]); on_hand None: unstocked."""
        with self.lock:
            product = ShopifyProduct(id=next(self._ids), title=title, status=status)
            for spec in variants:
                sku, on_hand = spec[0], spec[1]
                variant_title = spec[2] if len(spec) > 2 else "Default Title"
                variant = ShopifyVariant(
                    id=next(self._ids),
                    sku=sku,
                    title=variant_title,
                    inventory_item_id=next(self._ids),
                    product=product,
                )
                product.variants.append(variant)
                self.levels[variant.inventory_item_gid] = (
                    {} if on_hand is None else {self.location_id: on_hand}
                )
            self.products.append(product)
            return product

    def variant(self, sku: str) -> ShopifyVariant:
        for variant in self._variants():
            if variant.sku == sku:
                return variant
        raise KeyError(sku)

    def on_hand(self, sku: str) -> int | None:
        with self.lock:
            return self.levels[self.variant(sku).inventory_item_gid].get(self.location_id)

    def set_on_hand(self, sku: str, quantity: int) -> None:
        """Someone else (a POS, staff in the admin) changes the number."""
        with self.lock:
            self.levels[self.variant(sku).inventory_item_gid][self.location_id] = quantity

    def unstock(self, sku: str) -> None:
        with self.lock:
            self.levels[self.variant(sku).inventory_item_gid].pop(self.location_id, None)

    def change_before_next_mutation(self, sku: str, quantity: int) -> None:
        """Set ``sku`` to ``quantity`` right before the next inventorySetQuantities runs."""
        with self.lock:
            self._before_mutation.append((sku, quantity))

    def reject_sku(
        self,
        sku: str,
        *,
        code: str = "INVALID_QUANTITY_TOO_HIGH",
        message: str = "The total quantity can't be higher than 1,000,000,000.",
    ) -> None:
        """inventorySetQuantities refuses the row of ``sku`` with this userError."""
        with self.lock:
            self._rejections[sku] = (code, message)

    def previous_attempt_failed_next(self) -> None:
        """The next inventorySetQuantities answers IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED."""
        with self.lock:
            self._previous_attempt_failed += 1

    def throttle_next(
        self,
        count: int = 1,
        *,
        requested_cost: int = 752,
        currently_available: float = 152.0,
        restore_rate: float = 100.0,
        maximum_available: float = 1000.0,
        operation: str | None = None,
    ) -> None:
        """The next ``count`` requests answer a ``THROTTLED`` error with this throttleStatus."""
        fault = Fault(
            "throttle",
            operation=operation,
            extra={
                "requestedQueryCost": requested_cost,
                "currentlyAvailable": currently_available,
                "restoreRate": restore_rate,
                "maximumAvailable": maximum_available,
            },
        )
        self._add_faults(count, fault)

    def _variants(self) -> list[ShopifyVariant]:
        return [variant for product in self.products for variant in product.variants]

    def add_return(
        self,
        return_id: int,
        order_id: int,
        lines: Iterable[tuple[int | None, str, int]],
        *,
        split: bool = False,
        approved: bool = True,
        reason: str = "unwanted",
    ) -> ShopifyReturn:
        """A return: (order line item id, sku, quantity) per returned line.

        Its return line items (one per returned line, each with ``reason``; an order line item id
        of None makes an unverified one, with no order line) are read by
        ``return(id:) { returnLineItems }`` from the moment it is requested. Approved, its reverse
        fulfillment order holds one line item per returned line; ``split`` spreads the lines over
        one reverse fulfillment order each (Shopify may split by location). Only requested
        (``approved=False``), it has no reverse fulfillment order yet.
        """
        lines = list(lines)
        with self.lock:
            return_lines = [
                ShopifyReturnLine(
                    id=next(self._ids),
                    line_item_id=line_item_id,
                    sku=sku,
                    quantity=quantity,
                    reason=reason,
                )
                for line_item_id, sku, quantity in lines
            ]
            reverse_lines = [
                ShopifyReverseLine(
                    id=next(self._ids), line_item_id=line_item_id, sku=sku, total=quantity
                )
                for line_item_id, sku, quantity in lines
                if line_item_id is not None
            ]
            groups = [[line] for line in reverse_lines] if split else [reverse_lines]
            if not approved:
                groups = []
            found = ShopifyReturn(
                id=return_id,
                order_id=order_id,
                reverse_orders=[
                    ShopifyReverseOrder(id=next(self._ids), lines=group) for group in groups
                ],
                lines=return_lines,
            )
            self.returns[found.gid] = found
            return found

    def dispositions(self, return_id: int) -> dict[tuple[int, str], int]:
        """Units disposed per (order line item id, disposition type)."""
        with self.lock:
            found = self.returns[f"gid://shopify/Return/{return_id}"]
            totals: dict[tuple[int, str], int] = {}
            for order in found.reverse_orders:
                for line in order.lines:
                    for disposition in line.dispositions:
                        key = (line.line_item_id, disposition["type"])
                        totals[key] = totals.get(key, 0) + disposition["quantity"]
            return totals

    def _variant_by_item(self, item_gid: str) -> ShopifyVariant | None:
        return next((v for v in self._variants() if v.inventory_item_gid == item_gid), None)

    # HTTP

    def handle(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and (reply := self.bulk.file_reply(request.path)) is not None:
            return reply
        if request.method != "POST" or request.path != self.graphql_path:
            return _json_reply({"errors": "Not Found"}, status=404)
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return self.unauthorized_reply()
        return self.graphql_with_faults(request, self._answer)

    def unauthorized_reply(self) -> Reply:
        message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
        return _json_reply({"errors": message}, status=401)

    def fault_reply(self, fault: Fault, request: RecordedRequest) -> Reply:
        extra = fault.extra
        if fault.kind == "graphql_error":
            return _json_reply(
                {
                    "errors": [
                        {"message": extra["message"], "extensions": {"code": extra["code"]}}
                    ],
                    "extensions": self._cost(1, 1),
                }
            )
        return _json_reply(
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": extra["requestedQueryCost"],
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": extra["maximumAvailable"],
                            "currentlyAvailable": extra["currentlyAvailable"],
                            "restoreRate": extra["restoreRate"],
                        },
                    }
                },
            }
        )

    def _answer(self, request: RecordedRequest) -> Reply:
        payload = request.json or {}
        operation = payload.get("operationName")
        variables = payload.get("variables") or {}
        handlers: dict[str, Callable[[JsonDict, str], JsonDict]] = {
            "OneFactInventoryItemsBySku": self._items_by_sku,
            "OneFactLocationLevels": self._location_levels,
            "OneFactCatalog": self._catalog,
            "OneFactInventoryItem": self._inventory_item,
            "OneFactSetOnHand": self._set_quantities,
            "OneFactReturnLines": self._return_lines,
            "OneFactReverseFulfillmentOrderLines": self._reverse_order_lines,
            "OneFactReturnLineItems": self._return_line_items,
            "OneFactDisposeReturn": self._dispose,
            "OneFactAccessScopes": self._access_scopes,
            "OneFactWebhookSubscriptions": self._webhook_subscriptions,
            "OneFactWebhookSubscriptionCreate": self._webhook_subscription_create,
            **self.bulk.handlers(),
        }
        handler = handlers.get(str(operation))
        if handler is None:
            return self._errors(f"Unknown operation {operation!r}", "BAD_REQUEST")
        first = variables.get("first")
        if first is not None and not 0 < int(first) <= 250:
            return self._errors("The first argument must be between 1 and 250.", "BAD_REQUEST")
        try:
            requested = shopify_requested_cost(
                payload.get("query") or "",
                variables,
                version=shopify_schema_version(self.api_version),
                operation_name=str(operation),
            )
        except ShopifyQueryError as exc:
            return self._errors(str(exc), "BAD_REQUEST")
        with self.lock:
            self.requested_costs.append((str(operation), requested))
        if requested > SHOPIFY_MAX_QUERY_COST:
            return self._max_cost_exceeded(requested)
        with self.lock:
            if not self._take_points(requested):
                return self._throttled(requested)
            if str(operation) in SHOPIFY_OPERATION_SCOPES:
                field_name, scope = SHOPIFY_OPERATION_SCOPES[str(operation)]
                if not self.has_scope(scope):
                    return self._errors(
                        f"Access denied for {field_name} field. Required access: `{scope}` "
                        "access scope.",
                        "ACCESS_DENIED",
                        cost=requested,
                    )
            outcome = handler(variables, payload.get("query") or "")
            actual = requested
            if "errors" not in outcome:
                actual = shopify_actual_cost(
                    payload.get("query") or "",
                    variables,
                    outcome,
                    version=shopify_schema_version(self.api_version),
                    operation_name=str(operation),
                )
            self._refund(requested - actual)
            extensions = self._cost(requested, actual)
        if "errors" in outcome:
            return _json_reply({**outcome, "extensions": extensions})
        return _json_reply({"data": outcome, "extensions": extensions})

    def _errors(self, message: str, code: str, *, cost: int = 0) -> Reply:
        return _json_reply(
            {
                "errors": [{"message": message, "extensions": {"code": code}}],
                "extensions": self._cost(cost, cost),
            }
        )

    def _refill(self) -> None:
        moment = self.now()
        restored = (moment - self._refilled_at) * self.restore_rate
        self._available = min(self.maximum_available, self._available + restored)
        self._refilled_at = moment

    def _take_points(self, requested: int) -> bool:
        """Charge the bucket ``requested`` points, or nothing when it holds fewer."""
        self._refill()
        if requested > self._available:
            self.throttled += 1
            return False
        self._available -= requested
        self.points_charged += requested
        return True

    def _refund(self, points: int) -> None:
        """Give back what the query requested but did not use (a short page)."""
        self._available = min(self.maximum_available, self._available + points)
        self.points_charged -= points

    def bucket_available(self) -> float:
        """Points the bucket holds now."""
        with self.lock:
            self._refill()
            return self._available

    def _cost(self, requested: int, actual: int | None) -> JsonDict:
        """``extensions.cost`` as Shopify reports it, the bucket as it is now."""
        with self.lock:
            self._refill()
            return {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": actual,
                    "throttleStatus": {
                        "maximumAvailable": self.maximum_available,
                        "currentlyAvailable": self._available,
                        "restoreRate": self.restore_rate,
                    },
                }
            }

    def _throttled(self, requested: int) -> Reply:
        error = {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": SHOPIFY_RATE_LIMITS_DOC},
        }
        return _json_reply({"errors": [error], "extensions": self._cost(requested, None)})

    def _max_cost_exceeded(self, requested: int) -> Reply:
        """Refused before it runs, charged nothing (Shopify's wording and shape)."""
        message = (
            f"Query cost is {requested}, which exceeds the single query max cost limit "
            f"({SHOPIFY_MAX_QUERY_COST}).\n\nSee {SHOPIFY_RATE_LIMITS_DOC} for more "
            "information on how the\ncost of a query is calculated.\n\nTo query larger amounts "
            "of data with fewer limits, bulk operations should be used instead.\nSee "
            "https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage "
            "details.\n"
        )
        error = {
            "message": message,
            "extensions": {
                "code": "MAX_COST_EXCEEDED",
                "cost": requested,
                "maxCost": SHOPIFY_MAX_QUERY_COST,
                "documentation": SHOPIFY_RATE_LIMITS_DOC,
            },
        }
        return _json_reply({"errors": [error], "extensions": self._cost(requested, None)})

    # operations

    def _level_node(self, item_gid: str, location_gid: str) -> JsonDict | None:
        on_hand = self.levels.get(item_gid, {}).get(location_gid)
        if on_hand is None:
            return None
        return {"quantities": [{"name": "on_hand", "quantity": on_hand}]}

    def _items_by_sku(self, variables: JsonDict, query: str) -> JsonDict:
        wanted = set()
        for quoted, bare in _SKU_TERM.findall(variables.get("query") or ""):
            wanted.add(re.sub(r"\\(.)", r"\1", quoted) if quoted else bare)
        matches = [v for v in self._variants() if v.sku in wanted]
        chunk, page_info = _page(matches, int(variables["first"]), variables.get("after"))
        nodes = [
            {
                "id": v.inventory_item_gid,
                "sku": v.sku,
                "inventoryLevel": self._level_node(v.inventory_item_gid, variables["locationId"]),
            }
            for v in chunk
        ]
        return {"inventoryItems": {"nodes": nodes, "pageInfo": page_info}}

    def _location_levels(self, variables: JsonDict, query: str) -> JsonDict:
        location = variables.get("locationId")
        if location != self.location_id:
            return {"location": None}
        stocked = [v for v in self._variants() if location in self.levels[v.inventory_item_gid]]
        chunk, page_info = _page(stocked, int(variables["first"]), variables.get("after"))
        nodes = [
            {
                "item": {"id": v.inventory_item_gid, "sku": v.sku},
                "quantities": [
                    {"name": "on_hand", "quantity": self.levels[v.inventory_item_gid][location]}
                ],
            }
            for v in chunk
        ]
        return {"location": {"inventoryLevels": {"nodes": nodes, "pageInfo": page_info}}}

    def _catalog(self, variables: JsonDict, query: str) -> JsonDict:
        chunk, page_info = _page(self._variants(), int(variables["first"]), variables.get("after"))
        nodes = [
            {
                "sku": v.sku,
                "title": v.title,
                "product": {"title": v.product.title, "status": v.product.status},
            }
            for v in chunk
        ]
        return {"productVariants": {"nodes": nodes, "pageInfo": page_info}}

    def _inventory_item(self, variables: JsonDict, query: str) -> JsonDict:
        variant = self._variant_by_item(str(variables.get("id")))
        node = {"id": variant.inventory_item_gid, "sku": variant.sku} if variant else None
        return {"inventoryItem": node}

    def _set_quantities(self, variables: JsonDict, query: str) -> JsonDict:
        key = variables.get("idempotencyKey")
        if "@idempotent(key:" not in re.sub(r"\s+", "", query) or not key:
            return {
                "errors": [
                    {
                        "message": "An idempotency key is required for inventorySetQuantities.",
                        "extensions": {"code": "BAD_REQUEST"},
                    }
                ]
            }
        if self._previous_attempt_failed:
            self._previous_attempt_failed -= 1
            failed = _error(
                "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                None,
                "A previous request with this idempotency key failed. "
                "Retry with a new idempotency key.",
            )
            return {"inventorySetQuantities": _user_errors([failed])}
        mutation_input = variables.get("input") or {}
        fingerprint = json.dumps(mutation_input, sort_keys=True)
        if key in self._idempotency:
            stored_fingerprint, stored = self._idempotency[key]
            if stored_fingerprint != fingerprint:
                return {"inventorySetQuantities": _user_errors([_mismatch_error()])}
            self.replayed_mutations += 1
            return {"inventorySetQuantities": stored}
        for sku, quantity in self._before_mutation:
            self.set_on_hand(sku, quantity)
        self._before_mutation.clear()
        errors = self._validate(mutation_input)
        payload = _user_errors(errors) if errors else self._apply(mutation_input)
        self._idempotency[key] = (fingerprint, payload)
        return {"inventorySetQuantities": payload}

    def _validate(self, mutation_input: JsonDict) -> list[JsonDict]:
        errors = []
        if mutation_input.get("name") not in ("available", "on_hand"):
            errors.append(
                _error(
                    "INVALID_NAME",
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                )
            )
        if mutation_input.get("reason") not in SHOPIFY_REASONS:
            errors.append(
                _error("INVALID_REASON", ["input", "reason"], "The specified reason is invalid.")
            )
        reference = mutation_input.get("referenceDocumentUri")
        if reference is not None and ":" not in str(reference):
            errors.append(
                _error(
                    "INVALID_REFERENCE_DOCUMENT",
                    ["input", "referenceDocumentUri"],
                    "The specified reference document is invalid.",
                )
            )
        seen: set[str] = set()
        for index, row in enumerate(mutation_input.get("quantities") or []):
            error = self._row_error(index, row, seen)
            if error is not None:
                errors.append(error)
        return errors

    def _row_error(self, index: int, row: JsonDict, seen: set[str]) -> JsonDict | None:
        path = ["input", "quantities", str(index)]
        item = str(row.get("inventoryItemId"))
        variant = self._variant_by_item(item)
        if "changeFromQuantity" not in row:
            return _error(
                "COMPARE_QUANTITY_REQUIRED",
                [*path, "changeFromQuantity"],
                "changeFromQuantity must be given (null to skip the compare).",
            )
        if row.get("locationId") != self.location_id:
            return _error(
                "INVALID_LOCATION",
                [*path, "locationId"],
                "The specified location could not be found.",
            )
        if variant is None:
            return _error(
                "INVALID_INVENTORY_ITEM",
                [*path, "inventoryItemId"],
                "The specified inventory item could not be found.",
            )
        if item in seen:
            return _error(
                "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                [*path, "inventoryItemId"],
                "The combination of inventoryItemId and locationId must be unique.",
            )
        seen.add(item)
        current = self.levels[item].get(self.location_id)
        if current is None:
            return _error(
                "ITEM_NOT_STOCKED_AT_LOCATION",
                [*path, "inventoryItemId"],
                "The specified inventory item is not stocked at the location.",
            )
        quantity = int(row.get("quantity"))
        if quantity < 0:
            return _error(
                "INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], "The quantity can't be negative."
            )
        if quantity > 1_000_000_000:
            return _error(
                "INVALID_QUANTITY_TOO_HIGH",
                [*path, "quantity"],
                "The total quantity can't be higher than 1,000,000,000.",
            )
        if variant.sku in self._rejections:
            code, message = self._rejections[variant.sku]
            return _error(code, [*path, "quantity"], message)
        expected = row.get("changeFromQuantity")
        if expected is not None and int(expected) != current:
            return _error(
                "CHANGE_FROM_QUANTITY_STALE",
                [*path, "changeFromQuantity"],
                "The changeFromQuantity value does not match persisted value.",
            )
        return None

    def _apply(self, mutation_input: JsonDict) -> JsonDict:
        for row in mutation_input.get("quantities") or []:
            self.levels[str(row["inventoryItemId"])][self.location_id] = int(row["quantity"])
        self.applied_mutations += 1
        group = {
            "id": f"gid://shopify/InventoryAdjustmentGroup/{next(self._ids)}",
            "reason": mutation_input.get("reason"),
            "referenceDocumentUri": mutation_input.get("referenceDocumentUri"),
        }
        self.adjustments.append({**group, "quantities": mutation_input.get("quantities")})
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    # access scopes and webhook subscriptions

    def has_scope(self, scope: str) -> bool:
        """Granted, or implied by the write scope of the same resource."""
        granted = set(self.scopes)
        return not scope or scope in granted or scope.replace("read_", "write_", 1) in granted

    def _access_scopes(self, variables: JsonDict, query: str) -> JsonDict:
        scopes = [{"handle": handle, "description": handle} for handle in self.scopes]
        return {"currentAppInstallation": {"accessScopes": scopes}}

    def _subscription_node(self, subscription: JsonDict) -> JsonDict:
        return {key: subscription[key] for key in ("id", "topic", "uri")}

    def _webhook_subscriptions(self, variables: JsonDict, query: str) -> JsonDict:
        uri = variables.get("uri")
        found = [s for s in self.webhook_subscriptions if uri is None or s["uri"] == uri]
        chunk, page_info = _page(found, int(variables["first"]), variables.get("after"))
        nodes = [self._subscription_node(s) for s in chunk]
        return {"webhookSubscriptions": {"nodes": nodes, "pageInfo": page_info}}

    def _webhook_subscription_create(self, variables: JsonDict, query: str) -> JsonDict:
        """webhookSubscriptionCreate: an unknown topic fails variable coercion (a top-level
        error); a topic whose scope is missing, an http:// address or a second subscription
        of one topic to one address come back as userErrors, and nothing is created."""
        topic = variables.get("topic")
        if topic not in SHOPIFY_WEBHOOK_TOPICS:
            return {
                "errors": [
                    {
                        "message": "Variable $topic of type WebhookSubscriptionTopic! was "
                        "provided invalid value",
                        "extensions": {
                            "value": topic,
                            "problems": [
                                {"path": [], "explanation": f"Expected {topic!r} to be one of: "
                                 + ", ".join(SHOPIFY_WEBHOOK_TOPICS)}
                            ],
                        },
                    }
                ]
            }  # fmt: skip
        subscription = variables.get("webhookSubscription") or {}
        uri = str(subscription.get("uri") or subscription.get("callbackUrl") or "")
        path = ["webhookSubscription", "uri"]
        scope = SHOPIFY_WEBHOOK_TOPICS[topic]
        if not self.has_scope(scope):
            errors = [
                {
                    "field": ["topic"],
                    "message": f"Access denied for topic {topic}: the app needs the `{scope}` "
                    "access scope.",
                }
            ]
        elif not uri.startswith("https://"):
            scheme = uri.split("://", 1)[0] + "://" if "://" in uri else uri
            errors = [{"field": path, "message": f"Address protocol {scheme} is not supported"}]
        elif any(s["topic"] == topic and s["uri"] == uri for s in self.webhook_subscriptions):
            errors = [{"field": path, "message": "Address for this topic has already been taken"}]
        else:
            created = {
                "id": f"gid://shopify/WebhookSubscription/{next(self._ids)}",
                "topic": topic,
                "uri": uri,
                "format": subscription.get("format") or "JSON",
            }
            self.webhook_subscriptions.append(created)
            node = self._subscription_node(created)
            return {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}
        return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}}

    # returns

    def _reverse_line_node(self, line: ShopifyReverseLine) -> JsonDict:
        return {
            "id": line.gid,
            "totalQuantity": line.total,
            "fulfillmentLineItem": {
                "lineItem": {"id": f"gid://shopify/LineItem/{line.line_item_id}", "sku": line.sku}
            },
            "dispositions": [
                {"quantity": d["quantity"], "type": d["type"]} for d in line.dispositions
            ],
        }

    def _line_page(self, order: ShopifyReverseOrder, first: int, after: str | None) -> JsonDict:
        chunk, page_info = _page(order.lines, first, after)
        return {"nodes": [self._reverse_line_node(x) for x in chunk], "pageInfo": page_info}

    def _return_lines(self, variables: JsonDict, query: str) -> JsonDict:
        found = self.returns.get(str(variables.get("id")))
        if found is None:
            return {"return": None}
        first, after = int(variables["first"]), variables.get("after")
        chunk, page_info = _page(found.reverse_orders, first, after)
        lines = int(variables["lines"])
        nodes = [{"id": o.gid, "lineItems": self._line_page(o, lines, None)} for o in chunk]
        return {
            "return": {
                "id": found.gid,
                "reverseFulfillmentOrders": {"nodes": nodes, "pageInfo": page_info},
            }
        }

    def _return_line_items(self, variables: JsonDict, query: str) -> JsonDict:
        found = self.returns.get(str(variables.get("id")))
        if found is None:
            return {"return": None}
        chunk, page_info = _page(found.lines, int(variables["first"]), variables.get("after"))
        nodes = []
        for line in chunk:
            node: JsonDict = {
                "id": line.gid,
                "quantity": line.quantity,
                "returnReasonDefinition": {"handle": line.reason},
            }
            if line.line_item_id is not None:  # fields of ReturnLineItem only
                order_line = {"id": f"gid://shopify/LineItem/{line.line_item_id}", "sku": line.sku}
                node["fulfillmentLineItem"] = {"lineItem": order_line}
            nodes.append(node)
        return {"return": {"returnLineItems": {"nodes": nodes, "pageInfo": page_info}}}

    def _reverse_order_lines(self, variables: JsonDict, query: str) -> JsonDict:
        order = next(
            (
                o
                for r in self.returns.values()
                for o in r.reverse_orders
                if o.gid == variables.get("id")
            ),
            None,
        )
        if order is None:
            return {"reverseFulfillmentOrder": None}
        page = self._line_page(order, int(variables["first"]), variables.get("after"))
        return {"reverseFulfillmentOrder": {"lineItems": page}}

    def _dispose(self, variables: JsonDict, query: str) -> JsonDict:
        """reverseFulfillmentOrderDispose: checked as a whole, applied only when clean."""
        lines = {
            line.gid: line
            for r in self.returns.values()
            for o in r.reverse_orders
            for line in o.lines
        }
        inputs = variables.get("dispositionInputs") or []
        errors, planned = [], {}
        for index, entry in enumerate(inputs):
            path = ["dispositionInputs", str(index)]
            line = lines.get(str(entry.get("reverseFulfillmentOrderLineItemId")))
            kind = entry.get("dispositionType")
            quantity = int(entry.get("quantity") or 0)
            if line is None:
                errors.append(
                    _error("NOT_FOUND", [*path, "reverseFulfillmentOrderLineItemId"],
                           "Reverse fulfillment order line item not found.")
                )  # fmt: skip
            elif kind not in DISPOSITION_TYPES:
                errors.append(_error("INVALID", [*path, "dispositionType"], "Invalid type."))
            elif quantity <= 0:
                errors.append(
                    _error("GREATER_THAN", [*path, "quantity"], "Quantity must be positive.")
                )
            elif kind == "RESTOCKED" and not entry.get("locationId"):
                errors.append(
                    _error("BLANK", [*path, "locationId"], "Location is required to restock.")
                )
            elif entry.get("locationId") and entry["locationId"] != self.location_id:
                errors.append(_error("NOT_FOUND", [*path, "locationId"], "Location not found."))
            elif line.disposed + planned.get(line.gid, 0) + quantity > line.total:
                errors.append(
                    _error("LESS_THAN_OR_EQUAL_TO", [*path, "quantity"],
                           "Quantity exceeds the quantity left to dispose.")
                )  # fmt: skip
            else:
                planned[line.gid] = planned.get(line.gid, 0) + quantity
        if errors:
            return {
                "reverseFulfillmentOrderDispose": {
                    "reverseFulfillmentOrderLineItems": None,
                    "userErrors": errors,
                }
            }
        touched = []
        for entry in inputs:
            line = lines[str(entry["reverseFulfillmentOrderLineItemId"])]
            quantity, kind = int(entry["quantity"]), entry["dispositionType"]
            line.dispositions.append(
                {"quantity": quantity, "type": kind, "location": entry.get("locationId")}
            )
            if kind == "RESTOCKED":
                item = self.variant(line.sku).inventory_item_gid
                level = self.levels[item]
                level[self.location_id] = level.get(self.location_id, 0) + quantity
            if line not in touched:
                touched.append(line)
        self.dispose_mutations += 1
        return {
            "reverseFulfillmentOrderDispose": {
                "reverseFulfillmentOrderLineItems": [
                    {"id": x.gid, "dispositions": self._reverse_line_node(x)["dispositions"]}
                    for x in touched
                ],
                "userErrors": [],
            }
        }


def _error(code: str, path: list[str] | None, message: str) -> JsonDict:
    return {"code": code, "field": path, "message": message}


def _user_errors(errors: list[JsonDict]) -> JsonDict:
    """Shopify refuses the whole mutation when any row fails: no adjustment group."""
    return {"inventoryAdjustmentGroup": None, "userErrors": errors}


def _mismatch_error() -> JsonDict:
    return _error(
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
        None,
        "The same idempotency key cannot be used with different operation parameters.",
    )


# Shopify webhooks (payloads in the REST shapes of https://shopify.dev/docs/api/webhooks)


def shopify_webhook(
    topic: str,
    payload: JsonDict,
    *,
    secret: str,
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: str | None = None,
    shop_domain: str = "onefact-test.myshopify.com",
    api_version: str = "2026-04",
) -> tuple[bytes, dict[str, str]]:
    """A delivery as Shopify sends it: the raw body and its headers, HMAC-signed (the body
    only: Shopify signs no header). ``triggered_at`` defaults to now, as on a first attempt."""
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature.decode(),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or f"b54557e4-{hashlib.md5(body).hexdigest()[:8]}",
        "X-Shopify-Event-Id": event_id or f"98880550-{hashlib.sha1(body).hexdigest()[:8]}",
        "X-Shopify-Triggered-At": triggered_at or shopify_triggered_at(),
    }
    return body, headers


def shopify_triggered_at(when: datetime | None = None) -> str:
    """``X-Shopify-Triggered-At`` as Shopify writes it: UTC, nanoseconds, ``Z``."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def shopify_order_payload(
    order_id: int,
    lines: Sequence[tuple[int, str, int]],
    *,
    customer: tuple[str, str] | None = ("Ada", "Lovelace"),
    created_at: str = "2026-03-01T10:00:00-05:00",
    updated_at: str | None = None,
    cancelled_at: str | None = None,
    fulfillment_status: str | None = None,
) -> JsonDict:
    """An order (orders/create, orders/cancelled, orders/fulfilled); lines: (id, sku, quantity)."""
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id % 10000}",
        "order_number": order_id % 10000,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "cancelled_at": cancelled_at,
        "cancel_reason": "customer" if cancelled_at else None,
        "financial_status": "paid",
        "fulfillment_status": fulfillment_status,
        "currency": "EUR",
        "customer": (
            {
                "id": 706405506930370000,
                "email": "ada@example.com",
                "first_name": customer[0],
                "last_name": customer[1],
            }
            if customer
            else None
        ),
        "line_items": [
            {
                "id": line_id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                "sku": sku,
                "quantity": quantity,
                "fulfillable_quantity": 0 if fulfillment_status == "fulfilled" else quantity,
                "title": sku,
                "variant_id": line_id + 1,
                "product_id": line_id + 2,
            }
            for line_id, sku, quantity in lines
        ],
    }


def shopify_refund_payload(
    refund_id: int,
    order_id: int,
    lines: Sequence[tuple[int, str, int, str]],
    *,
    created_at: str = "2026-03-05T12:00:00-05:00",
    location_id: int = 1,
) -> JsonDict:
    """refunds/create; lines: (line_item_id, sku, quantity, restock_type)."""
    return {
        "id": refund_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "order_id": order_id,
        "created_at": created_at,
        "processed_at": created_at,
        "note": "",
        "restock": any(line[3] != "no_restock" for line in lines),
        "refund_line_items": [
            {
                "id": line_item_id + 500,
                "line_item_id": line_item_id,
                "location_id": location_id if restock_type != "no_restock" else None,
                "quantity": quantity,
                "restock_type": restock_type,
                "subtotal": 10.0,
                "total_tax": 0.0,
                "line_item": {
                    "id": line_item_id,
                    "sku": sku,
                    "quantity": quantity,
                    "title": sku,
                    "variant_id": line_item_id + 1,
                },
            }
            for line_item_id, sku, quantity, restock_type in lines
        ],
        "transactions": [],
        "order_adjustments": [],
    }


def shopify_return_payload(
    return_id: int,
    order_id: int,
    lines: Sequence[tuple[int, int, str]],
    *,
    status: str = "requested",
) -> JsonDict:
    """returns/request or returns/approve; lines: (order line item id, quantity, return_reason).

    As documented, return line items name the order's line item by id only (no SKU).
    """
    return {
        "id": return_id,
        "admin_graphql_api_id": f"gid://shopify/Return/{return_id}",
        "status": status,
        "order": {"id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}"},
        "total_return_line_items": len(lines),
        "name": f"#{order_id % 10000}-R1",
        "return_line_items": [
            {
                "id": line_item_id + 900,
                "admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{line_item_id + 900}",
                "fulfillment_line_item": {
                    "id": line_item_id + 800,
                    "admin_graphql_api_id": (
                        f"gid://shopify/FulfillmentLineItem/{line_item_id + 800}"
                    ),
                    "line_item": {
                        "id": line_item_id,
                        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_item_id}",
                    },
                },
                "quantity": quantity,
                "return_reason": reason,
                "return_reason_note": "",
                "customer_note": None,
            }
            for line_item_id, quantity, reason in lines
        ],
        "exchange_line_items": [],
        "total_exchange_line_items": 0,
    }


def shopify_product_payload(product: ShopifyProduct) -> JsonDict:
    """products/update for a product of :class:`FakeShopify`."""
    return {
        "id": product.id,
        "admin_graphql_api_id": f"gid://shopify/Product/{product.id}",
        "title": product.title,
        "status": product.status.lower(),
        "updated_at": "2026-03-02T09:00:00-05:00",
        "variants": [
            {
                "id": variant.id,
                "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant.id}",
                "product_id": product.id,
                "title": variant.title,
                "sku": variant.sku,
                "inventory_item_id": variant.inventory_item_id,
            }
            for variant in product.variants
        ],
    }


def shopify_inventory_level_payload(
    inventory_item_id: int, location_id: int, available: int
) -> JsonDict:
    """inventory_levels/update: an inventory item id and ``available``, no SKU."""
    return {
        "inventory_item_id": inventory_item_id,
        "location_id": location_id,
        "available": available,
        "updated_at": "2026-03-03T08:00:00-05:00",
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/{location_id}?inventory_item_id={inventory_item_id}"
        ),
    }


# -- Saleor ----------------------------------------------------------------------------------


def global_id(kind: str, value: str | int) -> str:
    """Saleor's (graphene) global ID: base64("<Type>:<id>")."""
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


@dataclass
class SaleorVariant:
    id: str
    sku: str
    name: str
    product: SaleorProduct


@dataclass
class SaleorProduct:
    id: str
    name: str
    listings: list[JsonDict]
    variants: list[SaleorVariant] = field(default_factory=list)


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def jwk(self) -> JsonDict:
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        entry.update({"use": "sig", "kid": self.kid})
        return entry


class FakeSaleor(FakeServer):
    """Saleor's GraphQL API (one warehouse) for the adapter's operations, plus its JWKS.

    Strict as Saleor is (``tests/storefront/saleor_graphql.py``): every request is validated
    against the published schema of ``version`` (HTTP 400 when invalid), its complexity is
    computed from that version's query cost map and refused over ``max_complexity`` (HTTP 400,
    ``QueryCostError``), and a ``first``/``last`` over ``pagination_limit`` fails the field
    (HTTP 200, the field null). Answers carry ``extensions.cost``; ``requested_costs`` keeps
    (operation, cost) of every request answered. Validation messages are graphql-core 3's
    wording (Saleor runs graphql-core 2, which quotes names with ``"`` rather than ``'``).
    """

    def __init__(
        self,
        *,
        token: str = "saleor-app-token",
        channel: str = "default-channel",
        warehouse_uuid: str = "b17cb19c-98aa-4ec8-8c83-aaa0ef4c3310",
        version: str = "3.24",
        max_complexity: int = GRAPHQL_QUERY_MAX_COMPLEXITY,
        pagination_limit: int = GRAPHQL_PAGINATION_LIMIT,
    ) -> None:
        super().__init__()
        self.token = token
        # The published schema requests are validated against, and Saleor's two limits
        # (``GRAPHQL_QUERY_MAX_COMPLEXITY``, ``GRAPHQL_PAGINATION_LIMIT``).
        self.version = version
        self.max_complexity = max_complexity
        self.pagination_limit = pagination_limit
        self.requested_costs: list[tuple[str | None, int]] = []  # (operation, cost) answered
        schema_errors(version, "{ __typename }")  # build the schema now, not in a request
        self.channel = channel
        self.warehouse_id = global_id("Warehouse", warehouse_uuid)
        self.products: list[SaleorProduct] = []
        # (variant id, warehouse id) → {"quantity": n, "quantityAllocated": m}
        self.stocks: dict[tuple[str, str], dict[str, int]] = {}
        self.bulk_updates = 0
        self.jwks_fetches = 0
        self.jwks_status = 200
        self._ids = itertools.count(400)
        self._rejections: dict[str, str] = {}
        self._before_mutation: list[tuple[str, int]] = []
        self.signing_keys: list[SigningKey] = []
        self.rotate_signing_key()
        # The app the token belongs to: its permissions and its webhooks.
        self.permissions: list[str] = ["MANAGE_PRODUCTS", "MANAGE_ORDERS"]
        self.webhooks: list[JsonDict] = []

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/graphql/"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    # state

    def add_product(
        self,
        name: str,
        variants: Iterable[tuple[str, int | None] | tuple[str, int | None, str]],
        *,
        published: bool = True,
        available_for_purchase: bool = True,
        channel: str | None = None,
    ) -> SaleorProduct:
        """A product whose variants are (sku, quantity[, name]); quantity None: no stock record."""
        with self.lock:
            product = SaleorProduct(
                id=global_id("Product", next(self._ids)),
                name=name,
                listings=[
                    {
                        "channel": {"slug": channel or self.channel},
                        "isPublished": published,
                        "isAvailableForPurchase": available_for_purchase,
                    }
                ],
            )
            for spec in variants:
                sku, quantity = spec[0], spec[1]
                variant = SaleorVariant(
                    id=global_id("ProductVariant", next(self._ids)),
                    sku=sku,
                    name=spec[2] if len(spec) > 2 else "",
                    product=product,
                )
                product.variants.append(variant)
                if quantity is not None:
                    self.stocks[(variant.id, self.warehouse_id)] = {
                        "quantity": quantity,
                        "quantityAllocated": 0,
                    }
            self.products.append(product)
            return product

    def variant(self, sku: str) -> SaleorVariant:
        for variant in self._variants():
            if variant.sku == sku:
                return variant
        raise KeyError(sku)

    def quantity(self, sku: str) -> int | None:
        with self.lock:
            stock = self.stocks.get((self.variant(sku).id, self.warehouse_id))
            return None if stock is None else stock["quantity"]

    def set_quantity(self, sku: str, quantity: int) -> None:
        """Someone else (staff in the dashboard, another app) changes the number."""
        with self.lock:
            key = (self.variant(sku).id, self.warehouse_id)
            self.stocks.setdefault(key, {"quantity": 0, "quantityAllocated": 0})
            self.stocks[key]["quantity"] = quantity

    def unstock(self, sku: str) -> None:
        with self.lock:
            self.stocks.pop((self.variant(sku).id, self.warehouse_id), None)

    def change_before_next_mutation(self, sku: str, quantity: int) -> None:
        """Set ``sku`` right before the next stockBulkUpdate: a change Saleor cannot refuse."""
        with self.lock:
            self._before_mutation.append((sku, quantity))

    def reject_sku(
        self, sku: str, *, message: str = "Quantity exceeds the allowed maximum."
    ) -> None:
        """stockBulkUpdate refuses the row of ``sku`` (code INVALID, field quantity)."""
        with self.lock:
            self._rejections[sku] = message

    def _variants(self) -> list[SaleorVariant]:
        return [variant for product in self.products for variant in product.variants]

    # signing

    def rotate_signing_key(self, *, keep_kid: bool = False) -> SigningKey:
        """A new RSA key replaces the published one (kid: its RFC 7638 thumbprint, or kept)."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if keep_kid and self.signing_keys:
            kid = self.signing_keys[-1].kid
        else:
            kid = _thumbprint(private_key.public_key())
        key = SigningKey(kid=kid, private_key=private_key)
        with self.lock:
            self.signing_keys = [key]
        return key

    @property
    def signing_key(self) -> SigningKey:
        return self.signing_keys[-1]

    def sign(self, body: bytes, *, key: SigningKey | None = None, legacy: bool = False) -> str:
        """``Saleor-Signature`` for ``body``: what Saleor's ``jws_encode`` produces.

        ``legacy`` imitates Saleor on an older PyJWT, whose header has ``"b64": false`` but no
        ``crit``.
        """
        key = key or self.signing_key
        if not legacy:
            return jwt.api_jws.encode(
                body,
                key=key.private_key,
                algorithm="RS256",
                headers={"kid": key.kid},
                is_payload_detached=True,
            )
        header = {"alg": "RS256", "b64": False, "kid": key.kid, "typ": "JWT"}
        protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
        signature = key.private_key.sign(
            protected.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{protected}..{_b64url(signature)}"

    def webhook(
        self, event: str, payload: JsonDict, *, key: SigningKey | None = None, legacy: bool = False
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery as Saleor sends it: body and headers (``event`` like ``ORDER_CREATED``)."""
        body = json.dumps(payload).encode()
        domain = self.base_url.split("://", 1)[1]
        headers = {
            "Content-Type": "application/json",
            "Saleor-Event": event.lower(),
            "Saleor-Domain": domain,
            "Saleor-Signature": self.sign(body, key=key, legacy=legacy),
            "Saleor-Api-Url": self.api_url,
        }
        return body, headers

    def stock_updated_payload(self, sku: str, *, issued_at: str | None = None) -> JsonDict:
        """PRODUCT_VARIANT_STOCK_UPDATED for our warehouse, as SUBSCRIPTION_QUERY selects it."""
        variant = self.variant(sku)
        return {
            "__typename": "ProductVariantStockUpdated",
            "issuedAt": issued_at or _now(),
            "warehouse": {"id": self.warehouse_id},
            "productVariant": {
                "id": variant.id,
                "sku": variant.sku,
                "stocks": self._stock_nodes(variant),
            },
        }

    def variant_updated_payload(self, sku: str, *, issued_at: str | None = None) -> JsonDict:
        variant = self.variant(sku)
        return {
            "__typename": "ProductVariantUpdated",
            "issuedAt": issued_at or _now(),
            "productVariant": {
                "id": variant.id,
                "sku": variant.sku,
                "name": variant.name,
                "product": self._product_node(variant.product),
            },
        }

    def product_updated_payload(
        self, product: SaleorProduct, *, issued_at: str | None = None
    ) -> JsonDict:
        return {
            "__typename": "ProductUpdated",
            "issuedAt": issued_at or _now(),
            "product": {
                **self._product_node(product),
                "variants": [{"id": v.id, "sku": v.sku, "name": v.name} for v in product.variants],
            },
        }

    # HTTP

    def handle(self, request: RecordedRequest) -> Reply:
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == "/.well-known/jwks.json":
            with self.lock:
                self.jwks_fetches += 1
                keys = [key.jwk for key in self.signing_keys]
            if self.jwks_status != 200:
                return _json_reply({"error": "unavailable"}, status=self.jwks_status)
            return _json_reply({"keys": keys})
        if request.method != "POST" or path != "/graphql/":
            return _json_reply({"errors": [{"message": "Not Found"}]}, status=404)
        return self.graphql_with_faults(request, self._answer)

    def fault_reply(self, fault: Fault, request: RecordedRequest) -> Reply:
        if fault.kind != "graphql_error":
            raise ValueError(f"unsupported fault {fault.kind}")
        return _saleor_error(fault.extra["message"], fault.extra["code"])

    def _answer(self, request: RecordedRequest) -> Reply:
        payload = request.json or {}
        operation = str(payload.get("operationName"))
        variables = payload.get("variables") or {}
        query = str(payload.get("query") or "")
        invalid = self._invalid_reply(query)
        if invalid is not None:
            return invalid
        cost = query_cost(self.version, query, variables)
        if cost > self.max_complexity:
            return self._over_cost_reply(cost)
        handlers: dict[str, Callable[[JsonDict], JsonDict]] = {
            "OneFactVariantStocks": self._product_variants,
            "OneFactCatalog": self._product_variants,
            "OneFactStockBulkUpdate": self._stock_bulk_update,
            "OneFactApp": self._app,
            "OneFactWebhookCreate": self._webhook_create,
        }
        handler = handlers.get(operation)
        if handler is None:
            return _saleor_error(f"Unknown operation {operation!r}", "GraphQLError", status=400)
        root, needed = SALEOR_OPERATION_PERMISSIONS[operation]
        authenticated = request.headers.get("authorization") == f"Bearer {self.token}"
        if not authenticated or (needed and needed not in self.permissions):
            return _saleor_error(
                "To access this path, you need one of the following permissions: "
                f"{needed or 'AUTHENTICATED_APP'}",
                "PermissionDenied",
                data={root: None},
            )
        if operation == "OneFactWebhookCreate":
            refusal = _saleor_enum_refusal(variables)
            if refusal is not None:
                return refusal
        breaches = page_limit_breaches(self.version, query, variables, limit=self.pagination_limit)
        if breaches:
            return self._page_limit_reply(breaches, cost)
        with self.lock:
            data = handler(variables)
            self.requested_costs.append((operation, cost))
        return _json_reply({"data": data, "extensions": self._cost_extension(cost)})

    def _invalid_reply(self, query: str) -> Reply | None:
        """A document that is not valid against the schema is refused before anything runs:
        HTTP 400, the errors and no ``data``."""
        try:
            errors = schema_errors(self.version, query)
        except GraphQLError as error:  # a syntax error
            errors = (error,)
        if not errors:
            return None
        formatted = [_saleor_formatted(error, "GraphQLError") for error in errors]
        return _json_reply({"errors": formatted}, status=400)

    def _over_cost_reply(self, cost: int) -> Reply:
        """Saleor's ``QueryCostError``: HTTP 400 before anything runs, the cost beside it."""
        extension = self._cost_extension(cost)
        error = {
            "message": f"The query exceeds the maximum cost of {self.max_complexity}. "
            f"Actual cost is {cost}",
            "extensions": {**extension, "exception": {"code": "QueryCostError"}},
        }
        return _json_reply({"errors": [error], "extensions": extension}, status=400)

    def _page_limit_reply(self, breaches: list[PageLimitBreach], cost: int) -> Reply:
        """A connection asked for too many records fails while running: HTTP 200, the field
        null and an error naming it. The fake is no GraphQL engine: the root field holding the
        offending connection comes back null (Saleor nulls the nearest nullable field)."""
        errors = [
            {
                "message": breach.message(self.pagination_limit),
                "path": list(breach.path),
                "extensions": {"exception": {"code": "GraphQLError"}},
            }
            for breach in breaches
        ]
        data = {breach.path[0]: None for breach in breaches}
        return _json_reply(
            {"errors": errors, "data": data, "extensions": self._cost_extension(cost)}
        )

    def _cost_extension(self, cost: int) -> JsonDict:
        return {"cost": {"requestedQueryCost": cost, "maximumAvailable": self.max_complexity}}

    def _app(self, variables: JsonDict) -> JsonDict:
        return {
            "app": {
                "id": global_id("App", 1),
                "name": "OneFact",
                "permissions": [
                    {"code": code, "name": code.replace("_", " ").capitalize()}
                    for code in self.permissions
                ],
                "webhooks": [
                    {
                        "id": webhook["id"],
                        "targetUrl": webhook["targetUrl"],
                        "isActive": webhook["isActive"],
                        "asyncEvents": [
                            {"eventType": event, "name": event.replace("_", " ").capitalize()}
                            for event in webhook["asyncEvents"]
                        ],
                    }
                    for webhook in self.webhooks
                ],
            }
        }

    def _webhook_create(self, variables: JsonDict) -> JsonDict:
        """webhookCreate for the token's app: a target URL Saleor's URL validator refuses, or
        neither events nor a subscription query, come back as ``errors``; nothing is saved."""
        data = variables.get("input") or {}
        target = str(data.get("targetUrl") or "")
        events = list(data.get("asyncEvents") or [])
        errors = []
        if not re.match(r"^https?://[^\s/]+", target):
            errors.append(
                {"field": "targetUrl", "code": "INVALID", "message": "Enter a valid URL."}
            )
        if not events and not data.get("query"):
            errors.append(
                {"field": "asyncEvents", "code": "MISSING_EVENT",
                 "message": "At least one of asyncEvents, syncEvents or query is required."}
            )  # fmt: skip
        if errors:
            return {"webhookCreate": {"webhook": None, "errors": errors}}
        webhook = {
            "id": global_id("Webhook", next(self._ids)),
            "name": data.get("name") or "",
            "targetUrl": target,
            "isActive": data.get("isActive", True) is not False,
            "asyncEvents": events,
            "subscriptionQuery": data.get("query"),
        }
        self.webhooks.append(webhook)
        node = {
            "id": webhook["id"],
            "targetUrl": target,
            "asyncEvents": [{"eventType": event} for event in events],
        }
        return {"webhookCreate": {"webhook": node, "errors": []}}

    def _stock_nodes(self, variant: SaleorVariant) -> list[JsonDict]:
        return [
            {"warehouse": {"id": warehouse}, **stock}
            for (variant_id, warehouse), stock in self.stocks.items()
            if variant_id == variant.id
        ]

    def _product_node(self, product: SaleorProduct) -> JsonDict:
        return {"id": product.id, "name": product.name, "channelListings": product.listings}

    def _product_variants(self, variables: JsonDict) -> JsonDict:
        variants = self._variants()
        skus = ((variables.get("filter") or {}).get("sku")) or None
        if skus is not None:
            variants = [v for v in variants if v.sku in set(skus)]
        chunk, page_info = _page(
            variants, int(variables.get("first") or 100), variables.get("after")
        )
        edges = [
            {
                "node": {
                    "id": v.id,
                    "sku": v.sku,
                    "name": v.name,
                    "product": self._product_node(v.product),
                    "stocks": self._stock_nodes(v),
                }
            }
            for v in chunk
        ]
        return {
            "productVariants": {"edges": edges, "pageInfo": page_info, "totalCount": len(variants)}
        }

    def _stock_bulk_update(self, variables: JsonDict) -> JsonDict:
        """Saleor's rules: rows validated one by one, only existing stocks updated, results in
        input order; REJECT_FAILED_ROWS saves the clean rows, REJECT_EVERYTHING none."""
        for sku, quantity in self._before_mutation:
            self.set_quantity(sku, quantity)
        self._before_mutation.clear()
        policy = variables.get("errorPolicy") or "REJECT_EVERYTHING"
        rows = [self._bulk_row(row) for row in variables.get("stocks") or []]
        failed = any(errors for _stock, errors in rows)
        save = not failed or policy != "REJECT_EVERYTHING"
        results = []
        count = 0
        for stock_key, errors in rows:
            if errors or stock_key is None or not save:
                results.append({"stock": None, "errors": errors})
                continue
            quantity = stock_key[2]
            self.stocks[(stock_key[0], stock_key[1])]["quantity"] = quantity
            count += 1
            results.append({"stock": self._stock_payload(stock_key[0], stock_key[1]), "errors": []})
        if count:
            self.bulk_updates += 1
        return {"stockBulkUpdate": {"count": count, "results": results, "errors": []}}

    def _bulk_row(self, row: JsonDict) -> tuple[tuple[str, str, int] | None, list[JsonDict]]:
        variant_id = str(row.get("variantId") or "")
        warehouse_id = str(row.get("warehouseId") or "")
        quantity = int(row.get("quantity"))
        errors = []
        if _global_type(variant_id) != "ProductVariant":
            errors.append(_bulk_error("variantId", "Invalid variantId.", "INVALID"))
        if _global_type(warehouse_id) != "Warehouse":
            errors.append(_bulk_error("warehouseId", "Invalid warehouseId.", "INVALID"))
        if quantity < 0:
            errors.append(_bulk_error("quantity", "Quantity should not be less than 0.", "INVALID"))
        if errors:
            return None, errors
        if (variant_id, warehouse_id) not in self.stocks:
            return None, [_bulk_error(None, "Stock was not found.", "NOT_FOUND")]
        variant = next((v for v in self._variants() if v.id == variant_id), None)
        if variant is not None and variant.sku in self._rejections:
            return None, [_bulk_error("quantity", self._rejections[variant.sku], "INVALID")]
        return (variant_id, warehouse_id, quantity), []

    def _stock_payload(self, variant_id: str, warehouse_id: str) -> JsonDict:
        variant = next(v for v in self._variants() if v.id == variant_id)
        stock = self.stocks[(variant_id, warehouse_id)]
        return {
            "id": global_id("Stock", abs(hash((variant_id, warehouse_id))) % 10**6),
            "quantity": stock["quantity"],
            "warehouse": {"id": warehouse_id},
            "productVariant": {"id": variant.id, "sku": variant.sku},
        }


# Per operation: the root field and the permission it needs ("": an app's token is enough).
SALEOR_OPERATION_PERMISSIONS = {
    "OneFactVariantStocks": ("productVariants", "MANAGE_PRODUCTS"),
    "OneFactCatalog": ("productVariants", "MANAGE_PRODUCTS"),
    "OneFactStockBulkUpdate": ("stockBulkUpdate", "MANAGE_PRODUCTS"),
    "OneFactApp": ("app", ""),
    "OneFactWebhookCreate": ("webhookCreate", ""),
}
# WebhookEventTypeAsyncEnum values the fake knows (a part of Saleor's enum).
SALEOR_ASYNC_EVENTS = frozenset(
    {
        "ORDER_CREATED", "ORDER_UPDATED", "ORDER_CANCELLED", "ORDER_FULFILLED",
        "PRODUCT_CREATED", "PRODUCT_UPDATED", "PRODUCT_VARIANT_CREATED",
        "PRODUCT_VARIANT_UPDATED", "PRODUCT_VARIANT_STOCK_UPDATED",
        "PRODUCT_VARIANT_OUT_OF_STOCK", "PRODUCT_VARIANT_BACK_IN_STOCK",
    }
)  # fmt: skip


def _saleor_enum_refusal(variables: JsonDict) -> Reply | None:
    """An asyncEvents value outside the enum fails variable coercion: HTTP 400, no data."""
    events = ((variables.get("input") or {}).get("asyncEvents")) or []
    unknown = [event for event in events if event not in SALEOR_ASYNC_EVENTS]
    if not unknown:
        return None
    return _saleor_error(
        f"Variable '$input' got invalid value {unknown[0]!r} at 'input.asyncEvents'; Value "
        f"{unknown[0]!r} does not exist in 'WebhookEventTypeAsyncEnum' enum.",
        "GraphQLError",
        status=400,
    )


def saleor_order_payload(
    event_typename: str,
    order_number: int,
    lines: Sequence[tuple[str, int]],
    *,
    customer: tuple[str, str] | None = ("Grace", "Hopper"),
    issued_at: str = "2026-03-01T15:00:00+00:00",
) -> JsonDict:
    """ORDER_CREATED / ORDER_CANCELLED / ORDER_FULFILLED as SUBSCRIPTION_QUERY selects them.

    ``event_typename``: ``OrderCreated``, ``OrderCancelled`` or ``OrderFulfilled``;
    ``lines``: (sku, quantity). ``issued_at`` is fixed by default so event ids are predictable;
    a delivery through the webhook view needs a recent one (older ones are refused).
    """
    order_id = global_id("Order", f"0c1e9a40-0000-4000-8000-{order_number:012d}")
    return {
        "__typename": event_typename,
        "issuedAt": issued_at,
        "order": {
            "id": order_id,
            "number": str(order_number),
            "created": "2026-03-01T14:59:00+00:00",
            "updatedAt": issued_at,
            "userEmail": "grace@example.com",
            "user": {"firstName": customer[0], "lastName": customer[1]} if customer else None,
            "billingAddress": {"firstName": "Billing", "lastName": "Name"},
            "lines": [
                {
                    "id": global_id("OrderLine", f"line-{order_number}-{index}"),
                    "productSku": sku,
                    "quantity": quantity,
                    "variant": {"id": global_id("ProductVariant", index), "sku": sku},
                }
                for index, (sku, quantity) in enumerate(lines)
            ],
        },
    }


def _saleor_error(
    message: str, code: str, *, status: int = 200, data: JsonDict | None = None
) -> Reply:
    body: JsonDict = {"errors": [{"message": message, "extensions": {"exception": {"code": code}}}]}
    if data is not None:
        body["data"] = data
    return _json_reply(body, status=status)


def _saleor_formatted(error: GraphQLError, code: str) -> JsonDict:
    """A GraphQL error as Saleor's ``format_error`` writes it (graphql-core 2's shape)."""
    formatted: JsonDict = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": location.line, "column": location.column} for location in error.locations
        ]
    if error.path:
        formatted["path"] = list(error.path)
    formatted["extensions"] = {"exception": {"code": code}}
    return formatted


def _bulk_error(field_name: str | None, message: str, code: str) -> JsonDict:
    return {"field": field_name, "message": message, "code": code}


def _global_type(value: str) -> str | None:
    try:
        return base64.b64decode(value).decode().split(":", 1)[0]
    except ValueError:
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint, as newer Saleor uses for ``kid``."""
    entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    canonical = json.dumps(
        {"e": entry["e"], "kty": "RSA", "n": entry["n"]}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


# -- pytest fixtures -------------------------------------------------------------------------


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """A started, empty :class:`FakeShopify`, stopped after the test."""
    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def fake_saleor() -> Iterator[FakeSaleor]:
    """A started, empty :class:`FakeSaleor`, stopped after the test."""
    with FakeSaleor() as fake:
        yield fake
