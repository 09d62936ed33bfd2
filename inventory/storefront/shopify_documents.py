"""Every GraphQL document the Shopify adapter sends, by operation name in ``DOCUMENTS``.

The tests validate each against the oldest and newest supported Admin API schema and hold its
requested cost under the 1,000 points Shopify allows one query (docs/storefront-adapters.md)."""

from inventory.storefront.shopify_bulk import (
    BULK_OPERATION_QUERY,
    BULK_RUN_MUTATION,
    VARIANTS_COUNT_QUERY,
)

MAX_PAGE_SIZE = 250  # Shopify's limit on `first`

SET_ON_HAND_MUTATION = """
mutation OneFactSetOnHand($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id reason referenceDocumentUri }
    userErrors { code field message }
  }
}
"""

ITEMS_BY_SKU_QUERY = """
query OneFactInventoryItemsBySku($query: String!, $first: Int!, $after: String, $locationId: ID!) {
  inventoryItems(first: $first, after: $after, query: $query) {
    nodes {
      id
      sku
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["on_hand"]) { name quantity }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

LOCATION_LEVELS_QUERY = """
query OneFactLocationLevels($locationId: ID!, $first: Int!, $after: String) {
  location(id: $locationId) {
    inventoryLevels(first: $first, after: $after) {
      nodes {
        item { id sku }
        quantities(names: ["on_hand"]) { name quantity }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

CATALOG_QUERY = """
query OneFactCatalog($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    nodes {
      sku
      title
      product { title status }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

INVENTORY_ITEM_QUERY = """
query OneFactInventoryItem($id: ID!) {
  inventoryItem(id: $id) { id sku }
}
"""

# Reverse fulfillment orders of one return, with the first line items of each. Shopify charges a
# connection 2 + first × one node, nested connections multiplied: 5 orders × 40 lines cost 818
# points, under the 1,000 a query may request, and one call answers a usual return whole; longer
# orders continue with REVERSE_FULFILLMENT_ORDER_LINES_QUERY (200 lines: 803 points).
RETURN_ORDERS_PAGE_SIZE = 5
RETURN_LINES_PAGE_SIZE = 40
REVERSE_LINES_PAGE_SIZE = 200
RETURN_LINES_QUERY = """
query OneFactReturnLines($id: ID!, $first: Int!, $after: String, $lines: Int!) {
  return(id: $id) {
    id
    reverseFulfillmentOrders(first: $first, after: $after) {
      nodes {
        id
        lineItems(first: $lines) {
          nodes {
            id
            totalQuantity
            fulfillmentLineItem { lineItem { id sku } }
            dispositions { quantity type }
          }
          pageInfo { hasNextPage endCursor }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

REVERSE_FULFILLMENT_ORDER_LINES_QUERY = """
query OneFactReverseFulfillmentOrderLines($id: ID!, $first: Int!, $after: String) {
  reverseFulfillmentOrder(id: $id) {
    lineItems(first: $first, after: $after) {
      nodes {
        id
        totalQuantity
        fulfillmentLineItem { lineItem { id sku } }
        dispositions { quantity type }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# The line items of one return, for a returns/request or returns/approve delivery that lists none
# (Shopify's documented payloads carry only ``total_return_line_items``). They can be read from the
# moment the return is requested, before it has a reverse fulfillment order. One line item costs 4
# points (the node, its reason, its fulfillment line item and that one's order line): 200 a page
# request 803 points; a longer return continues with ``after``.
RETURN_LINE_ITEMS_PAGE_SIZE = 200
RETURN_LINE_ITEMS_QUERY = """
query OneFactReturnLineItems($id: ID!, $first: Int!, $after: String) {
  return(id: $id) {
    returnLineItems(first: $first, after: $after) {
      nodes {
        id
        quantity
        returnReasonDefinition { handle }
        ... on ReturnLineItem { fulfillmentLineItem { lineItem { id sku } } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

DISPOSE_MUTATION = """
mutation OneFactDisposeReturn($dispositionInputs: [ReverseFulfillmentOrderDisposeInput!]!) {
  reverseFulfillmentOrderDispose(dispositionInputs: $dispositionInputs) {
    reverseFulfillmentOrderLineItems { id dispositions { quantity type } }
    userErrors { code field message }
  }
}
"""


ACCESS_SCOPES_QUERY = """
query OneFactAccessScopes {
  currentAppInstallation { accessScopes { handle } }
}
"""

WEBHOOK_SUBSCRIPTIONS_QUERY = """
query OneFactWebhookSubscriptions($first: Int!, $after: String, $uri: String) {
  webhookSubscriptions(first: $first, after: $after, uri: $uri) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE_MUTATION = """
mutation OneFactWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


# Every document the adapter sends, by operation name (the tests validate each one against every
# supported schema version and hold its requested cost under MAX_QUERY_COST).
DOCUMENTS = {
    "OneFactSetOnHand": SET_ON_HAND_MUTATION,
    "OneFactInventoryItemsBySku": ITEMS_BY_SKU_QUERY,
    "OneFactLocationLevels": LOCATION_LEVELS_QUERY,
    "OneFactCatalog": CATALOG_QUERY,
    "OneFactInventoryItem": INVENTORY_ITEM_QUERY,
    "OneFactReturnLines": RETURN_LINES_QUERY,
    "OneFactReverseFulfillmentOrderLines": REVERSE_FULFILLMENT_ORDER_LINES_QUERY,
    "OneFactReturnLineItems": RETURN_LINE_ITEMS_QUERY,
    "OneFactDisposeReturn": DISPOSE_MUTATION,
    "OneFactAccessScopes": ACCESS_SCOPES_QUERY,
    "OneFactWebhookSubscriptions": WEBHOOK_SUBSCRIPTIONS_QUERY,
    "OneFactWebhookSubscriptionCreate": WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
    "OneFactVariantsCount": VARIANTS_COUNT_QUERY,
    "OneFactBulkLevelsRun": BULK_RUN_MUTATION,
    "OneFactBulkOperation": BULK_OPERATION_QUERY,
}
