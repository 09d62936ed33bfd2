"""Cut the vendors' published schemas down to what the connect operations touch.

Run from the repository root: ``DJANGO_DEBUG=1 python -m tests.storefront.schemas.make_subsets
<folder>``, where the folder holds ``shopify-admin_2026-10.json.gz`` (the Admin API
introspection shipped in npm ``@shopify/dev-mcp`` 1.16.0, ``dist/data/admin_2026-10.json.gz``)
and ``saleor-schema-HEAD.graphql.gz`` (``saleor/graphql/schema.graphql`` of saleor/saleor,
gzipped). Each subset is an introspection result holding the types the operations use, with
only the fields they select (all arguments, input fields and enum values kept, descriptions
dropped), so ``graphql-core`` can validate the operations against it in the tests without the
multi-megabyte originals.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from graphql import (
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    build_schema,
    get_introspection_query,
    get_named_type,
    graphql_sync,
    parse,
    visit,
)

HERE = Path(__file__).parent


def _operations() -> dict[str, tuple[str, list[str]]]:
    """Subset file → (published schema file, the operations it must validate)."""
    from inventory.storefront import saleor, shopify_documents  # after django.setup()

    return {
        "shopify-connect-2026-10.json": (
            "shopify-admin_2026-10.json.gz",
            [
                shopify_documents.ACCESS_SCOPES_QUERY,
                shopify_documents.WEBHOOK_SUBSCRIPTIONS_QUERY,
                shopify_documents.WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
            ],
        ),
        "saleor-connect-HEAD.json": (
            "saleor-schema-HEAD.graphql.gz",
            [saleor.APP_QUERY, saleor.WEBHOOK_CREATE_MUTATION, saleor.SUBSCRIPTION_QUERY],
        ),
    }


def _full_schema(path: Path):
    with gzip.open(path) as compressed:
        text = compressed.read().decode()
    if path.name.endswith(".json.gz"):
        data = json.loads(text)
        return build_client_schema(data.get("data", data)), data.get("data", data)
    schema = build_schema(text)
    return schema, graphql_sync(schema, get_introspection_query()).data


def _used_fields(schema, documents: list[str]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    info = TypeInfo(schema)

    class Collect(Visitor):
        def enter_field(self, node, *_):
            parent = info.get_parent_type()
            if parent is not None:
                used.setdefault(parent.name, set()).add(node.name.value)

        def enter_variable_definition(self, node, *_):
            used.setdefault(get_named_type(info.get_input_type()).name, set())

    for document in documents:
        visit(parse(document), TypeInfoVisitor(info, Collect()))
    return used


def _named(type_ref: dict) -> str:
    while type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    return type_ref["name"]


def subset(full: dict, used: dict[str, set[str]]) -> dict:
    types = {t["name"]: t for t in full["__schema"]["types"]}
    roots = {
        (full["__schema"].get(k) or {}).get("name")
        for k in ("queryType", "mutationType", "subscriptionType")
    }
    keep: dict[str, dict] = {}
    pending = [name for name in list(used) + [r for r in roots if r]]
    while pending:
        name = pending.pop()
        if name in keep or name not in types:
            continue
        original = types[name]
        kept = dict(original)
        if original.get("fields") is not None:
            wanted = set(used.get(name, set()))
            for interface in original.get("interfaces") or []:
                wanted |= used.get(interface["name"], set())  # what the interface asks for
            kept["fields"] = [f for f in original["fields"] if f["name"] in wanted or
                              (f["name"] == "id" and name not in roots)]  # fmt: skip
            if not kept["fields"]:
                kept["fields"] = original["fields"][:1]
            for f in kept["fields"]:
                pending.append(_named(f["type"]))
                pending += [_named(a["type"]) for a in f.get("args") or []]
        for f in original.get("inputFields") or []:
            pending.append(_named(f["type"]))
        if original.get("interfaces"):
            kept["interfaces"] = [i for i in original["interfaces"] if i["name"] in used]
        if original.get("possibleTypes"):
            kept["possibleTypes"] = [p for p in original["possibleTypes"] if p["name"] in used]
            pending += [p["name"] for p in kept["possibleTypes"]]
        keep[name] = kept
    schema = dict(full["__schema"])
    schema["types"] = sorted(keep.values(), key=lambda t: t["name"])
    schema["directives"] = [d for d in schema.get("directives") or []
                            if d["name"] in ("include", "skip", "deprecated")]  # fmt: skip
    for directive in schema["directives"]:
        for arg in directive.get("args") or []:
            name = _named(arg["type"])
            if name not in keep:
                schema["types"].append(types[name])
    return {"__schema": schema}


def _without_descriptions(value):
    if isinstance(value, dict):
        return {k: (None if k == "description" else _without_descriptions(v))
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def main(folder: str) -> None:
    for target, (source, documents) in _operations().items():
        schema, full = _full_schema(Path(folder) / source)
        cut = _without_descriptions(subset(full, _used_fields(schema, documents)))
        build_client_schema(cut)  # still a schema
        (HERE / target).write_text(json.dumps(cut, sort_keys=True, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    import django

    django.setup()
    main(sys.argv[1])
