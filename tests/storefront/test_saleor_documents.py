"""Every GraphQL document the Saleor adapter sends, against the published schema of every Saleor
version it supports and within Saleor's limits at the page sizes it uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inventory.storefront import saleor, saleor_documents
from inventory.storefront.base import LevelWrite, WriteStatus
from inventory.storefront.saleor import (
    MAX_BATCH,
    MAX_PAGE_SIZE,
    SUPPORTED_VERSIONS,
    SaleorAdapter,
)
from tests.storefront.fakes import FakeSaleor
from tests.storefront.saleor_graphql import (
    GRAPHQL_PAGINATION_LIMIT,
    GRAPHQL_QUERY_MAX_COMPLEXITY,
    VERSION_FILES,
    page_limit_breaches,
    query_cost,
    schema_errors,
)

# The variables of each document at the largest sizes the adapter sends: a full page, a full
# batch of SKUs filtered or written, a webhook for every event it reads.
LARGEST_VARIABLES = {
    "OneFactEvents": {},
    "OneFactVariantStocks": {
        "first": MAX_PAGE_SIZE,
        "after": "YXJyYXljb25uZWN0aW9uOjk5",
        "filter": {"sku": [f"SKU-{n}" for n in range(MAX_BATCH)]},
    },
    "OneFactCatalog": {"first": MAX_PAGE_SIZE, "after": "YXJyYXljb25uZWN0aW9uOjk5"},
    "OneFactStockBulkUpdate": {
        "stocks": [
            {
                "variantId": "UHJvZHVjdFZhcmlhbnQ6MQ==",
                "warehouseId": "V2FyZWhvdXNlOjE=",
                "quantity": 1,
            }
        ]
        * MAX_BATCH,
        "errorPolicy": "REJECT_FAILED_ROWS",
    },
    "OneFactApp": {},
    "OneFactWebhookCreate": {
        "input": {
            "name": saleor.WEBHOOK_NAME,
            "targetUrl": "https://onefact.example.com/webhooks/saleor-eu/",
            "asyncEvents": saleor.webhook_events(),
            "query": saleor.SUBSCRIPTION_QUERY,
            "isActive": True,
        }
    },
}
DOCUMENTS = saleor_documents.DOCUMENTS
CASES = [(version, name) for version in SUPPORTED_VERSIONS for name in DOCUMENTS]


def test_saleor_documents_cover_every_query_in_the_adapter() -> None:
    source = "".join(Path(module.__file__).read_text() for module in (saleor, saleor_documents))
    declared = set(re.findall(r"^(?:query|mutation|subscription) (OneFact\w+)", source, re.M))
    defined = {
        re.search(r"(?:query|mutation|subscription) (OneFact\w+)", document).group(1)
        for document in saleor_documents.DOCUMENTS.values()
    }
    assert declared == defined == set(saleor_documents.DOCUMENTS)
    assert set(saleor_documents.DOCUMENTS) == set(LARGEST_VARIABLES)


def test_saleor_supported_versions_each_have_a_vendored_schema() -> None:
    assert set(SUPPORTED_VERSIONS) == set(VERSION_FILES)


@pytest.mark.parametrize(("version", "name"), CASES)
def test_saleor_document_validates_against_the_published_schema(version: str, name: str) -> None:
    errors = schema_errors(version, saleor_documents.DOCUMENTS[name])
    assert not errors, f"{name} is not valid against Saleor {version}: " + "; ".join(
        error.message for error in errors
    )


@pytest.mark.parametrize(("version", "name"), CASES)
def test_saleor_document_is_within_the_complexity_limit(version: str, name: str) -> None:
    cost = query_cost(version, saleor_documents.DOCUMENTS[name], LARGEST_VARIABLES[name])
    assert cost <= GRAPHQL_QUERY_MAX_COMPLEXITY, (
        f"{name} costs {cost} on Saleor {version}, over {GRAPHQL_QUERY_MAX_COMPLEXITY}"
    )


@pytest.mark.parametrize(("version", "name"), CASES)
def test_saleor_document_is_within_the_pagination_limit(version: str, name: str) -> None:
    breaches = page_limit_breaches(
        version, saleor_documents.DOCUMENTS[name], LARGEST_VARIABLES[name]
    )
    assert not breaches, f"{name} on Saleor {version}: " + "; ".join(
        breach.message() for breach in breaches
    )


def test_saleor_page_sizes_obey_the_pagination_limit() -> None:
    assert MAX_PAGE_SIZE <= GRAPHQL_PAGINATION_LIMIT
    assert MAX_BATCH <= GRAPHQL_PAGINATION_LIMIT
    with pytest.raises(ValueError, match="page_size must be between 1 and 100"):
        SaleorAdapter(
            api_url="https://a.example/graphql/", token="t", warehouse_id="W", page_size=101
        )


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_saleor_adapter_sends_only_its_documents_and_the_fake_accepts_each(version: str) -> None:
    """Every operation, driven through the adapter against a fake as strict as Saleor: each
    request is one of ``saleor_documents.DOCUMENTS``, valid and within both limits (the fake
    answers no error)."""
    with FakeSaleor(version=version) as fake:
        fake.add_product("Mug", [(f"MUG-{n}", n) for n in range(150)])
        with SaleorAdapter(
            api_url=fake.api_url, token=fake.token, warehouse_id=fake.warehouse_id, version=version
        ) as adapter:
            cursor = None
            while True:
                page = adapter.read_levels(None, cursor)
                if (cursor := page.next_cursor) is None:
                    break
            assert adapter.read_catalog().next_cursor is not None
            writes = [
                LevelWrite(
                    sku=f"MUG-{n}",
                    quantity=n + 1,
                    expected=n,
                    idempotency_key=f"k-{n}",
                    reason="correction",
                    ledger_ref=f"onefact://movement/{n}",
                )
                for n in range(MAX_BATCH)
            ]
            assert {result.status for result in adapter.set_levels(writes)} == {WriteStatus.APPLIED}
            adapter.check_access()
            adapter.register_webhooks(url="https://onefact.example.com/webhooks/saleor-eu/")

        sent = {request.json["query"] for request in fake.operations()}
        answered = {operation for operation, _cost in fake.requested_costs}
        assert sent <= set(saleor_documents.DOCUMENTS.values())
        assert answered == set(saleor_documents.DOCUMENTS) - {"OneFactEvents"}
        assert len(fake.requested_costs) == len(fake.operations())
        assert fake.webhooks[0]["subscriptionQuery"] == saleor_documents.DOCUMENTS["OneFactEvents"]
        assert (
            max(cost for _operation, cost in fake.requested_costs) <= GRAPHQL_QUERY_MAX_COMPLEXITY
        )
