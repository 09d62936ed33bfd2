"""Every GraphQL document the Saleor adapter sends, by operation name in ``DOCUMENTS``;
the tests validate each against the published schema of every supported version."""

SUBSCRIPTION_QUERY = """
subscription OneFactEvents {
  event {
    __typename
    issuedAt
    ... on OrderCreated { order { ...OneFactOrder } }
    ... on OrderCancelled { order { ...OneFactOrder } }
    ... on OrderFulfilled { order { ...OneFactOrder } }
    ... on ProductVariantStockUpdated {
      warehouse { id }
      productVariant { id sku stocks { warehouse { id } quantity quantityAllocated } }
    }
    ... on ProductVariantUpdated { productVariant { ...OneFactVariant } }
    ... on ProductUpdated {
      product {
        id
        name
        channelListings { channel { slug } isPublished isAvailableForPurchase }
        variants { id sku name }
      }
    }
  }
}

fragment OneFactOrder on Order {
  id
  number
  created
  updatedAt
  userEmail
  user { firstName lastName }
  billingAddress { firstName lastName }
  lines { id productSku quantity variant { id sku } }
}

fragment OneFactVariant on ProductVariant {
  id
  sku
  name
  product {
    id
    name
    channelListings { channel { slug } isPublished isAvailableForPurchase }
  }
}
"""

VARIANT_STOCKS_QUERY = """
query OneFactVariantStocks($first: Int!, $after: String, $filter: ProductVariantFilterInput) {
  productVariants(first: $first, after: $after, filter: $filter) {
    edges {
      node {
        id
        sku
        stocks { warehouse { id } quantity quantityAllocated }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CATALOG_QUERY = """
query OneFactCatalog($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    edges {
      node {
        id
        sku
        name
        product {
          id
          name
          channelListings { channel { slug } isPublished isAvailableForPurchase }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

STOCK_BULK_UPDATE_MUTATION = """
mutation OneFactStockBulkUpdate($stocks: [StockBulkUpdateInput!]!, $errorPolicy: ErrorPolicyEnum) {
  stockBulkUpdate(stocks: $stocks, errorPolicy: $errorPolicy) {
    count
    results {
      errors { field code message }
      stock { id quantity warehouse { id } productVariant { id sku } }
    }
    errors { field code message }
  }
}
"""


# The app the token belongs to (``app`` without an id), its permissions and its webhooks (an
# app may read its own webhooks).
APP_QUERY = """
query OneFactApp {
  app {
    id
    name
    permissions { code }
    webhooks { id targetUrl isActive asyncEvents { eventType } }
  }
}
"""

WEBHOOK_CREATE_MUTATION = """
mutation OneFactWebhookCreate($input: WebhookCreateInput!) {
  webhookCreate(input: $input) {
    webhook { id targetUrl asyncEvents { eventType } }
    errors { field code message }
  }
}
"""

# Every document the adapter sends, by operation name (``SUBSCRIPTION_QUERY`` is sent as the
# webhook's ``query``; Saleor runs it for each event). The tests validate each one against every
# supported version's schema and hold it under Saleor's limits at the page sizes used here.
DOCUMENTS = {
    "OneFactEvents": SUBSCRIPTION_QUERY,
    "OneFactVariantStocks": VARIANT_STOCKS_QUERY,
    "OneFactCatalog": CATALOG_QUERY,
    "OneFactStockBulkUpdate": STOCK_BULK_UPDATE_MUTATION,
    "OneFactApp": APP_QUERY,
    "OneFactWebhookCreate": WEBHOOK_CREATE_MUTATION,
}
