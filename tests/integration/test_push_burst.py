"""A burst of commits on one SKU through Redis and a real worker: coalesced into few
storefront writes, in order, ending at the shelf's number."""

import pytest

from inventory.models import StockMovement, SyncState
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MOVEMENTS = 120


def test_a_burst_on_one_sku_is_coalesced_in_order_and_ends_at_the_shelf(
    celery_live_worker, shopify, shelf, settings
):
    settings.ONEFACT_PUSH_COALESCE_SECONDS = 0.2
    shopify.fake.add_product("Mug", [("MUG-1", 0)])
    sku, bin = SkuFactory(code="MUG-1"), BinFactory(code="A-14")
    for n in range(MOVEMENTS):
        on_hand_adjust(bin=bin, sku=sku, delta=1, kind=StockMovement.Kind.RECEIVE,
                       source_system=shelf, source_event_id=f"burst-{n}")  # fmt: skip
    wait_for(lambda: SyncState.objects.filter(sku=sku, pushed_value=MOVEMENTS).exists(),
             timeout=60, what="the last version acknowledged")  # fmt: skip
    assert shopify.fake.on_hand("MUG-1") == MOVEMENTS
    writes = [
        q["quantity"]
        for r in shopify.fake.operations("OneFactSetOnHand")
        for q in r.json["variables"]["input"]["quantities"]
    ]
    assert writes == sorted(writes), "an older value overwrote a newer one"
    assert writes[-1] == MOVEMENTS
    assert len(writes) <= MOVEMENTS // 4, f"{len(writes)} storefront writes: not coalesced"
