"""Write one example payload per Saleor event the adapter handles, from Saleor's schema.

Saleor's webhook body is the ``event`` object that the app's subscription selects, so the
documented shape of each payload is ``SUBSCRIPTION_QUERY`` (``inventory/storefront/saleor.py``)
resolved against Saleor's schema. This walks the subscription's selection set for each event type
(its ``__typename`` and the inline fragments that apply to it), keeps exactly the fields selected
and fills each leaf with a plausible value of the field's schema type: IDs are Saleor's global IDs
(``base64("<Type>:<n>")``), every list has two items, the n-th item's objects number ``n``.

Run from the project root when the subscription or the schema changes:

    DJANGO_DEBUG=1 python -m tests.storefront.payloads.saleor.generate [saleor-schema.graphql.gz]

The schema defaults to the copy vendored in ``tests/storefront/schemas/``.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
)

HERE = Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE.parents[1] / "schemas" / "saleor-schema-HEAD.graphql.gz"
ISSUED_AT = "2026-08-21T10:15:00+00:00"
LIST_LENGTH = 2

# Strings whose field name says what a plausible value is; the rest get "<Type> <field> <n>".
STRINGS = {
    "sku": "SKU-{n}",
    "productSku": "SKU-{n}",
    "name": "{type} {n}",
    "number": "100{n}",
    "userEmail": "ada@example.com",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "slug": "default-channel",
}
INTS: dict[str, Callable[[int], int]] = {
    "quantity": lambda n: n + 1,
    "quantityAllocated": lambda n: n - 1,
}


def event_payloads(schema: GraphQLSchema, subscription: str) -> dict[str, dict[str, Any]]:
    """``{event type name: payload}`` for every ``... on <Type>`` under ``event``."""
    document = parse(subscription)
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    (event_field,) = operation.selection_set.selections
    assert isinstance(event_field, FieldNode) and event_field.selection_set is not None
    payloads = {}
    for selection in event_field.selection_set.selections:
        if isinstance(selection, InlineFragmentNode) and selection.type_condition:
            type_name = selection.type_condition.name.value
            event_type = schema.get_type(type_name)
            assert isinstance(event_type, GraphQLObjectType), type_name
            payloads[type_name] = _object(
                schema, event_type, event_field.selection_set, fragments, n=1
            )
    return payloads


def _object(
    schema: GraphQLSchema,
    object_type: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    *,
    n: int,
) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for field in _fields(schema, object_type, selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        if field.name.value == "__typename":
            value[key] = object_type.name
            continue
        field_type = object_type.fields[field.name.value].type
        value[key] = _value(schema, object_type, field, field_type, fragments, n=n)
    return value


def _fields(
    schema: GraphQLSchema,
    object_type: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> list[FieldNode]:
    """The fields selected on ``object_type``: direct ones and those of fragments that apply."""
    fields: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            fields.append(selection)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            condition, nested = fragment.type_condition, fragment.selection_set
        else:
            assert isinstance(selection, InlineFragmentNode)
            condition, nested = selection.type_condition, selection.selection_set
        if condition is None or _applies(schema, condition.name.value, object_type):
            fields.extend(_fields(schema, object_type, nested, fragments))
    return fields


def _applies(schema: GraphQLSchema, condition: str, object_type: GraphQLObjectType) -> bool:
    if condition == object_type.name:
        return True
    return any(interface.name == condition for interface in object_type.interfaces)


def _value(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    field: FieldNode,
    field_type: GraphQLOutputType,
    fragments: dict[str, FragmentDefinitionNode],
    *,
    n: int,
) -> Any:
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    if isinstance(field_type, GraphQLList):
        return [
            _value(schema, parent, field, field_type.of_type, fragments, n=item)
            for item in range(1, LIST_LENGTH + 1)
        ]
    if isinstance(field_type, GraphQLObjectType):
        assert field.selection_set is not None, field.name.value
        return _object(schema, field_type, field.selection_set, fragments, n=n)
    if isinstance(field_type, GraphQLEnumType):
        return next(iter(field_type.values))
    assert isinstance(field_type, GraphQLScalarType), field_type
    return _scalar(parent.name, field.name.value, field_type.name, n=n)


def _scalar(type_name: str, field_name: str, scalar: str, *, n: int) -> Any:
    if scalar == "ID":
        return base64.b64encode(f"{type_name}:{n}".encode()).decode()
    if scalar == "DateTime":
        return ISSUED_AT
    if scalar == "Boolean":
        return True
    if scalar == "Int":
        return INTS[field_name](n) if field_name in INTS else n
    if scalar == "Float":
        return float(n)
    if scalar == "String":
        template = STRINGS.get(field_name, "{type} {field} {n}")
        return template.format(type=type_name, field=field_name, n=n)
    raise ValueError(f"no example value for {type_name}.{field_name}: {scalar}")


def event_file_name(type_name: str) -> str:
    """``OrderCreated`` → ``OrderCreated.json``."""
    return f"{type_name}.json"


def main(argv: list[str]) -> None:
    from inventory.storefront.saleor import SUBSCRIPTION_QUERY  # after django.setup()

    schema_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SCHEMA
    schema = build_schema(gzip.decompress(schema_path.read_bytes()).decode())
    for type_name, payload in event_payloads(schema, SUBSCRIPTION_QUERY).items():
        path = HERE / event_file_name(type_name)
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path.relative_to(Path.cwd())}")


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    main(sys.argv)
