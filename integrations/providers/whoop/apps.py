from django.apps import AppConfig


class WhoopConfig(AppConfig):
    name = "integrations.providers.whoop"
    label = "source_whoop"
    verbose_name = "WHOOP"
