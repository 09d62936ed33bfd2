"""SaleorAdapter against FakeSaleor (a local HTTP server speaking Saleor's GraphQL API)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from inventory.storefront.base import (
    AuthenticationFailed,
    CatalogItem,
    EventLine,
    EventType,
    Level,
    LevelWrite,
    Mirrors,
    RateLimited,
    StorefrontUnavailable,
    StorefrontValidationError,
    WebhookSignatureInvalid,
    WriteStatus,
)
from inventory.storefront.saleor import (
    SUBSCRIPTION_QUERY,
    SaleorAdapter,
    catalog_title,
    default_jwks_url,
)
from tests.storefront.fakes import FakeSaleor, SigningKey, global_id, saleor_order_payload


@pytest.fixture
def saleor() -> Iterator[FakeSaleor]:
    with FakeSaleor() as fake:
        fake.add_product("Mug", [("MUG-1", 5), ("MUG-2", 3, "Red")])
        fake.add_product("Cup", [("CUP-1", 7)], published=False)
        yield fake


def make_adapter(saleor: FakeSaleor, **overrides: object) -> SaleorAdapter:
    options: dict[str, object] = {
        "api_url": saleor.api_url,
        "token": saleor.token,
        "warehouse_id": saleor.warehouse_id,
        "timeout": 2.0,
    }
    options.update(overrides)
    return SaleorAdapter(**options)  # type: ignore[arg-type]


@pytest.fixture
def adapter(saleor: FakeSaleor) -> Iterator[SaleorAdapter]:
    with make_adapter(saleor) as instance:
        yield instance


def write(sku: str, quantity: int, expected: int | None) -> LevelWrite:
    return LevelWrite(
        sku=sku,
        quantity=quantity,
        expected=expected,
        idempotency_key=f"key-{sku}",
        reason="correction",
        ledger_ref="onefact://movement/1",
    )


def bulk_rows(saleor: FakeSaleor) -> list[list[dict]]:
    return [r.json["variables"]["stocks"] for r in saleor.operations("OneFactStockBulkUpdate")]


# -- capabilities and configuration ----------------------------------------------------------


def test_capabilities_declare_no_compare_and_set_and_on_hand() -> None:
    capabilities = SaleorAdapter.capabilities
    assert capabilities.compare_and_set is False
    assert capabilities.idempotency_keys is False
    assert capabilities.max_batch == 100
    assert capabilities.mirrors is Mirrors.ON_HAND


def test_default_jwks_url_is_on_the_api_origin() -> None:
    assert (
        default_jwks_url("https://shop.saleor.cloud/graphql/")
        == "https://shop.saleor.cloud/.well-known/jwks.json"
    )
    adapter = SaleorAdapter(
        api_url="https://a.example/graphql/",
        token="t",
        warehouse_id="W",
        jwks_url="https://keys.example/jwks.json",
    )
    assert adapter.jwks_url == "https://keys.example/jwks.json"
    adapter.close()


# -- set_levels ------------------------------------------------------------------------------


def test_set_levels_reports_applied_stale_not_found_and_rejected_in_one_batch(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.set_quantity("MUG-2", 9)  # someone else changed it: our expected 3 is stale
    saleor.reject_sku("CUP-1")
    saleor.add_product("Bowl", [("BOWL-1", None)])  # a variant with no stock in our warehouse

    results = adapter.set_levels(
        [
            write("MUG-1", 10, 5),
            write("MUG-2", 4, 3),
            write("NOPE-1", 1, None),
            write("CUP-1", 2, 7),
            write("BOWL-1", 1, None),
        ]
    )

    assert [r.status for r in results] == [
        WriteStatus.APPLIED,
        WriteStatus.STALE,
        WriteStatus.NOT_FOUND,
        WriteStatus.REJECTED,
        WriteStatus.NOT_FOUND,
    ]
    assert [r.sku for r in results] == ["MUG-1", "MUG-2", "NOPE-1", "CUP-1", "BOWL-1"]
    assert results[1].actual == 9
    assert "maximum" in results[3].message
    assert saleor.quantity("MUG-1") == 10
    assert saleor.quantity("MUG-2") == 9
    assert saleor.quantity("CUP-1") == 7
    # the stale and unknown rows never reach the write
    (rows,) = bulk_rows(saleor)
    assert [row["variantId"] for row in rows] == [
        saleor.variant("MUG-1").id,
        saleor.variant("CUP-1").id,
    ]


def test_set_levels_reads_then_writes_by_variant_id_with_reject_failed_rows(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    adapter.set_levels([write("MUG-1", 8, 5), write("MUG-2", 1, None)])

    operations = [r.operation for r in saleor.operations()]
    assert operations == ["OneFactVariantStocks", "OneFactStockBulkUpdate"]
    read = saleor.operations("OneFactVariantStocks")[0].json["variables"]
    assert read["filter"] == {"sku": ["MUG-1", "MUG-2"]}
    (mutation,) = saleor.operations("OneFactStockBulkUpdate")
    assert mutation.json["variables"]["errorPolicy"] == "REJECT_FAILED_ROWS"
    assert mutation.json["variables"]["stocks"] == [
        {
            "variantId": saleor.variant("MUG-1").id,
            "warehouseId": saleor.warehouse_id,
            "quantity": 8,
        },
        {
            "variantId": saleor.variant("MUG-2").id,
            "warehouseId": saleor.warehouse_id,
            "quantity": 1,
        },
    ]
    assert mutation.headers["authorization"] == f"Bearer {saleor.token}"
    assert saleor.quantity("MUG-1") == 8
    assert saleor.quantity("MUG-2") == 1


def test_set_levels_stale_rows_are_not_written_at_all(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.set_quantity("MUG-1", 6)

    (result,) = adapter.set_levels([write("MUG-1", 10, 5)])

    assert result.status is WriteStatus.STALE
    assert result.actual == 6
    assert saleor.quantity("MUG-1") == 6
    assert saleor.operations("OneFactStockBulkUpdate") == []


def test_set_levels_without_expected_skips_the_compare(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.set_quantity("MUG-1", 40)

    (result,) = adapter.set_levels([write("MUG-1", 4, None)])

    assert result.status is WriteStatus.APPLIED
    assert saleor.quantity("MUG-1") == 4


def test_set_levels_cannot_see_a_change_between_read_and_write(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    """Saleor has no conditional write: a change after our read is overwritten (documented)."""
    saleor.change_before_next_mutation("MUG-1", 8)

    (result,) = adapter.set_levels([write("MUG-1", 10, 5)])

    assert result.status is WriteStatus.APPLIED
    assert saleor.quantity("MUG-1") == 10


def test_set_levels_rejects_a_sku_written_twice_in_one_batch(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    results = adapter.set_levels([write("MUG-1", 6, 5), write("MUG-1", 7, 6)])

    assert [r.status for r in results] == [WriteStatus.APPLIED, WriteStatus.REJECTED]
    assert saleor.quantity("MUG-1") == 6


def test_set_levels_refuses_more_than_100_writes(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    with pytest.raises(ValueError, match="100"):
        adapter.set_levels([write(f"SKU-{n}", 1, None) for n in range(101)])
    assert saleor.requests == []


def test_set_levels_of_nothing_sends_nothing(saleor: FakeSaleor, adapter: SaleorAdapter) -> None:
    assert adapter.set_levels([]) == []
    assert saleor.requests == []


# -- reads -----------------------------------------------------------------------------------


def test_read_levels_pages_over_all_variants(saleor: FakeSaleor) -> None:
    saleor.add_product("Plate", [("PLATE-1", 11), ("PLATE-2", 12), ("PLATE-3", None)])
    adapter = make_adapter(saleor, page_size=2)

    pages = []
    cursor = None
    while True:
        page = adapter.read_levels(None, cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(pages) == 3
    assert [level for items in pages for level in items] == [
        Level("MUG-1", 5),
        Level("MUG-2", 3),
        Level("CUP-1", 7),
        Level("PLATE-1", 11),
        Level("PLATE-2", 12),
    ]
    assert all(r.json["variables"]["first"] == 2 for r in saleor.operations())


def test_read_levels_for_skus_filters_by_sku(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, page_size=1)

    first = adapter.read_levels(["CUP-1", "MUG-2", "NOPE"])
    second = adapter.read_levels(["CUP-1", "MUG-2", "NOPE"], first.next_cursor)

    assert first.items + second.items == [Level("MUG-2", 3), Level("CUP-1", 7)]
    assert second.next_cursor is None
    sent = saleor.operations("OneFactVariantStocks")[0].json["variables"]["filter"]
    assert sent == {"sku": ["CUP-1", "MUG-2", "NOPE"]}


def test_read_levels_for_an_empty_sku_list_sends_nothing(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    assert adapter.read_levels([]).items == []
    assert saleor.requests == []


def test_read_catalog_pages_and_uses_channel_listings(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, page_size=2)

    first = adapter.read_catalog()
    second = adapter.read_catalog(first.next_cursor)

    assert first.items == [
        CatalogItem("MUG-1", "Mug", True),
        CatalogItem("MUG-2", "Mug - Red", True),
    ]
    assert second.items == [CatalogItem("CUP-1", "Cup", False)]  # not published
    assert second.next_cursor is None


def test_read_catalog_active_only_in_the_configured_channel(saleor: FakeSaleor) -> None:
    saleor.add_product("Vase", [("VASE-1", 1)], channel="eu-channel")
    saleor.add_product("Lamp", [("LAMP-1", 1)], available_for_purchase=False)

    anywhere = {item.sku: item.active for item in make_adapter(saleor).read_catalog().items}
    in_default = {
        item.sku: item.active
        for item in make_adapter(saleor, channel="default-channel").read_catalog().items
    }

    assert anywhere["VASE-1"] is True and in_default["VASE-1"] is False
    assert anywhere["LAMP-1"] is False and in_default["LAMP-1"] is False
    assert in_default["MUG-1"] is True


def test_catalog_title_joins_product_and_variant_names() -> None:
    assert catalog_title("Mug", "") == "Mug"
    assert catalog_title("Mug", "Mug") == "Mug"
    assert catalog_title("Mug", "Red") == "Mug - Red"


# -- errors ----------------------------------------------------------------------------------


def test_http_429_raises_rate_limited_with_retry_after(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.rate_limit_next(retry_after="7")

    with pytest.raises(RateLimited) as caught:
        adapter.read_levels(None)

    assert caught.value.retry_after == 7.0
    assert caught.value.retryable is True


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_raise_storefront_unavailable(
    saleor: FakeSaleor, adapter: SaleorAdapter, status: int
) -> None:
    saleor.fail_next(status=status)

    with pytest.raises(StorefrontUnavailable):
        adapter.read_catalog()
    assert adapter.read_catalog().items


def test_timeout_raises_storefront_unavailable(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, timeout=0.2)
    saleor.delay_next(seconds=1.0)

    with pytest.raises(StorefrontUnavailable, match="in time"):
        adapter.read_levels(None)


def test_a_failure_during_the_write_raises_after_the_read(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.fail_next(status=503, operation="OneFactStockBulkUpdate")

    with pytest.raises(StorefrontUnavailable):
        adapter.set_levels([write("MUG-1", 10, 5)])
    assert saleor.quantity("MUG-1") == 5


def test_http_401_raises_authentication_failed(saleor: FakeSaleor, adapter: SaleorAdapter) -> None:
    saleor.unauthorized_next()

    with pytest.raises(AuthenticationFailed) as caught:
        adapter.read_catalog()
    assert caught.value.retryable is False


def test_permission_denied_raises_authentication_failed(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, token="revoked-token")

    with pytest.raises(AuthenticationFailed, match="MANAGE_PRODUCTS"):
        adapter.set_levels([write("MUG-1", 10, 5)])


def test_other_graphql_errors_raise_validation_error(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.graphql_error_next(code="GraphQLError", message="Cannot query field 'foo'.")

    with pytest.raises(StorefrontValidationError, match="foo"):
        adapter.read_catalog()


# -- webhook signatures ----------------------------------------------------------------------


def order_webhook(saleor: FakeSaleor, **kwargs: object) -> tuple[bytes, dict[str, str]]:
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)])
    return saleor.webhook("ORDER_CREATED", payload, **kwargs)  # type: ignore[arg-type]


def test_verify_webhook_accepts_saleors_detached_jws(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor)
    protected = headers["Saleor-Signature"].split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(protected + "=="))

    adapter.verify_webhook(body, headers)

    assert header["b64"] is False and header["crit"] == ["b64"]
    assert header["kid"] == saleor.signing_key.kid
    assert saleor.jwks_fetches == 1


def test_verify_webhook_accepts_the_legacy_header_without_crit(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor, legacy=True)

    adapter.verify_webhook(body, headers)


def test_verify_webhook_accepts_an_encoded_payload_signature(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor)
    key = saleor.signing_key
    protected = _b64url(json.dumps({"alg": "RS256", "kid": key.kid}).encode())
    signing_input = f"{protected}.{_b64url(body)}".encode()
    signature = key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    headers["Saleor-Signature"] = f"{protected}..{_b64url(signature)}"

    adapter.verify_webhook(body, headers)


def test_verify_webhook_rejects_a_changed_body(saleor: FakeSaleor, adapter: SaleorAdapter) -> None:
    body, headers = order_webhook(saleor)

    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(body.replace(b'"quantity": 2', b'"quantity": 20'), headers)


def test_verify_webhook_rejects_a_missing_signature(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor)
    del headers["Saleor-Signature"]

    with pytest.raises(WebhookSignatureInvalid, match="missing"):
        adapter.verify_webhook(body, headers)


@pytest.mark.parametrize("signature", ["garbage", "a.b.c", "e30..e30", "..", "x.y"])
def test_verify_webhook_rejects_malformed_signatures(
    saleor: FakeSaleor, adapter: SaleorAdapter, signature: str
) -> None:
    body, headers = order_webhook(saleor)
    headers["Saleor-Signature"] = signature

    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(body, headers)


def test_verify_webhook_rejects_a_key_saleor_does_not_publish(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    forger = SigningKey(
        kid=saleor.signing_key.kid,
        private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    body, headers = order_webhook(saleor, key=forger)

    with pytest.raises(WebhookSignatureInvalid, match="does not match"):
        adapter.verify_webhook(body, headers)


def test_verify_webhook_rejects_a_symmetric_algorithm(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor)
    protected = _b64url(json.dumps({"alg": "HS256", "kid": saleor.signing_key.kid}).encode())
    headers["Saleor-Signature"] = f"{protected}..{_b64url(b'x' * 32)}"

    with pytest.raises(WebhookSignatureInvalid, match="algorithm"):
        adapter.verify_webhook(body, headers)


def test_verify_webhook_caches_the_jwks(saleor: FakeSaleor, adapter: SaleorAdapter) -> None:
    for _ in range(3):
        adapter.verify_webhook(*order_webhook(saleor))

    assert saleor.jwks_fetches == 1


def test_verify_webhook_fetches_the_jwks_again_when_the_cache_expires(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, jwks_cache_seconds=0)

    adapter.verify_webhook(*order_webhook(saleor))
    adapter.verify_webhook(*order_webhook(saleor))

    assert saleor.jwks_fetches == 2


def test_verify_webhook_refetches_once_after_a_key_rotation(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, jwks_refetch_min_interval=0)
    adapter.verify_webhook(*order_webhook(saleor))
    old_kid = saleor.signing_key.kid

    saleor.rotate_signing_key()
    adapter.verify_webhook(*order_webhook(saleor))

    assert saleor.signing_key.kid != old_kid
    assert saleor.jwks_fetches == 2


def test_verify_webhook_refetches_after_a_rotation_that_keeps_the_kid(saleor: FakeSaleor) -> None:
    """Older Saleor versions publish every key as kid "1"."""
    adapter = make_adapter(saleor, jwks_refetch_min_interval=0)
    adapter.verify_webhook(*order_webhook(saleor))

    saleor.rotate_signing_key(keep_kid=True)
    adapter.verify_webhook(*order_webhook(saleor))

    assert saleor.jwks_fetches == 2


def test_verify_webhook_unknown_kid_fails_after_one_refetch(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor, jwks_refetch_min_interval=0)
    adapter.verify_webhook(*order_webhook(saleor))
    stranger = SigningKey(
        kid="unknown-kid",
        private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )

    with pytest.raises(WebhookSignatureInvalid, match="unknown-kid"):
        adapter.verify_webhook(*order_webhook(saleor, key=stranger))
    assert saleor.jwks_fetches == 2


def test_verify_webhook_does_not_refetch_a_jwks_fetched_moments_ago(saleor: FakeSaleor) -> None:
    adapter = make_adapter(saleor)  # default: no refetch within 5 s of the last fetch
    adapter.verify_webhook(*order_webhook(saleor))
    saleor.rotate_signing_key()

    with pytest.raises(WebhookSignatureInvalid):
        adapter.verify_webhook(*order_webhook(saleor))
    assert saleor.jwks_fetches == 1


def test_verify_webhook_with_jwks_down_raises_storefront_unavailable(saleor: FakeSaleor) -> None:
    saleor.jwks_status = 503
    adapter = make_adapter(saleor)

    with pytest.raises(StorefrontUnavailable):
        adapter.verify_webhook(*order_webhook(saleor))


# -- parse_events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "typename", "event_type"),
    [
        ("ORDER_CREATED", "OrderCreated", EventType.ORDER_PLACED),
        ("ORDER_CANCELLED", "OrderCancelled", EventType.ORDER_CANCELLED),
        ("ORDER_FULFILLED", "OrderFulfilled", EventType.ORDER_FULFILLED),
    ],
)
def test_parse_events_maps_order_events(
    saleor: FakeSaleor, adapter: SaleorAdapter, event: str, typename: str, event_type: EventType
) -> None:
    payload = saleor_order_payload(typename, 12, [("MUG-1", 2), ("CUP-1", 1)])
    body, headers = saleor.webhook(event, payload)
    assert headers["Saleor-Event"] == event.lower()  # what Saleor sends

    (parsed,) = adapter.parse_events(body, headers)

    order = payload["order"]
    assert parsed.type is event_type
    assert parsed.order_ref == order["id"]
    assert parsed.customer_name == "Grace Hopper"
    assert parsed.occurred_at == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert parsed.lines == [
        EventLine(sku="MUG-1", quantity=2, line_ref=order["lines"][0]["id"]),
        EventLine(sku="CUP-1", quantity=1, line_ref=order["lines"][1]["id"]),
    ]
    assert parsed.event_id == f"{event}:{order['id']}:2026-03-01T15:00:00+00:00"


def test_parse_events_redelivery_keeps_the_event_id_and_a_new_event_does_not(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    payload = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)])
    later = saleor_order_payload("OrderCreated", 12, [("MUG-1", 2)], issued_at="2026-03-02T00:00Z")

    first = adapter.parse_events(*saleor.webhook("ORDER_CREATED", payload))[0]
    retry = adapter.parse_events(*saleor.webhook("ORDER_CREATED", payload))[0]
    other = adapter.parse_events(*saleor.webhook("ORDER_CREATED", later))[0]

    assert first.event_id == retry.event_id
    assert first.event_id != other.event_id


def test_parse_events_customer_falls_back_to_the_billing_address(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    payload = saleor_order_payload("OrderCreated", 3, [("MUG-1", 1)], customer=None)

    (parsed,) = adapter.parse_events(*saleor.webhook("ORDER_CREATED", payload))

    assert parsed.customer_name == "Billing Name"


def test_parse_events_maps_a_stock_update_in_our_warehouse(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    saleor.set_quantity("MUG-1", 12)
    payload = saleor.stock_updated_payload("MUG-1")

    (parsed,) = adapter.parse_events(*saleor.webhook("PRODUCT_VARIANT_STOCK_UPDATED", payload))

    assert parsed.type is EventType.INVENTORY_CHANGED
    assert parsed.quantity == 12
    assert parsed.lines == [
        EventLine(sku="MUG-1", quantity=12, line_ref=saleor.variant("MUG-1").id)
    ]


def test_parse_events_ignores_a_stock_update_in_another_warehouse(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    payload = saleor.stock_updated_payload("MUG-1")
    payload["warehouse"] = {"id": global_id("Warehouse", "another")}

    assert adapter.parse_events(*saleor.webhook("PRODUCT_VARIANT_STOCK_UPDATED", payload)) == []


def test_parse_events_maps_a_variant_update_to_a_catalog_item(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    payload = saleor.variant_updated_payload("MUG-2")

    (parsed,) = adapter.parse_events(*saleor.webhook("PRODUCT_VARIANT_UPDATED", payload))

    assert parsed.type is EventType.CATALOG_CHANGED
    assert parsed.catalog == [CatalogItem("MUG-2", "Mug - Red", True)]


def test_parse_events_maps_a_product_update_to_all_its_variants(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    payload = saleor.product_updated_payload(saleor.products[1])

    (parsed,) = adapter.parse_events(*saleor.webhook("PRODUCT_UPDATED", payload))

    assert parsed.type is EventType.CATALOG_CHANGED
    assert parsed.catalog == [CatalogItem("CUP-1", "Cup", False)]
    assert parsed.event_id.startswith(f"PRODUCT_UPDATED:{saleor.products[1].id}:")


def test_parse_events_uses_the_typename_without_an_event_header(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = saleor.webhook(
        "ORDER_CANCELLED", saleor_order_payload("OrderCancelled", 4, [("MUG-1", 1)])
    )
    del headers["Saleor-Event"]

    (parsed,) = adapter.parse_events(body, headers)

    assert parsed.type is EventType.ORDER_CANCELLED


def test_parse_events_header_lookup_is_case_insensitive(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = order_webhook(saleor)
    lowered = {name.lower(): value for name, value in headers.items()}

    adapter.verify_webhook(body, lowered)
    assert adapter.parse_events(body, lowered)[0].type is EventType.ORDER_PLACED


def test_parse_events_ignores_events_we_do_not_map(
    saleor: FakeSaleor, adapter: SaleorAdapter
) -> None:
    body, headers = saleor.webhook("CUSTOMER_CREATED", {"__typename": "CustomerCreated"})

    assert adapter.parse_events(body, headers) == []


def test_subscription_query_selects_what_parse_events_reads() -> None:
    for fragment in (
        "... on OrderCreated",
        "... on OrderCancelled",
        "... on OrderFulfilled",
        "... on ProductVariantStockUpdated",
        "... on ProductVariantUpdated",
        "... on ProductUpdated",
        "issuedAt",
        "productSku",
        "channelListings",
        "quantityAllocated",
    ):
        assert fragment in SUBSCRIPTION_QUERY


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
