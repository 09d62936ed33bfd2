"""The seeded ownership-change rows say why each default is the default, in words.

They used to cite a file that is not shipped with OneFact. The audit log has no
append-only guard (unlike the ledger), so the seeded rows are updated in place: only the
rows the seed wrote (no user, no before, the old text) are touched, never a person's change.
"""

from django.db import migrations

from inventory.seed import DEFAULT_REASONS, OLD_SEED_REASON


def reasons_in_words(apps, schema_editor):
    OwnershipChange = apps.get_model("inventory", "OwnershipChange")
    using = schema_editor.connection.alias
    seeded = (
        OwnershipChange.objects.using(using)
        .filter(changed_by=None, reason=OLD_SEED_REASON)
        .select_related("ownership")
    )
    for change in seeded:
        if change.before or change.ownership.fact not in DEFAULT_REASONS:
            continue
        change.reason = DEFAULT_REASONS[change.ownership.fact]
        change.save(update_fields=["reason"])


def reasons_back(apps, schema_editor):
    OwnershipChange = apps.get_model("inventory", "OwnershipChange")
    OwnershipChange.objects.using(schema_editor.connection.alias).filter(
        changed_by=None, before={}, reason__in=DEFAULT_REASONS.values()
    ).update(reason=OLD_SEED_REASON)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0015_discrepancy_undeletable_trigger")]

    operations = [migrations.RunPython(reasons_in_words, reasons_back)]
