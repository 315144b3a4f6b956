from django.apps import AppConfig


class OuraConfig(AppConfig):
    name = "integrations.providers.oura"
    label = "source_oura"
    verbose_name = "Oura"
