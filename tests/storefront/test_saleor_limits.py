"""The Saleor fake refuses what Saleor refuses: an invalid document, a query over
``GRAPHQL_QUERY_MAX_COMPLEXITY`` and a page over ``GRAPHQL_PAGINATION_LIMIT``, in Saleor's shapes;
the complexity is Saleor's (the expected costs are those of Saleor's own tests,
``saleor/graphql/core/tests/test_query_cost_validation.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from inventory.storefront.base import StorefrontValidationError
from inventory.storefront.saleor import SUPPORTED_VERSIONS, SaleorAdapter
from tests.storefront.fakes import FakeSaleor
from tests.storefront.saleor_graphql import (
    GRAPHQL_QUERY_MAX_COMPLEXITY,
    page_limit_breaches,
    query_cost,
)

VARIANTS_QUERY = """
query variantsQueryCost($ids: [ID!], $channel: String, $first: Int) {
  productVariants(ids: $ids, channel: $channel, first: $first) { edges { node { id } } }
}
"""

PRODUCTS_QUERY = """
query productsQueryCost($channel: String, $first: Int) {
  products(channel: $channel, first: $first) {
    edges { node { id category { products(channel: $channel, first: $first) {
      edges { node { id } } } } } }
  }
}
"""

PRODUCTS_QUERY_WITH_INLINE_FRAGMENT = """
query productsQueryCost($channel: String, $first: Int) {
  products(channel: $channel, first: $first) {
    edges { node { id category { ... on Category {
      products(channel: $channel, first: $first) { edges { node { id } } } } } } }
  }
}
"""

PRODUCTS_QUERY_WITH_FRAGMENT = """
fragment category on Category {
  products(channel: $channel, first: $first) { edges { node { id } } }
}
query productsQueryCost($channel: String, $first: Int) {
  products(channel: $channel, first: $first) { edges { node { id category { ...category } } } }
}
"""

PAGE_QUERY = """
query OneFactCatalog($first: Int!) { productVariants(first: $first) { edges { node { id } } } }
"""

INTERFACE_FRAGMENTS_QUERY = """
query Page($attributes: Int, $products: Int, $categories: Int) {
  page(slug: "about") {
    assignedAttributes(limit: $attributes) {
      ...AssignedInterface
      ... on AssignedMultiProductReferenceAttribute { value(limit: $products) { id } }
      ... on AssignedMultiCategoryReferenceAttribute { value(limit: $categories) { id } }
    }
  }
}
fragment AssignedInterface on AssignedAttribute { attribute { id } }
"""


@pytest.fixture
def fake() -> Iterator[FakeSaleor]:
    with FakeSaleor() as instance:
        instance.add_product("Mug", [("MUG-1", 5)])
        yield instance


def post(fake: FakeSaleor, query: str, variables: dict | None = None) -> httpx.Response:
    return httpx.post(
        fake.api_url,
        json={"query": query, "variables": variables or {}, "operationName": "OneFactCatalog"},
        headers={"Authorization": f"Bearer {fake.token}"},
        timeout=10,
    )


# -- complexity, as Saleor computes it ------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_query_cost_counts_each_aliased_field(version: str) -> None:
    fields = "\n".join(
        f"p{n}: productVariant(id: $id, channel: $channel) {{ id }}" for n in range(20)
    )
    query = f"query variantQueryCost($id: ID!, $channel: String) {{ {fields} }}"
    assert query_cost(version, query, {"id": "UHJvZHVjdFZhcmlhbnQ6MQ==", "channel": "c"}) == 20


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_query_cost_multiplies_by_first(version: str) -> None:
    assert query_cost(version, VARIANTS_QUERY, {"ids": ["x"], "first": 5}) == 5
    assert query_cost(version, VARIANTS_QUERY, {"ids": ["x"], "first": 100}) == 100


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize(
    "query", [PRODUCTS_QUERY, PRODUCTS_QUERY_WITH_INLINE_FRAGMENT, PRODUCTS_QUERY_WITH_FRAGMENT]
)
def test_query_cost_multiplies_nested_connections_through_fragments(
    version: str, query: str
) -> None:
    # products 10 + category 10 + the nested products 10 × 10
    assert query_cost(version, query, {"channel": "c", "first": 10}) == 120


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_query_cost_of_fragments_on_one_interface_takes_the_dearest(version: str) -> None:
    variables = {"attributes": 10, "products": 10, "categories": 10_000}
    # page 1, assignedAttributes 10, the interface's attribute 10, the dearest fragment 10 × 10,000
    assert query_cost(version, INTERFACE_FRAGMENTS_QUERY, variables) == 1 + 10 + 10 + 100_000


def test_query_cost_without_first_takes_no_multiplier() -> None:
    assert query_cost("3.24", VARIANTS_QUERY, {"ids": ["x"]}) == 1


def test_page_limit_breaches_name_the_field_and_the_argument() -> None:
    query = "query Q($last: Int) { products(last: $last) { edges { node { id } } } }"
    [breach] = page_limit_breaches("3.24", query, {"last": 101})
    assert breach.path == ("products",)
    assert breach.message() == (
        "Requesting 101 records on the `products` connection exceeds the `last` limit of 100 "
        "records."
    )
    assert page_limit_breaches("3.24", query, {"last": 100}) == []


# -- the fake refuses, in Saleor's shapes ----------------------------------------------------


def test_fake_saleor_refuses_a_page_over_the_pagination_limit(fake: FakeSaleor) -> None:
    query = PAGE_QUERY
    response = post(fake, query, {"first": 101})

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"productVariants": None}
    assert body["errors"] == [
        {
            "message": "Requesting 101 records on the `productVariants` connection exceeds the "
            "`first` limit of 100 records.",
            "path": ["productVariants"],
            "extensions": {"exception": {"code": "GraphQLError"}},
        }
    ]
    assert fake.requested_costs == []


def test_fake_saleor_refuses_a_query_over_the_complexity_limit(fake: FakeSaleor) -> None:
    fake.max_complexity = 10_000
    query = PRODUCTS_QUERY.replace("productsQueryCost", "OneFactCatalog")
    response = post(fake, query, {"channel": "c", "first": 100})  # 100 + 100 + 100 × 100

    assert response.status_code == 400
    cost = {"requestedQueryCost": 10_200, "maximumAvailable": 10_000}
    assert response.json() == {
        "errors": [
            {
                "message": "The query exceeds the maximum cost of 10000. Actual cost is 10200",
                "extensions": {"cost": cost, "exception": {"code": "QueryCostError"}},
            }
        ],
        "extensions": {"cost": cost},
    }
    assert fake.requested_costs == []


def test_fake_saleor_refuses_over_the_default_complexity_of_50000() -> None:
    fields = "\n".join(
        f"v{n}: productVariants(first: 100) {{ edges {{ node {{ product {{ id }} }} }} }}"
        for n in range(251)
    )  # 251 × (100 + 100) = 50,200
    with FakeSaleor() as fake:
        response = post(fake, f"query OneFactCatalog {{ {fields} }}")
    assert fake.max_complexity == GRAPHQL_QUERY_MAX_COMPLEXITY
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "The query exceeds the maximum cost of 50000. Actual cost is 50200"
    )
    assert response.json()["extensions"]["cost"]["requestedQueryCost"] == 50_200
    assert "data" not in response.json()


def test_fake_saleor_refuses_a_document_the_schema_does_not_have(fake: FakeSaleor) -> None:
    response = post(
        fake, "query OneFactCatalog { productVariants(first: 1) { edges { node { sku colour } } } }"
    )

    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    # graphql-core 3's wording; Saleor (graphql-core 2) quotes the names with "
    assert error["message"] == "Cannot query field 'colour' on type 'ProductVariant'."
    assert error["locations"] == [{"line": 1, "column": 71}]
    assert error["extensions"] == {"exception": {"code": "GraphQLError"}}


def test_fake_saleor_answers_with_the_requested_cost(fake: FakeSaleor) -> None:
    query = PAGE_QUERY
    body = post(fake, query, {"first": 7}).json()

    assert "errors" not in body
    assert body["extensions"] == {"cost": {"requestedQueryCost": 7, "maximumAvailable": 50_000}}
    assert fake.requested_costs == [("OneFactCatalog", 7)]


def test_saleor_adapter_reports_the_fakes_complexity_refusal(fake: FakeSaleor) -> None:
    fake.max_complexity = 200  # a catalog page of 100 costs 400, a levels page 100
    with SaleorAdapter(
        api_url=fake.api_url, token=fake.token, warehouse_id=fake.warehouse_id
    ) as adapter:
        with pytest.raises(
            StorefrontValidationError, match="exceeds the maximum cost of 200. Actual cost is 400"
        ):
            adapter.read_catalog()
        assert adapter.read_levels(None).items
