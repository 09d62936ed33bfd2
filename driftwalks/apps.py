from django.apps import AppConfig


class DriftwalksConfig(AppConfig):
    name = "driftwalks"
