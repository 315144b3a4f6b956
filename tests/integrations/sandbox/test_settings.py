"""SANDBOX_ENABLED decides the provider hosts' defaults and whether /sandbox/ is served."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.urls import Resolver404, resolve
try:
    resolve("/sandbox/oura/oauth/token")
    mounted = True
except Resolver404:
    mounted = False
print(json.dumps({"mounted": mounted, "authorize": settings.OURA_AUTHORIZE_URL,
                  "api": settings.FITBIT_API_BASE_URL, "client": settings.WHOOP_CLIENT_ID}))
"""


CONFIGURATIONS = {
    "embedded": {},
    "no_sandbox": {"SANDBOX_ENABLED": "false"},
    "explicit_hosts": {
        "FITBIT_API_BASE_URL": "https://health.example",
        "OURA_AUTH_BASE_URL": "https://oura.example",
    },
}


@pytest.fixture(scope="module")
def probed() -> dict[str, dict]:
    """Each configuration's settings, read by fresh processes started side by side."""
    base = {key: value for key, value in os.environ.items() if not key.endswith("_URL")}
    base |= {"DJANGO_SETTINGS_MODULE": "config.settings", "SITE_URL": "http://127.0.0.1:8000"}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=base | extra,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for name, extra in CONFIGURATIONS.items()
    }
    return {
        name: json.loads(process.communicate(timeout=120)[0].strip().splitlines()[-1])
        for name, process in processes.items()
    }


def test_embedded_mode_points_every_provider_at_the_sandbox(probed):
    assert probed["embedded"] == {
        "mounted": True,
        "authorize": "http://127.0.0.1:8000/sandbox/oura/oauth/authorize",
        "api": "http://127.0.0.1:8000/sandbox/fitbit",
        "client": "sandbox-whoop-client",
    }


def test_without_the_sandbox_the_real_hosts_are_the_defaults_and_nothing_is_mounted(probed):
    assert probed["no_sandbox"]["mounted"] is False
    assert probed["no_sandbox"]["authorize"] == "https://cloud.ouraring.com/oauth/authorize"
    assert probed["no_sandbox"]["api"] == "https://health.googleapis.com"


def test_a_host_set_in_the_environment_wins_over_the_sandbox(probed):
    assert probed["explicit_hosts"]["api"] == "https://health.example"
    assert probed["explicit_hosts"]["authorize"] == "https://oura.example/oauth/authorize"
