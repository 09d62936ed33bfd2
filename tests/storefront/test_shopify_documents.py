"""Every GraphQL document the Shopify adapter sends, against Shopify's published schemas.

Each one must validate against every schema version vendored in ``schemas/`` (the oldest and the
newest the adapter supports) and request at most the 1,000 points Shopify allows a query, at the
page sizes the adapter uses: a real shop refuses anything else before running it.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from graphql import parse, validate

from inventory.storefront import shopify, shopify_documents
from inventory.storefront.shopify_documents import DOCUMENTS
from tests.storefront.fakes import (
    SHOPIFY_MAX_QUERY_COST,
    SHOPIFY_SCHEMA_VERSIONS,
    shopify_requested_cost,
    shopify_schema,
)

# The variables each operation is sent with at its largest (what decides its requested cost).
LARGEST_VARIABLES = {
    "OneFactSetOnHand": {},
    "OneFactInventoryItemsBySku": {"first": shopify.MAX_PAGE_SIZE},
    "OneFactLocationLevels": {"first": shopify.MAX_PAGE_SIZE},
    "OneFactCatalog": {"first": shopify.MAX_PAGE_SIZE},
    "OneFactInventoryItem": {},
    "OneFactReturnLines": {
        "first": shopify_documents.RETURN_ORDERS_PAGE_SIZE,
        "lines": shopify_documents.RETURN_LINES_PAGE_SIZE,
    },
    "OneFactReverseFulfillmentOrderLines": {"first": shopify_documents.REVERSE_LINES_PAGE_SIZE},
    "OneFactReturnLineItems": {"first": shopify_documents.RETURN_LINE_ITEMS_PAGE_SIZE},
    "OneFactDisposeReturn": {},
    "OneFactAccessScopes": {},
    "OneFactWebhookSubscriptions": {"first": shopify.MAX_PAGE_SIZE},
    "OneFactWebhookSubscriptionCreate": {},
    "OneFactVariantsCount": {"limit": 10_001},
    "OneFactBulkLevelsRun": {"query": "{ locations { edges { node { id } } } }"},
    "OneFactBulkOperation": {"id": "gid://shopify/BulkOperation/1"},
}


def _module_documents() -> dict[str, str]:
    """Every ``*_QUERY`` / ``*_MUTATION`` string of the Shopify adapter's modules."""
    modules = [shopify]
    if importlib.util.find_spec("inventory.storefront.shopify_bulk") is not None:
        modules.append(importlib.import_module("inventory.storefront.shopify_bulk"))
    return {
        f"{module.__name__}.{name}": value
        for module in modules
        for name, value in vars(module).items()
        if name.endswith(("_QUERY", "_MUTATION")) and isinstance(value, str)
    }


def test_documents_hold_every_document_the_adapter_modules_define() -> None:
    registered = set(DOCUMENTS.values())
    forgotten = sorted(name for name, text in _module_documents().items() if text not in registered)
    assert not forgotten, f"not in shopify_documents.DOCUMENTS (so never validated): {forgotten}"


def test_documents_are_named_by_their_operation() -> None:
    for name, document in DOCUMENTS.items():
        operations = [d.name.value for d in parse(document).definitions if hasattr(d, "operation")]
        assert operations == [name], f"{name}: the document defines {operations}"


@pytest.mark.parametrize("version", SHOPIFY_SCHEMA_VERSIONS)
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_supported_schema(name: str, version: str) -> None:
    errors = validate(shopify_schema(version), parse(DOCUMENTS[name]))
    assert not errors, f"{name} is invalid against Shopify Admin API {version}: " + "; ".join(
        error.message for error in errors
    )


def test_vendored_versions_are_the_oldest_and_newest_supported() -> None:
    supported = shopify.SUPPORTED_API_VERSIONS
    assert (SHOPIFY_SCHEMA_VERSIONS[0], SHOPIFY_SCHEMA_VERSIONS[-1]) == (
        supported[0],
        supported[-1],
    )
    assert supported[0] == shopify.MIN_API_VERSION
    assert shopify.DEFAULT_API_VERSION in supported


def test_largest_variables_cover_every_document() -> None:
    assert set(LARGEST_VARIABLES) == set(DOCUMENTS)


@pytest.mark.parametrize("version", SHOPIFY_SCHEMA_VERSIONS)
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_requests_at_most_shopifys_query_cost_limit(name: str, version: str) -> None:
    cost = shopify_requested_cost(
        DOCUMENTS[name], LARGEST_VARIABLES[name], version=version, operation_name=name
    )
    assert cost <= SHOPIFY_MAX_QUERY_COST == shopify.MAX_QUERY_COST, (
        f"{name} requests {cost} points on Shopify {version}, over {SHOPIFY_MAX_QUERY_COST}"
    )


@pytest.mark.parametrize("version", ["2025-10", "2025-01", "unstable", "2027-01"])
def test_adapter_refuses_an_unsupported_api_version(version: str) -> None:
    with pytest.raises(ValueError, match="2026-01") as caught:
        shopify.ShopifyAdapter(
            shop_url="https://x.myshopify.com",
            access_token="t",
            location_id="1",
            webhook_secret="s",
            api_version=version,
        )
    assert version in str(caught.value)


@pytest.mark.parametrize("version", shopify.SUPPORTED_API_VERSIONS)
def test_adapter_accepts_every_supported_api_version(version: str) -> None:
    adapter = shopify.ShopifyAdapter(
        shop_url="https://x.myshopify.com",
        access_token="t",
        location_id="1",
        webhook_secret="s",
        api_version=version,
    )
    assert adapter.endpoint.endswith(f"/admin/api/{version}/graphql.json")
    adapter.close()
