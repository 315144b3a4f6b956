"""Which data sources exist: one `Source` class per provider app, plus the file-import-only sources.

`PROVIDER_APPS` lists the provider packages (each has `source.py` with a class named `Source`);
`IMPORT_ONLY_SOURCES` lists dotted paths of sources whose data arrives through export files. An
official API for one of those is plugged in by adding its provider app and dropping its entry.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from types import ModuleType

from django.conf import settings
from django.utils.module_loading import import_string

from integrations.providers.base import DataSource


class MyFitnessPalImport(DataSource):
    """MyFitnessPal: no public API for ordinary developers; its export ZIP is imported."""

    slug = "myfitnesspal"
    name = "MyFitnessPal"
    data_types = ("nutrition", "exercise", "measurements")
    metrics = ("energy_intake", "protein", "carbohydrates", "fat", "fiber", "sugar", "sodium", "weight")
    import_only = True
    import_presets = ("myfitnesspal_nutrition", "myfitnesspal_exercise", "myfitnesspal_measurement")
    can_revoke = False


class CronometerImport(DataSource):
    """Cronometer: partner-only API; its CSV exports are imported."""

    slug = "cronometer"
    name = "Cronometer"
    data_types = ("nutrition", "exercise", "biometrics")
    metrics = ("energy_intake", "protein", "carbohydrates", "fat", "fiber", "sugar", "sodium", "caffeine")
    import_only = True
    import_presets = (
        "cronometer_servings",
        "cronometer_daily",
        "cronometer_exercises",
        "cronometer_biometrics",
    )
    can_revoke = False


@cache
def sources() -> dict[str, type[DataSource]]:
    """Every source by slug: provider apps first, then import-only sources they do not replace."""
    found: dict[str, type[DataSource]] = {}
    for package in settings.PROVIDER_APPS:
        source = import_module(f"{package}.source").Source
        found[source.slug] = source
    for path in settings.IMPORT_ONLY_SOURCES:
        source = import_string(path)
        found.setdefault(source.slug, source)
    return found


def api_sources() -> dict[str, type[DataSource]]:
    """The sources synced over an API (what connections can be made to)."""
    return {slug: source for slug, source in sources().items() if not source.import_only}


def get_source(slug: str) -> type[DataSource] | None:
    return sources().get(slug)


@cache
def webhook_module(slug: str) -> ModuleType | None:
    """The provider's `webhook.py`, when it pushes notifications."""
    source = api_sources().get(slug)
    if source is None or not source.pushes_webhooks:
        return None
    package = source.__module__.rsplit(".", 1)[0]
    return import_module(f"{package}.webhook")
