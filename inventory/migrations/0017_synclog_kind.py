from django.db import migrations, models
from django.db.models import Min


def first_pushes_marked(apps, schema_editor):
    """Each SKU's oldest acknowledged push to a storefront was its first: not a lag."""
    SyncLog = apps.get_model("inventory", "SyncLog")
    firsts = SyncLog.objects.values("storefront", "sku").annotate(first=Min("id")).values("first")
    SyncLog.objects.filter(id__in=firsts).update(kind="first")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0016_ownership_seed_reasons_in_words"),
    ]

    operations = [
        migrations.AddField(
            model_name="synclog",
            name="kind",
            field=models.CharField(
                choices=[
                    ("live", "Live push"),
                    ("first", "First push of the SKU"),
                    ("batch", "Released batch (go-live, held corrections)"),
                ],
                default="live",
                max_length=5,
            ),
        ),
        migrations.RunPython(first_pushes_marked, migrations.RunPython.noop),
    ]
