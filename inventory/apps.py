from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory (shelf and ownership)"

    def ready(self) -> None:
        from inventory import checks  # noqa: F401 - checks registers itself
        from inventory.services import job_kinds

        job_kinds.register()
