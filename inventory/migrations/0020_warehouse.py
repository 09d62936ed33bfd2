"""Warehouses: every existing bin goes into one default warehouse, so no number changes."""

from django.db import migrations, models

from inventory.seed import seed_warehouse


def bins_into_default(apps, schema_editor):
    using = schema_editor.connection.alias
    Warehouse = apps.get_model("inventory", "Warehouse")
    Bin = apps.get_model("inventory", "Bin")
    default = Warehouse.objects.using(using).get(is_default=True)
    Bin.objects.using(using).filter(warehouse__isnull=True).update(warehouse=default)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0019_discrepancy_dashboard_indexes")]

    operations = [
        migrations.AlterField(
            model_name="system",
            name="kind",
            field=models.CharField(
                choices=[
                    ("shelf", "Shelf (OneFact warehouse)"),
                    ("storefront", "Storefront"),
                    ("pricing", "Pricing engine"),
                    ("replenishment", "Replenishment"),
                    ("returns", "Returns intake"),
                    ("scanner", "Scanner / integration client"),
                    ("3pl", "3PL warehouse system (counts its own building's units)"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="Warehouse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "code",
                    models.CharField(
                        help_text="Short and printed on labels, e.g. WH-2.",
                        max_length=20,
                        unique=True,
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("address", models.TextField(blank=True)),
                ("active", models.BooleanField(default=True)),
                (
                    "is_default",
                    models.BooleanField(
                        default=False,
                        help_text="Where a new bin goes when nobody names a warehouse.",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        help_text="Who owns on-hand here: empty is the shelf (OneFact counts it); a 3PL's system when the 3PL counts these units. Changed only with a reason, audited in the ownership table.",
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="owned_warehouses",
                        to="inventory.system",
                    ),
                ),
            ],
            options={
                "ordering": ["code"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("owner__isnull", True), ("is_default", False), _connector="OR"
                        ),
                        name="inventory_warehouse_default_is_the_shelfs",
                        violation_error_message="The default warehouse is the shelf's: new bins go there.",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("is_default", True)),
                        fields=("is_default",),
                        name="inventory_warehouse_one_default",
                        violation_error_message="Another warehouse is the default already: untick it there first.",
                    ),
                ],
            },
        ),
        migrations.RunPython(seed_warehouse, migrations.RunPython.noop),
        migrations.AddField(
            model_name="bin",
            name="warehouse",
            field=models.ForeignKey(
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="bins",
                to="inventory.warehouse",
            ),
        ),
        migrations.RunPython(bins_into_default, migrations.RunPython.noop),
    ]
