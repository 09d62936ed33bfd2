"""Who decides a count waiting for a manager: never whoever counted or recounted it, unless
``ONEFACT_COUNT_SOLE_MANAGER`` is on and they are the only one who may approve counts. The
rule lives in the service; the pages show it before anyone types a reason."""

import pytest

from driftwalks.exceptions import CountRefused
from driftwalks.models import CountTask
from driftwalks.services import (
    COUNTED_IT,
    SOLE_CONFIRMATION,
    count_task_decide,
    count_task_decision_right,
)
from inventory.models import OnHand, StockMovement
from inventory.roles import ADMINS, MANAGERS
from tests.driftwalks.factories import count, move, open_task
from tests.factories import UserFactory

Status = CountTask.Status
pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def recounted_by_manager(bin, sku, staff_user, manager_user):
    """50 on record; staff counted 38, the manager's blind recount agreed: -12, to decide."""
    move(bin, sku, 50)
    task = open_task(bin, sku)
    count(task, 38, staff_user)
    count(task, 38, manager_user)
    task.refresh_from_db()
    assert task.status == Status.APPROVAL_REQUIRED
    return task


def _balance(bin, sku) -> int:
    return OnHand.objects.get(bin=bin, sku=sku).quantity


def test_count_task_decision_right_refuses_whoever_counted_or_recounted(
    recounted_by_manager, manager_user, staff_user
):
    counted_by = {c.counted_by_id for c in recounted_by_manager.counts.all()}
    for user in (manager_user, staff_user):
        right = count_task_decision_right(counted_by=counted_by, actor=user)
        assert (right.allowed, right.refusal, right.alone) == (False, COUNTED_IT, False)
    other = UserFactory(username="manager-2", group=MANAGERS)
    assert count_task_decision_right(counted_by=counted_by, actor=other).allowed


def test_count_task_decide_refuses_the_recounting_manager_even_alone_when_the_setting_is_off(
    recounted_by_manager, bin, sku, manager_user
):
    with pytest.raises(CountRefused, match=COUNTED_IT):
        count_task_decide(task=recounted_by_manager, approve=True, reason="mine",
                          actor=manager_user, alone_confirmed=True)  # fmt: skip
    recounted_by_manager.refresh_from_db()
    assert recounted_by_manager.status == Status.APPROVAL_REQUIRED and _balance(bin, sku) == 50


def test_sole_manager_approves_their_own_recount_only_with_the_confirmation(
    recounted_by_manager, bin, sku, manager_user, settings
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    task = recounted_by_manager
    with pytest.raises(CountRefused, match="tick"):
        count_task_decide(task=task, approve=True, reason="Recounted it myself", actor=manager_user)
    task.refresh_from_db()
    assert task.status == Status.APPROVAL_REQUIRED and _balance(bin, sku) == 50

    count_task_decide(task=task, approve=True, reason="Recounted it myself", actor=manager_user,
                      alone_confirmed=True)  # fmt: skip

    assert _balance(bin, sku) == 38
    task.refresh_from_db()
    assert (task.status, task.decided_by, task.decided_by_counter) == (
        Status.CLOSED,
        manager_user,
        True,
    )
    decision = task.approval_discrepancy
    decision.refresh_from_db()
    assert decision.resolution_note == (
        "Count approved by manager-t (who counted it, as the only manager): Recounted it myself"
    )
    adjust = StockMovement.objects.get(kind=StockMovement.Kind.COUNT_ADJUST)
    assert "as the only manager" in adjust.note


def test_sole_manager_may_reject_their_own_recount_with_the_confirmation(
    recounted_by_manager, bin, sku, manager_user, settings
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    count_task_decide(task=recounted_by_manager, approve=False, reason="I miscounted",
                      actor=manager_user, alone_confirmed=True)  # fmt: skip
    recounted_by_manager.refresh_from_db()
    assert recounted_by_manager.status == Status.CANCELLED
    assert recounted_by_manager.decided_by_counter and _balance(bin, sku) == 50


@pytest.mark.parametrize("group", [MANAGERS, ADMINS])
def test_sole_manager_setting_does_not_apply_while_someone_else_may_decide(
    recounted_by_manager, bin, sku, manager_user, settings, group
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    other = UserFactory(username="decider-2", group=group)
    with pytest.raises(CountRefused, match=COUNTED_IT):
        count_task_decide(task=recounted_by_manager, approve=True, reason="mine",
                          actor=manager_user, alone_confirmed=True)  # fmt: skip
    assert _balance(bin, sku) == 50
    # An inactive one does not count: the manager is alone again.
    other.is_active = False
    other.save(update_fields=["is_active"])
    count_task_decide(task=recounted_by_manager, approve=True, reason="alone now",
                      actor=manager_user, alone_confirmed=True)  # fmt: skip
    assert _balance(bin, sku) == 38


def test_a_decision_by_someone_who_did_not_count_is_not_marked(
    recounted_by_manager, bin, sku, settings
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    other = UserFactory(username="manager-2", group=MANAGERS)
    count_task_decide(task=recounted_by_manager, approve=True, reason="checked", actor=other)
    recounted_by_manager.refresh_from_db()
    assert recounted_by_manager.status == Status.CLOSED
    assert not recounted_by_manager.decided_by_counter


# --- the pages show the rule before any typing ---------------------------------------------


def test_approvals_queue_disables_the_buttons_for_the_manager_who_recounted(
    client, recounted_by_manager, manager_user
):
    client.force_login(manager_user)
    body = client.get("/walks/approvals/").content.decode()
    assert COUNTED_IT in body
    assert body.count('value="approve" disabled') == 1 and 'value="reject"' in body
    assert 'value="reject" style="background:var(--bad)" disabled' in body
    assert 'name="alone"' not in body
    other = UserFactory(username="manager-2", group=MANAGERS)
    client.force_login(other)
    body = client.get("/walks/approvals/").content.decode()
    assert COUNTED_IT not in body and " disabled" not in body


def test_task_page_shows_why_the_recounting_manager_cannot_decide(
    client, recounted_by_manager, manager_user
):
    client.force_login(manager_user)
    body = client.get(f"/walks/tasks/{recounted_by_manager.pk}/").content.decode()
    assert COUNTED_IT in body and 'disabled aria-describedby="why-' in body


def test_sole_manager_confirmation_is_enforced_by_the_server(
    client, recounted_by_manager, manager_user, bin, sku, settings
):
    settings.ONEFACT_COUNT_SOLE_MANAGER = True
    client.force_login(manager_user)
    body = client.get("/walks/approvals/").content.decode()
    assert SOLE_CONFIRMATION in body and 'name="alone"' in body and " disabled" not in body
    url = f"/walks/approvals/{recounted_by_manager.pk}/decide/"
    data = {"decision": "approve", "reason": "Recounted it myself"}
    body = client.post(url, data, headers=HTMX).content.decode()  # the box not ticked
    assert "tick" in body and 'name="alone"' in body and _balance(bin, sku) == 50
    body = client.post(url, data | {"alone": "1"}, headers=HTMX).content.decode()
    assert 'data-testid="decided"' in body and _balance(bin, sku) == 38
    body = client.get(f"/walks/tasks/{recounted_by_manager.pk}/").content.decode()
    assert 'data-testid="decided-by-counter"' in body
