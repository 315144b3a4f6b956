from django.apps import AppConfig


class FitbitConfig(AppConfig):
    name = "integrations.providers.fitbit"
    label = "source_fitbit"
    verbose_name = "Fitbit (Google Health)"
