from django.apps import AppConfig


class WithingsConfig(AppConfig):
    name = "integrations.providers.withings"
    label = "source_withings"
    verbose_name = "Withings"
