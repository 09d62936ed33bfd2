"""On PostgreSQL the database itself refuses DELETE on discrepancies: they end resolved."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION inventory_discrepancy_undeletable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'inventory_discrepancy rows are resolved, never deleted: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inventory_discrepancy_undeletable
    BEFORE DELETE ON inventory_discrepancy
    FOR EACH ROW EXECUTE FUNCTION inventory_discrepancy_undeletable();
"""

DROP = """
DROP TRIGGER IF EXISTS inventory_discrepancy_undeletable ON inventory_discrepancy;
DROP FUNCTION IF EXISTS inventory_discrepancy_undeletable();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0014_inbox_attempts")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
