"""A count task records whether its decider counted it too (ONEFACT_COUNT_SOLE_MANAGER).

Existing tasks were all decided by someone who did not count them: the default is false.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("driftwalks", "0002_find_it_tasks"),
        ("inventory", "0014_inbox_attempts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="counttask",
            name="decided_by_counter",
            field=models.BooleanField(
                default=False,
                help_text="The manager who decided it had counted it too: allowed only as the site's only manager (ONEFACT_COUNT_SOLE_MANAGER), with a second confirmation.",
            ),
        ),
        migrations.AddConstraint(
            model_name="counttask",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("decided_by_counter", False), ("decided_by__isnull", False), _connector="OR"
                ),
                name="driftwalks_counttask_decided_by_counter_has_decider",
            ),
        ),
    ]
