from django.apps import AppConfig


class ReplenishmentConfig(AppConfig):
    name = "replenishment"
