"""Every bin is in a warehouse (its own migration: PostgreSQL will not alter a table with the
previous migration's row updates still pending)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inventory", "0020_warehouse")]

    operations = [
        migrations.AlterField(
            model_name="bin",
            name="warehouse",
            field=models.ForeignKey(
                on_delete=models.deletion.PROTECT,
                related_name="bins",
                to="inventory.warehouse",
            ),
        ),
    ]
