"""Managers may settle a discrepancy by a decision with a reason."""

from django.db import migrations

from inventory.seed import seed_groups


class Migration(migrations.Migration):
    dependencies = [("inventory", "0008_jobs")]

    operations = [migrations.RunPython(seed_groups, migrations.RunPython.noop)]
