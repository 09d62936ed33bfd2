"""Factories and small builders for drift-walk tests. Stock changes only through
``on_hand_adjust``; tasks open through the services, as in production."""

import itertools

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from driftwalks.models import CountTask
from driftwalks.services import CountLine, count_submit, count_task_open
from inventory.models import Discrepancy, Fact, OnHand, StockMovement, System
from inventory.services import discrepancy_record, on_hand_adjust
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
_events = itertools.count(1)


class CountTaskFactory(DjangoModelFactory):
    """A task row for list and query-count tests; real flows open tasks via the services."""

    class Meta:
        model = CountTask

    bin = factory.SubFactory(BinFactory)
    sku = factory.SubFactory(SkuFactory)
    cause = CountTask.Cause.MANUAL
    reason = "Asked for by a test"
    due_on = factory.LazyFunction(timezone.localdate)


def move(bin, sku, delta: int, kind: str = Kind.RECEIVE, at=None) -> StockMovement:
    """One movement through the one write path, with a fresh event id."""
    return on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=delta,
        kind=kind,
        source_system=System.objects.get(name="shelf"),
        source_event_id=f"test-{next(_events)}",
        at=at,
    )


def open_task(bin, sku, cause: str = CountTask.Cause.MANUAL, **kwargs) -> CountTask:
    return count_task_open(bin=bin, sku=sku, cause=cause, reason="test", **kwargs)[0]


def count(task: CountTask, counted: int, user, key: str | None = None):
    """Submit one task's count on its own sheet; returns the Count."""
    (result,) = count_submit(
        bin=task.bin,
        lines=[CountLine(sku=task.sku, counted=counted, task_id=task.pk)],
        counter=user,
        idempotency_key=key or f"key-{next(_events)}",
    )
    return result


def storefront_says(sku, storefront, units: int):
    """What an observing reconciliation records for a SKU the shelf has not counted: the
    storefront's number, in an open not-yet-counted discrepancy."""
    return discrepancy_record(
        kind=Discrepancy.Kind.NOT_YET_COUNTED,
        fact=Fact.ON_HAND,
        sku=sku,
        consumer=storefront,
        owner_value=0,
        consumer_value=units,
        detail=f"storefront says {units}, the shelf has not counted {sku.code} yet",
    )


def balance(bin, sku) -> int:
    """The shelf's number for (bin, SKU) now."""
    return OnHand.objects.get(bin=bin, sku=sku).quantity


def gap_asking_count(
    sku, bin=None, detail="storefront says 4, shelf says 10", kind="storefront_gap"
):
    """A discrepancy that asks for a count, as inventory records them."""
    return discrepancy_record(
        kind=kind,
        fact=Fact.ON_HAND,
        sku=sku,
        bin=bin,
        detail=detail,
        request_count=True,
        trigger="reconciliation",
    )
