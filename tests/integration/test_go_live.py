"""The first day of a store that already sells, end to end, on PostgreSQL.

A storefront holds 50 SKUs and 647 units; OneFact is fresh, its catalog pulled, no bin
counted. Reconciliation runs three ways (the button, the command, beat's task) and the whole
beat schedule runs once: the storefront still holds 647 units. 30 SKUs are counted (some up,
some down, one to zero) through the counts import: the go-live preview lists exactly those
30 changes; confirming sends exactly them, and the other 20 stay untouched and listed as not
yet counted. Once for the demo storefront, once for the Shopify fake.
"""

from contextlib import contextmanager

import pytest
from celery.utils.imports import symbol_by_name
from django.conf import settings as django_settings
from django.core.management import call_command

from driftwalks.imports import counts_import
from inventory import selectors
from inventory.models import Discrepancy, Sku, System
from inventory.services import catalog_pull, storefront_go_live, storefront_reconcile
from inventory.services.imports import REJECT
from inventory.storefront.demo.models import DemoLevel
from tests.factories import BinFactory

pytestmark = pytest.mark.usefixtures("postgres", "ledger_clean")

CODES = [f"SHOP-{i:03}" for i in range(50)]
STOCK = dict(zip(CODES, [(i * 7) % 23 + 2 for i in range(50)], strict=True))
STOCK[CODES[-1]] += 647 - sum(STOCK.values())


@contextmanager
def _tasks_in_process(settings):
    """Celery tasks (and the groups they start) run here and now, as beat's would on a
    worker: the test reads their effect when the call returns."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


class DemoStore:
    def __init__(self, storefront: System) -> None:
        self.system = storefront
        DemoLevel.objects.bulk_create(
            [DemoLevel(sku_code=c, title=f"Item {c}", quantity=q) for c, q in STOCK.items()]
        )

    def levels(self) -> dict[str, int]:
        return dict(
            DemoLevel.objects.filter(sku_code__in=CODES).values_list("sku_code", "quantity")
        )


class ShopifyStore:
    def __init__(self, system: System) -> None:
        self.system = system
        system.fake.add_product("Opening range", list(STOCK.items()))

    def levels(self) -> dict[str, int]:
        return {c: self.system.fake.on_hand(c) for c in CODES}


@pytest.fixture(params=["demo", "shopify"])
def store(request, db):
    if request.param == "demo":
        made = DemoStore(System.objects.get(name="storefront"))
    else:
        made = ShopifyStore(request.getfixturevalue("shopify"))
    # A storefront that connects observes (the test world makes the seeded ones live).
    System.objects.filter(pk=made.system.pk).update(sync_mode=System.SyncMode.OBSERVE)
    made.system.refresh_from_db()
    return made


def _reconcile_three_ways_and_run_beat(client, manager_user, store, settings) -> None:
    with _tasks_in_process(settings):
        client.force_login(manager_user)
        assert client.post("/reconcile/").status_code == 302  # the button
        call_command("reconcile")  # the command
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values():  # beat, every task
            symbol_by_name(entry["task"]).apply().get()


def _counts_csv(counted: dict[str, int]) -> str:
    rows = [f"A-{n % 5:02},{code},{quantity}" for n, (code, quantity) in enumerate(counted.items())]
    return "bin,sku,counted\n" + "\n".join(rows) + "\n"


def test_a_store_that_already_sells_goes_live_without_losing_a_sale(
    store, client, manager_user, staff_user, settings
):
    for n in range(5):
        BinFactory(code=f"A-{n:02}", zone="A", walk_order=n)
    catalog_pull(storefront=store.system)
    assert Sku.objects.filter(code__in=CODES).count() == 50

    _reconcile_three_ways_and_run_beat(client, manager_user, store, settings)
    assert store.levels() == STOCK and sum(store.levels().values()) == 647
    waiting = Discrepancy.objects.open().filter(kind=Discrepancy.Kind.NOT_YET_COUNTED)
    assert waiting.filter(consumer=store.system).count() == 50  # listed, once each

    # The opening stock-take of 30 SKUs: some above the storefront, some below, one at zero.
    counted = {code: STOCK[code] + (3 if n % 2 else -1) for n, code in enumerate(CODES[:30])}
    counted[CODES[0]] = 0
    report = counts_import(text=_counts_csv(counted), mode=REJECT, counter=staff_user,
                           batch="opening")  # fmt: skip
    # The shelf held nothing: 29 corrections and one count that confirms none is there; an
    # opening count is the first word, with nothing for a recount to protect.
    assert (len(report.corrected), len(report.confirmed)) == (29, 1)
    assert not report.recount and not report.approval
    assert selectors.readiness_for(storefront=store.system).skus_known == 30
    assert store.levels() == STOCK  # observing: nothing written

    storefront_reconcile(storefront=store.system, preview=True)
    preview = selectors.preview_for(storefront=store.system)
    assert {code: (value, before) for _, code, value, before in preview.writes} == {
        code: (quantity, STOCK[code]) for code, quantity in counted.items()
    }
    assert (preview.skus_zeroed, preview.skus_raised + preview.skus_lowered) == (1, 30)

    storefront_go_live(storefront=store.system, preview=preview, actor=manager_user,
                       reason="opening stock-take of the first 30 SKUs done")  # fmt: skip
    levels = store.levels()
    assert {c: levels[c] for c in CODES[:30]} == counted
    assert {c: levels[c] for c in CODES[30:]} == {c: STOCK[c] for c in CODES[30:]}
    corrected = Discrepancy.objects.filter(
        kind=Discrepancy.Kind.STOREFRONT_GAP, consumer=store.system, corrected_at__isnull=False
    )
    assert sorted(corrected.values_list("sku__code", flat=True)) == CODES[:30]
    assert (
        sorted(waiting.filter(consumer=store.system).values_list("sku__code", flat=True))
        == CODES[30:]
    )

    # Live from now on: the next runs leave the 20 uncounted alone.
    _reconcile_three_ways_and_run_beat(client, manager_user, store, settings)
    levels = store.levels()
    assert {c: levels[c] for c in CODES[30:]} == {c: STOCK[c] for c in CODES[30:]}
    assert {c: levels[c] for c in CODES[:30]} == counted
