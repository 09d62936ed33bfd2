"""Recording and resolving discrepancies: the one model every app surfaces gaps in."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from inventory import hooks, selectors
from inventory.exceptions import InvalidMovement
from inventory.models import Bin, Discrepancy, Sku, System


def discrepancies_create(discrepancies: Iterable[Discrepancy]) -> list[Discrepancy]:
    """Write new discrepancies, each valued at its SKU's unit cost as it is now (one query).

    Every discrepancy is written through here (or, for a reconciliation's many gaps, by the one
    statement that takes the same cost from the SKU's row), so a later cost edit never changes
    the value of a gap already found.
    """
    rows = list(discrepancies)
    missing = {d.sku_id for d in rows if d.sku_id and d.unit_cost is None}
    if missing:
        costs = dict(Sku.objects.filter(pk__in=missing).values_list("pk", "unit_cost"))
        for d in rows:
            if d.sku_id and d.unit_cost is None:
                d.unit_cost = costs.get(d.sku_id)
    return Discrepancy.objects.bulk_create(rows)


@transaction.atomic
def discrepancy_record(
    *,
    kind: str,
    fact: str,
    detail: str,
    sku: Sku | None = None,
    bin: Bin | None = None,
    consumer: System | None = None,
    owner_value: int | None = None,
    consumer_value: int | None = None,
    reference: str = "",
    request_count: bool = False,
    trigger: str = "",
) -> Discrepancy:
    """Record a disagreement; the fact's owner (from the ownership table) wins it.

    With ``request_count`` the bins holding the SKU (or ``bin``) are asked to be counted
    through the count-request hook, and the discrepancy stays open until a count, a
    correction or a manager's decision resolves it.
    """
    owner = selectors.owner_of(fact=fact)
    [discrepancy] = discrepancies_create([Discrepancy(
        kind=kind,
        fact=fact,
        sku=sku,
        bin=bin,
        owner=owner,
        consumer=consumer,
        owner_value=owner_value,
        consumer_value=consumer_value,
        winner=owner,
        reference=reference[:200],
        detail=detail[:500],
        count_requested_at=timezone.now() if request_count and sku is not None else None,
    )])  # fmt: skip
    if discrepancy.count_requested_at:
        bins = [bin] if bin else [row.bin for row in selectors.on_hand_for_sku(sku=sku)]
        hooks.request_count(
            hooks.CountRequest(
                sku=sku,
                bins=bins,
                reason=discrepancy.detail,
                discrepancy=discrepancy,
                trigger=trigger or kind,
            )  # fmt: skip
        )
    return discrepancy


discrepancy_record.alters_data = True


@transaction.atomic
def discrepancy_resolve(
    *,
    discrepancy: Discrepancy,
    resolution: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
    reference: str = "",
) -> Discrepancy:
    """Close a discrepancy by a count, a correction or a manager's decision (with a reason).

    Resolving twice changes nothing; a decision without a reason is refused.
    """
    locked = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    if locked.status == Discrepancy.Status.RESOLVED:
        return locked
    if resolution not in Discrepancy.Resolution.values:
        raise InvalidMovement(f"Unknown resolution {resolution!r}.")
    if resolution == Discrepancy.Resolution.DECISION and not note.strip():
        raise InvalidMovement("A manager's decision needs a reason.")
    locked.status = Discrepancy.Status.RESOLVED
    locked.resolution = resolution
    locked.resolved_at = timezone.now()
    locked.resolved_by = actor
    locked.resolution_note = note.strip()
    locked.resolution_reference = reference[:200]
    locked.save(
        update_fields=[
            "status",
            "resolution",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "resolution_reference",
        ]
    )
    return locked


discrepancy_resolve.alters_data = True
