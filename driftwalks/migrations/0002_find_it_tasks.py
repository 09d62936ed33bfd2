"""Find-it tasks: a count task with no bin, for a SKU no bin is known to hold.

Existing tasks all have a bin and keep it; the new constraints hold for every one of them
(``found_for`` starts empty), so nothing is rewritten.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("driftwalks", "0001_initial"),
        ("inventory", "0013_storefront_adoption"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="counttask",
            name="found_for",
            field=models.ForeignKey(
                blank=True,
                help_text="The find-it task whose counter found the SKU in this bin.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="found_tasks",
                to="driftwalks.counttask",
            ),
        ),
        migrations.AlterField(
            model_name="counttask",
            name="bin",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty for a find-it task: no bin is known to hold the SKU.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="count_tasks",
                to="inventory.bin",
            ),
        ),
        migrations.AddConstraint(
            model_name="counttask",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("bin__isnull", True),
                    ("status__in", ["open", "recount_required", "approval_required"]),
                ),
                fields=("sku",),
                name="driftwalks_counttask_one_active_find_per_sku",
            ),
        ),
        migrations.AddConstraint(
            model_name="counttask",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("bin__isnull", False),
                    ("status__in", ["open", "closed", "cancelled"]),
                    _connector="OR",
                ),
                name="driftwalks_counttask_find_never_recounted",
            ),
        ),
        migrations.AddConstraint(
            model_name="counttask",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("found_for__isnull", True), ("bin__isnull", False), _connector="OR"
                ),
                name="driftwalks_counttask_found_in_a_bin",
            ),
        ),
    ]
