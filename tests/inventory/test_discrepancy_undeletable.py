"""Every discrepancy ends resolved by a count, a correction or a manager's decision with a
reason; none is deleted: not through the ORM, and on PostgreSQL not even by raw SQL."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from inventory.exceptions import InvalidMovement
from inventory.models import Discrepancy, DiscrepancyUndeletable, Fact
from inventory.services import discrepancy_record, discrepancy_resolve
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


def _gap() -> Discrepancy:
    return discrepancy_record(
        kind=Discrepancy.Kind.STOREFRONT_GAP, fact=Fact.ON_HAND, sku=SkuFactory(),
        owner_value=2, consumer_value=4, detail="storefront says 4, shelf says 2",
    )  # fmt: skip


def test_the_orm_refuses_to_delete_a_discrepancy_one_or_many():
    gap = _gap()
    with pytest.raises(DiscrepancyUndeletable, match="never deleted"):
        gap.delete()
    with pytest.raises(DiscrepancyUndeletable, match="never deleted"):
        Discrepancy.objects.filter(pk=gap.pk).delete()
    assert Discrepancy.objects.filter(pk=gap.pk).exists()


def test_a_resolved_discrepancy_stays_too(manager_user):
    gap = _gap()
    discrepancy_resolve(discrepancy=gap, resolution=Discrepancy.Resolution.DECISION,
                        actor=manager_user, note="the shelf was right")  # fmt: skip
    with pytest.raises(DiscrepancyUndeletable):
        Discrepancy.objects.all().delete()
    assert Discrepancy.objects.get(pk=gap.pk).status == Discrepancy.Status.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_raw_sql_delete_of_a_discrepancy_fails_on_postgresql(postgres):
    gap = _gap()
    with (
        pytest.raises(DatabaseError, match="never deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {Discrepancy._meta.db_table}")
    assert Discrepancy.objects.filter(pk=gap.pk).exists()


def test_a_decision_without_a_reason_is_refused_by_the_service_and_by_the_database(manager_user):
    gap = _gap()
    with pytest.raises(InvalidMovement, match="needs a reason"):
        discrepancy_resolve(discrepancy=gap, resolution=Discrepancy.Resolution.DECISION,
                            actor=manager_user, note="   ")  # fmt: skip
    resolved = Discrepancy.objects.filter(pk=gap.pk)
    for fields in (
        {"status": Discrepancy.Status.RESOLVED},  # resolved, but by nothing
        {"status": Discrepancy.Status.RESOLVED, "resolution": Discrepancy.Resolution.DECISION},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            resolved.update(**fields)
    assert resolved.get().status == Discrepancy.Status.OPEN
