from django.apps import AppConfig


class ReplenishmentConfig(AppConfig):
    name = "replenishment"
    verbose_name = "Replenishment (suppliers, purchase orders, coverage)"
