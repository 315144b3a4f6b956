import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import UserFactory


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return [
        f"database: {database['ENGINE'].rsplit('.', 1)[-1]} ({database.get('HOST') or database['NAME']})",
        f"cache: {cache}; broker: {settings.CELERY_BROKER_URL.split('://')[0]}",
    ]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Production-strength PBKDF2 costs most of a second per hash; tests hash hundreds of passwords."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Rate-limit counters and cached responses never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user_api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def sandbox(live_server, settings):
    """The provider sandbox on the live server, every provider host setting pointed at it, fresh state.

    Faults, counters, consent and webhooks: `integrations.sandbox.testing.Sandbox` (docs/sandbox.md).
    """
    from integrations.sandbox.testing import Sandbox

    simulator = Sandbox(live_server.url)
    simulator.point_settings(settings)
    simulator.reset()
    yield simulator
    simulator.reset()
