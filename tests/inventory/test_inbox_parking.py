"""An inbox event that fails in the worker is retried with backoff a bounded number of times,
then parked as failed for a manager to see and retry; the sweep never stops on one event."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Commitment, InboxEvent
from inventory.services import inbox_process, inbox_record, inbox_retry
from inventory.services.inbound import inbox_backoff
from inventory.storefront.base import (
    EventLine,
    EventType,
    InboundEvent,
    StorefrontUnavailable,
    StorefrontValidationError,
)
from inventory.storefront.events import event_to_json
from inventory.tasks import sweep_inbox_task


def _placed(order: str, quantity: int = 1) -> InboundEvent:
    return InboundEvent(
        event_id=f"{order}:placed",
        type=EventType.ORDER_PLACED,
        occurred_at=None,
        order_ref=order,
        lines=[EventLine(sku="SKU-1", quantity=quantity, line_ref="1")],
    )


def _stored(storefront, event: InboundEvent) -> InboxEvent:
    """Stored as an older OneFact stored it: past the door that refuses such values now."""
    row = InboxEvent.objects.create(
        system=storefront, event_id=event.event_id, type=str(event.type),
        payload=event_to_json(event),
    )  # fmt: skip
    InboxEvent.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    return row


def _make_due(*rows: InboxEvent) -> None:
    """Time passes: every waiting retry is due."""
    InboxEvent.objects.filter(pk__in=[r.pk for r in rows]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def poison_between_two_good(storefront, stocked_bin):
    first = _stored(storefront, _placed("D-1"))
    poison = _stored(storefront, _placed("D-2", quantity=10**30))
    last = _stored(storefront, _placed("D-3"))
    return first, poison, last


def test_sweep_processes_the_events_around_a_poison_one_and_parks_it_after_its_attempts(
    poison_between_two_good, settings
):
    settings.ONEFACT_INBOX_MAX_ATTEMPTS = 3
    first, poison, last = poison_between_two_good
    assert sweep_inbox_task() == 3
    first.refresh_from_db(), poison.refresh_from_db(), last.refresh_from_db()
    assert first.status == last.status == InboxEvent.Status.PROCESSED
    assert sorted(Commitment.objects.values_list("order_ref", flat=True)) == ["D-1", "D-3"]
    assert (poison.status, poison.attempts) == (InboxEvent.Status.PENDING, 1)
    assert poison.next_attempt_at > timezone.now()
    assert poison.last_error and poison.result.startswith("waiting to retry: ")

    assert sweep_inbox_task() == 0  # not due yet: the sweep leaves it be
    for attempt in (2, 3):
        _make_due(poison)
        assert sweep_inbox_task() == 1
        poison.refresh_from_db()
        assert poison.attempts == attempt
    assert poison.status == InboxEvent.Status.FAILED
    assert poison.result.startswith("parked after 3 attempts: ")
    assert poison.next_attempt_at is None
    _make_due(poison)
    assert sweep_inbox_task() == 0  # parked: only a manager's Retry brings it back
    assert not Commitment.objects.filter(order_ref="D-2").exists()


def test_sweep_parks_an_order_ref_postgresql_refuses_and_processes_the_rest(
    postgres, storefront, stocked_bin, settings
):
    """The report's second poison: ``value too long`` (SQLite does not enforce lengths)."""
    settings.ONEFACT_INBOX_MAX_ATTEMPTS = 1
    first = _stored(storefront, _placed("D-1"))
    poison = _stored(storefront, replace(_placed("O" * 10_000), event_id="D-2:placed"))
    last = _stored(storefront, _placed("D-3"))
    assert sweep_inbox_task() == 3
    statuses = InboxEvent.objects.in_bulk([first.pk, poison.pk, last.pk])
    assert statuses[first.pk].status == statuses[last.pk].status == InboxEvent.Status.PROCESSED
    assert statuses[poison.pk].status == InboxEvent.Status.FAILED
    assert "DataError" in statuses[poison.pk].last_error
    assert Commitment.objects.count() == 2


def test_sweep_goes_on_to_later_events_while_a_poison_one_waits(
    poison_between_two_good, storefront
):
    sweep_inbox_task()
    later = _stored(storefront, _placed("D-4"))
    assert sweep_inbox_task() == 1
    later.refresh_from_db()
    assert later.status == InboxEvent.Status.PROCESSED


def test_retry_after_the_payload_is_fixed_processes_the_parked_event(
    poison_between_two_good, settings
):
    settings.ONEFACT_INBOX_MAX_ATTEMPTS = 1
    _, poison, _ = poison_between_two_good
    sweep_inbox_task()
    poison.refresh_from_db()
    assert poison.status == InboxEvent.Status.FAILED
    assert inbox_retry(pk=poison.pk).status == InboxEvent.Status.FAILED  # still poison
    InboxEvent.objects.filter(pk=poison.pk).update(payload=event_to_json(_placed("D-2", 2)))
    retried = inbox_retry(pk=poison.pk)
    assert (retried.status, retried.attempts) == (InboxEvent.Status.PROCESSED, 0)
    assert Commitment.objects.get(order_ref="D-2").quantity == 2
    assert inbox_retry(pk=poison.pk) is None  # processed: nothing to retry


def test_a_storefront_that_cannot_answer_is_retried_with_backoff_then_parked(
    storefront, stocked_bin, settings, monkeypatch
):
    from inventory.services import orders

    settings.ONEFACT_INBOX_MAX_ATTEMPTS = 2

    def unavailable(**kwargs):
        raise StorefrontUnavailable("timed out")

    monkeypatch.setattr(orders, "order_placed", unavailable)
    row = _stored(storefront, _placed("D-9"))
    inbox_process(pk=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (InboxEvent.Status.PENDING, 1)
    assert row.result == "waiting to retry: StorefrontUnavailable: timed out"
    inbox_process(pk=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (InboxEvent.Status.FAILED, 2)


def test_a_storefront_refusal_fails_the_event_at_once_with_its_reason(
    storefront, stocked_bin, monkeypatch
):
    from inventory.services import orders

    def refused(**kwargs):
        raise StorefrontValidationError("return 7 does not exist")

    monkeypatch.setattr(orders, "order_placed", refused)
    row = _stored(storefront, _placed("D-9"))
    inbox_process(pk=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (InboxEvent.Status.FAILED, 0)
    assert row.last_error == "StorefrontValidationError: return 7 does not exist"


def test_inbox_backoff_doubles_from_thirty_seconds_and_is_capped_at_an_hour():
    waits = [inbox_backoff(n).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_inbox_record_schedules_good_events_untouched_by_the_new_fields(storefront, sku):
    (row,) = inbox_record(system=storefront, events=[_placed("D-5")])
    assert (row.attempts, row.next_attempt_at, row.last_error) == (0, None, "")


# The managers' page and dashboard ------------------------------------------------------------


@pytest.fixture
def parked(poison_between_two_good, settings):
    settings.ONEFACT_INBOX_MAX_ATTEMPTS = 1
    sweep_inbox_task()
    return poison_between_two_good[1]


def test_inbox_failed_page_lists_each_parked_event_with_its_summary_and_error(
    client, manager_user, parked, django_assert_max_num_queries
):
    client.force_login(manager_user)
    with django_assert_max_num_queries(8):
        response = client.get("/inbox/failed/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 storefront event could not be processed" in page
    assert "order D-2" in page and "10000000000000000000 × SKU-1" in page  # cut at 20
    assert parked.event_id in page and "Retry" in page
    parked.refresh_from_db()
    assert parked.last_error.split(":")[0] in page


def test_inbox_failed_page_keeps_its_queries_whatever_the_number_of_events(
    client, manager_user, storefront, django_assert_max_num_queries
):
    for n in range(30):
        row = _stored(storefront, _placed(f"F-{n}"))
        InboxEvent.objects.filter(pk=row.pk).update(status=InboxEvent.Status.FAILED)
    client.force_login(manager_user)
    with django_assert_max_num_queries(8):
        response = client.get("/inbox/failed/?page=2")
    assert "30 storefront events could not be processed" in response.content.decode()


def test_inbox_retry_button_processes_the_event_after_a_fix(client, manager_user, parked):
    InboxEvent.objects.filter(pk=parked.pk).update(payload=event_to_json(_placed("D-2", 1)))
    client.force_login(manager_user)
    response = client.post(f"/inbox/{parked.pk}/retry/", follow=True)
    assert response.status_code == 200
    parked.refresh_from_db()
    assert parked.status == InboxEvent.Status.PROCESSED
    assert "0 storefront events could not be processed" in response.content.decode()


def test_inbox_failed_page_and_retry_are_for_managers(client, staff_user, parked):
    client.force_login(staff_user)
    assert client.get("/inbox/failed/").status_code == 403
    assert client.post(f"/inbox/{parked.pk}/retry/").status_code == 403
    parked.refresh_from_db()
    assert parked.status == InboxEvent.Status.FAILED


def test_dashboard_says_how_many_storefront_events_are_parked(client, manager_user, parked):
    client.force_login(manager_user)
    page = client.get("/dashboard/").content.decode()
    assert 'data-figure="inbox_failed"' in page
    assert "storefront event could not be processed" in page
    assert "/inbox/failed/" in page


def test_dashboard_shows_no_parked_figure_when_none_is_parked(client, manager_user, storefront):
    client.force_login(manager_user)
    assert 'data-figure="inbox_failed"' not in client.get("/dashboard/").content.decode()
