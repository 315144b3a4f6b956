import pytest

from integrations import registry


@pytest.fixture
def fresh_registry():
    registry.sources.cache_clear()
    yield
    registry.sources.cache_clear()


def test_import_only_sources_sit_behind_the_same_interface_as_api_providers(fresh_registry):
    myfitnesspal = registry.get_source("myfitnesspal")

    assert myfitnesspal.import_only is True
    assert myfitnesspal.capabilities()["import_presets"]
    assert "myfitnesspal" not in registry.api_sources()
    assert set(registry.api_sources()) == {"withings", "oura", "fitbit", "whoop", "strava"}


def test_an_official_api_replaces_an_import_only_source_by_configuration(settings, fresh_registry):
    settings.PROVIDER_APPS = [*settings.PROVIDER_APPS, "tests.integrations.official_myfitnesspal"]

    myfitnesspal = registry.get_source("myfitnesspal")

    assert myfitnesspal.import_only is False
    assert "myfitnesspal" in registry.api_sources()
    assert registry.get_source("cronometer").import_only is True
