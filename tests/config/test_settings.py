"""The settings module in each mode, each started in a fresh process as an operator would."""

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

INSPECT_EMBEDDED = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
print(json.dumps({
    "vendor": connection.vendor,
    "journal_mode": journal_mode,
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "production": settings.PRODUCTION,
}))
"""


def run_django(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `python <args>` in the project with only `env` (plus PATH) in its environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": "postgres://hfa:hfa@db.internal:5432/hfa",
        "ALLOWED_HOSTS": "health.example.com",
        "DATA_DIR": str(tmp_path),
    }


def test_check_passes_with_no_environment_at_all():
    result = run_django("manage.py", "check", env={})

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_embedded_mode_uses_sqlite_in_wal_mode_local_memory_cache_and_filesystem_broker(tmp_path):
    result = run_django(
        "-c", INSPECT_EMBEDDED, env={"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)}
    )

    assert result.returncode == 0, result.stderr
    embedded = json.loads(result.stdout.strip().splitlines()[-1])
    assert embedded == {
        "vendor": "sqlite",
        "journal_mode": "wal",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "broker": "filesystem://localhost//",
        "production": False,
    }
    assert (tmp_path / "broker" / "queue").is_dir()
    assert (tmp_path / "broker" / "control").is_dir()


def env_example_values() -> dict[str, str]:
    """The variables a copy of .env.example sets, as docker compose's env_file reads them."""
    values = {}
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*?)(\s+#.*)?$", line)
        if match:
            values[match[1]] = match[2].strip()
    return values


def test_a_copy_of_env_example_runs_the_embedded_defaults(tmp_path):
    env = {
        **env_example_values(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }

    result = run_django("-c", INSPECT_EMBEDDED, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "vendor": "sqlite",
        "journal_mode": "wal",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "broker": "filesystem://localhost//",
        "production": False,
    }


def test_production_refuses_to_start_without_secret_key_database_and_allowed_hosts(tmp_path):
    result = run_django("manage.py", "check", env={"DJANGO_ENV": "production", "DATA_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert (
        "DJANGO_ENV=production refuses to start without SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS"
        in result.stderr
    )


def test_production_refuses_a_short_secret_key(tmp_path):
    env = {**production_env(tmp_path), "SECRET_KEY": "too-short"}

    result = run_django("manage.py", "check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY must be a random string of at least 50 characters" in result.stderr


def test_production_settings_pass_the_deploy_check_without_any_warning(tmp_path):
    result = run_django(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


PLAIN_HTTP_STATUSES = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="health.example.com", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
paths = ["/", "/health/live", "/health", "/metrics"]
print(json.dumps({path: client.get(path).status_code for path in paths}))
"""


def test_production_redirects_plain_http_except_probes_and_scrapers(tmp_path):
    env = {
        **production_env(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "METRICS_TOKEN": "scrape-token-0123456789",
    }

    result = run_django("-c", PLAIN_HTTP_STATUSES, env=env)

    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses == {"/": 301, "/health/live": 200, "/health": 403, "/metrics": 200}


def test_production_turns_on_hsts_https_redirect_and_secure_cookies(tmp_path):
    inspect = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.DEBUG]))"
    )
    env = {**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}

    result = run_django("-c", inspect, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [31536000, True, True, True, False]


SENTRY_STATE = """
import json, sys, django
django.setup()
import config.urls  # the whole app loaded, as a request would
loaded = "sentry_sdk" in sys.modules
import sentry_sdk
client = sentry_sdk.get_client()
print(json.dumps({
    "loaded_by_the_app": loaded,
    "active": client.is_active(),
    "before_send": getattr(client.options.get("before_send"), "__name__", None),
    "send_default_pii": client.options.get("send_default_pii"),
}))
"""


def test_sentry_is_neither_imported_nor_started_without_a_dsn(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)}

    result = run_django("-c", SENTRY_STATE, env=env)

    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["loaded_by_the_app"] is False
    assert state["active"] is False


def test_sentry_starts_with_the_scrubber_when_a_dsn_is_set(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path),
        "SENTRY_DSN": "https://publickey@127.0.0.1:9/1",  # never contacted: nothing is reported
    }

    result = run_django("-c", SENTRY_STATE, env=env)

    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state == {
        "loaded_by_the_app": True,
        "active": True,
        "before_send": "scrub_sentry_event",
        "send_default_pii": False,
    }


def test_env_example_lists_every_variable_the_settings_read():
    settings_source = (BASE_DIR / "config" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", settings_source))
    listed = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (BASE_DIR / ".env.example").read_text(), re.MULTILINE)
    )

    assert sorted(read - listed) == []
