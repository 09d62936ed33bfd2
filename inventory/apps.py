from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory (shelf and ownership)"

    def ready(self) -> None:
        from inventory import jobs

        jobs.register()
