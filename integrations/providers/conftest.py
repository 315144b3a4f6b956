"""Fixtures shared by the providers' own tests (each provider's `tests.py`)."""

import pytest

from integrations.sandbox.testing import Sandbox
from tests.factories import UserFactory


@pytest.fixture
def simulator(live_server, settings):
    """The provider sandbox on the live server, every provider host setting pointed at it."""
    sandbox = Sandbox(live_server.url)
    sandbox.point_settings(settings)
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture
def member(db):
    return UserFactory()
