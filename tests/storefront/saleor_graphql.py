"""Saleor's published schema and its two request limits, as Saleor itself applies them.

The schemas and cost maps are vendored in ``schemas/`` (see its README), one per supported
version. Saleor (``saleor/graphql/views.py``) refuses a request in this order:

1. a document that does not validate against the schema: HTTP 400, ``errors`` only;
2. a document whose *complexity* is over ``GRAPHQL_QUERY_MAX_COMPLEXITY`` (50,000 by default):
   HTTP 400, a ``QueryCostError`` with ``extensions.cost`` (``requestedQueryCost``,
   ``maximumAvailable``), before anything runs;
3. while running, a connection asked for more than ``GRAPHQL_PAGINATION_LIMIT`` (100) records
   with ``first`` or ``last``: HTTP 200, that field ``null`` and a ``GraphQLError`` naming it
   (``saleor/graphql/core/connection.py``, ``_validate_slice_args``).

:func:`query_cost` is Saleor's ``CostValidator`` (``saleor/graphql/core/validators/
query_cost.py``) on graphql-core 3: a field listed in the cost map costs its ``complexity``
times the product of the multipliers above it and its own (the sum of its ``first``/``last``);
a field not listed costs nothing but its children still count; of the fragments spread at one
level only the dearest type counts. The fake and the tests use these same functions, so what a
test holds under the limit is what the fake accepts.
"""

from __future__ import annotations

import ast
import gzip
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, reduce
from operator import add, mul
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    build_schema,
    get_named_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

SCHEMAS = Path(__file__).parent / "schemas"
# Saleor version (major.minor) → the vendored schema and cost map of that line.
VERSION_FILES = {
    "3.23": ("saleor-schema-3.23.28.graphql.gz", "saleor-query_cost_map-3.23.28.py.gz"),
    "3.24": ("saleor-schema-HEAD.graphql.gz", "saleor-query_cost_map-HEAD.py.gz"),
}
GRAPHQL_PAGINATION_LIMIT = 100  # saleor/settings.py
GRAPHQL_QUERY_MAX_COMPLEXITY = 50_000  # saleor/settings.py, the environment's default

CostAwareNode = (
    FieldNode
    | FragmentDefinitionNode
    | FragmentSpreadNode
    | InlineFragmentNode
    | OperationDefinitionNode
)


@cache
def saleor_schema(version: str) -> GraphQLSchema:
    """The published schema of a supported Saleor version (built once per process)."""
    schema_file, _cost_file = VERSION_FILES[version]
    with gzip.open(SCHEMAS / schema_file) as compressed:
        return build_schema(compressed.read().decode())


@cache
def saleor_cost_map(version: str) -> dict[str, dict[str, Any]]:
    """``COST_MAP`` of that version's ``saleor/graphql/query_cost_map.py``, read as a literal
    (the module is data: nothing in it is run)."""
    _schema_file, cost_file = VERSION_FILES[version]
    with gzip.open(SCHEMAS / cost_file) as compressed:
        module = ast.parse(compressed.read().decode())
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COST_MAP" for target in statement.targets
        ):
            return ast.literal_eval(statement.value)
    raise ValueError(f"{cost_file} has no COST_MAP")


@cache
def parsed(document: str) -> DocumentNode:
    return parse(document)


@cache
def schema_errors(version: str, document: str) -> tuple[GraphQLError, ...]:
    """The errors graphql-core's standard rules find in ``document`` against ``version``."""
    return tuple(validate(saleor_schema(version), parsed(document)))


def query_cost(version: str, document: str, variables: Mapping[str, Any] | None = None) -> int:
    """The complexity Saleor computes for ``document`` with ``variables``."""
    return _CostCounter(version, parsed(document), dict(variables or {})).total()


@dataclass(frozen=True)
class PageLimitBreach:
    """A connection asked for more records than Saleor's pagination limit."""

    field_name: str  # the schema's name of the field (Saleor's message uses it, not an alias)
    argument: str  # "first" or "last"
    requested: int
    path: tuple[str, ...]  # response keys from the root to the field

    def message(self, limit: int = GRAPHQL_PAGINATION_LIMIT) -> str:
        """Saleor's wording (``_validate_slice_args``)."""
        return (
            f"Requesting {self.requested} records on the `{self.field_name}` connection "
            f"exceeds the `{self.argument}` limit of {limit} records."
        )


def page_limit_breaches(
    version: str,
    document: str,
    variables: Mapping[str, Any] | None = None,
    *,
    limit: int = GRAPHQL_PAGINATION_LIMIT,
) -> list[PageLimitBreach]:
    """Every field of the operation whose ``first`` or ``last`` is over ``limit``."""
    schema = saleor_schema(version)
    ast_document = parsed(document)
    fragments = {
        node.name.value: node
        for node in ast_document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    breaches: list[PageLimitBreach] = []
    coerced: Any = None

    def walk(selection_set: Any, parent: Any, path: tuple[str, ...]) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                fields = getattr(parent, "fields", {})
                field = fields.get(selection.name.value)
                if field is None:
                    continue
                key = (selection.alias or selection.name).value
                arguments = _arguments(field, selection, coerced)
                for name in ("first", "last"):
                    value = arguments.get(name)
                    if isinstance(value, int) and value > limit:
                        breaches.append(
                            PageLimitBreach(selection.name.value, name, value, (*path, key))
                        )
                walk(selection.selection_set, get_named_type(field.type), (*path, key))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                walk(
                    selection.selection_set,
                    schema.get_type(condition.name.value) if condition else parent,
                    path,
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    target = schema.get_type(fragment.type_condition.name.value)
                    walk(fragment.selection_set, target, path)

    for operation in ast_document.definitions:
        if isinstance(operation, OperationDefinitionNode):
            coerced = _coerced(schema, operation, variables or {})
            walk(operation.selection_set, _root_type(schema, operation.operation), ())
    return breaches


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLObjectType | None:
    if operation is OperationType.MUTATION:
        return schema.mutation_type
    if operation is OperationType.SUBSCRIPTION:
        return schema.subscription_type
    return schema.query_type


def _coerced(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> Any:
    """The operation's variables coerced to their declared types (graphql-core's own type for
    them), or None when they do not fit (Saleor refuses those when the operation runs)."""
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables))
    return None if isinstance(coerced, list) else coerced


def _arguments(field: Any, node: FieldNode, variables: Any) -> dict:
    """The field's argument values (``variables`` from :func:`_coerced`); arguments given as
    null take their declared default, as Saleor's ``update_empty_args_with_default`` does."""
    try:
        values = dict(get_argument_values(field, node, variables))
    except GraphQLError:
        return {}  # variables that do not fit: refused when the operation runs, not here
    for name, value in values.items():
        default = field.args[name].default_value if name in field.args else Undefined
        if value is None and default is not Undefined and default is not None:
            values[name] = default
    return values


class _CostCounter:
    """Saleor's ``CostValidator.compute_node_cost`` (default cost 0, default complexity 1)."""

    def __init__(self, version: str, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = saleor_schema(version)
        self.cost_map = saleor_cost_map(version)
        self.variables = variables
        self.coerced: Any = None
        self.fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.operations = [
            node for node in document.definitions if isinstance(node, OperationDefinitionNode)
        ]

    def total(self) -> int:
        total = 0
        for operation in self.operations:
            self.coerced = _coerced(self.schema, operation, self.variables)
            total += self.node_cost(operation, _root_type(self.schema, operation.operation), [])
        return total

    def node_cost(self, node: CostAwareNode, type_def: Any, parent_multipliers: list[int]) -> int:
        if isinstance(node, FragmentSpreadNode) or not node.selection_set:
            return 0
        fields = (
            type_def.fields
            if isinstance(type_def, GraphQLObjectType | GraphQLInterfaceType)
            else {}
        )
        total = 0
        fragment_costs: dict[str, int] = defaultdict(int)
        fragment_interfaces: dict[str, set[str]] = defaultdict(set)
        for child in node.selection_set.selections:
            multipliers = parent_multipliers[:]
            child_cost = 0
            if isinstance(child, FieldNode):
                field = fields.get(child.name.value)
                if field is None:
                    continue
                entry = self.cost_map.get(type_def.name, {}).get(child.name.value)
                if entry:
                    arguments = _arguments(field, child, self.coerced)
                    own = self.multipliers(entry.get("multipliers") or [], arguments)
                    if own:
                        multipliers = [*multipliers, reduce(add, own, 0)]
                    complexity = entry.get("complexity", 1)
                    child_cost = reduce(mul, multipliers, complexity)
                child_cost += self.node_cost(child, get_named_type(field.type), multipliers)
            elif isinstance(child, FragmentSpreadNode | InlineFragmentNode):
                if isinstance(child, FragmentSpreadNode):
                    fragment = self.fragments.get(child.name.value)
                    if fragment is None:
                        continue
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    body: CostAwareNode = fragment
                else:
                    condition = child.type_condition
                    target = self.schema.get_type(condition.name.value) if condition else type_def
                    body = child
                if target is None:
                    continue
                fragment_costs[target.name] += self.node_cost(body, target, multipliers)
                if isinstance(target, GraphQLObjectType) and target.interfaces:
                    fragment_interfaces[target.name].update(i.name for i in target.interfaces)
            total += child_cost
        if fragment_costs:
            for name, interfaces in fragment_interfaces.items():
                fragment_costs[name] += sum(fragment_costs.get(i, 0) for i in interfaces)
            total += max(fragment_costs.values(), default=0)
        return total

    @staticmethod
    def multipliers(names: list[str], arguments: dict[str, Any]) -> list[int]:
        """Saleor's ``get_multipliers_from_string``: integer argument values above zero."""
        found = []
        for accessor in names:
            value: Any = arguments
            for key in accessor.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            try:
                found.append(int(value))
            except (TypeError, ValueError):
                continue
        return [value for value in found if value > 0]
