from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory (shelf and ownership)"

    def ready(self) -> None:
        from inventory import checks, jobs  # noqa: F401 - checks registers itself

        jobs.register()
