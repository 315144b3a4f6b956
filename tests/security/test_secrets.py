"""Known secrets never come back: not in the logs, the admin, the API or a data export.

One user connects a provider through the real OAuth flow against the sandbox, syncs, makes an API
key and signs in every way there is; staff open the admin pages; the user exports everything. Every
log line, response body and exported file is then searched for the tokens, the key and its hash,
and the password and its hash.
"""

import io
import logging
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from integrations import sync
from integrations.models import Connection, SyncRun
from tests.factories import PASSWORD, UserFactory
from users import api_keys, export


@pytest.fixture
def queued(monkeypatch):
    """Syncs that the connect flow queues run in the test itself, not on a worker."""
    from integrations.tasks import sync_connection_task

    monkeypatch.setattr(sync_connection_task, "delay_on_commit", lambda *args, **kwargs: None)


def exported_text(user) -> str:
    made = export.start_export(user=user)
    export.build(made.pk)
    made.refresh_from_db()
    with zipfile.ZipFile(export.export_file(made)) as archive:
        return "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def signed_in_everywhere(user) -> tuple[list[str], str]:
    """Sign in through the pages, the headless app API and a wrong password; return pages and token."""
    pages = []
    browser = Client()
    pages.append(browser.post("/accounts/login/", {"login": user.email, "password": "wrong-" + PASSWORD}))
    pages.append(browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, follow=True))
    app = APIClient()
    credentials = {"email": user.email, "password": PASSWORD}
    login = app.post("/_allauth/app/v1/auth/login", credentials, format="json")
    session_token = login.json()["meta"]["session_token"]
    pages.append(app.get("/api/v1/me", HTTP_X_SESSION_TOKEN=session_token))
    return [page.content.decode() for page in pages], session_token


def api_bodies(api_secret: str, connection: Connection) -> list[str]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_secret}")
    paths = [
        "/api/v1/me",
        "/api/v1/api-keys",
        "/api/v1/connections",
        f"/api/v1/connections/{connection.pk}",
        f"/api/v1/connections/{connection.pk}/runs",
        "/api/v1/records?limit=50",
        "/api/v1/sessions",
        "/api/v1/sources",
        "/api/v1/exports",
    ]
    bodies = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        bodies.append(response.content.decode())
    return bodies


def admin_pages(connection: Connection, key) -> list[str]:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    user = connection.user
    run = SyncRun.objects.filter(connection=connection).first()
    paths = [
        "/admin/users/user/",
        f"/admin/users/user/{user.pk}/change/",
        "/admin/users/apikey/",
        f"/admin/users/apikey/{key.pk}/change/",
        "/admin/users/auditevent/",
        "/admin/integrations/connection/",
        f"/admin/integrations/connection/{connection.pk}/change/",
        "/admin/integrations/syncrun/",
        f"/admin/integrations/syncrun/{run.pk}/change/",
        "/admin/socialaccount/socialtoken/",
        "/admin/socialaccount/socialaccount/",
    ]
    pages = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        pages.append(response.content.decode())
    return pages


@pytest.mark.django_db(transaction=True)
def test_no_token_key_or_password_appears_in_logs_admin_api_or_exports(
    sandbox, queued, settings, caplog, capfd, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.SYNC_BACKFILL_DAYS = 3
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="factory")  # the test's own fixtures, which set passwords
    user = UserFactory()
    call_command("connect_sandbox", user=user.email, provider="oura", account="demo", stdout=StringIO())
    connection = Connection.objects.get(user=user, provider="oura")
    run = sync.run(connection.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    user.refresh_from_db()
    secrets = {
        "access token": connection.access_token,
        "refresh token": connection.refresh_token,
        "API key": created.secret,
        "API key secret part": created.secret.removeprefix(api_keys.KEY_PREFIX).partition("_")[2],
        "API key hash": created.key.secret_hash,
        "password": PASSWORD,
        "password hash": user.password,
    }
    assert all(len(value) >= 12 for value in secrets.values())

    sign_in_pages, session_token = signed_in_everywhere(user)
    seen = {
        "sign-in pages": "\n".join(sign_in_pages),
        "API": "\n".join(api_bodies(created.secret, connection)),
        "admin": "\n".join(admin_pages(connection, created.key)),
        "export": exported_text(user),
    }
    captured = capfd.readouterr()
    records = [repr(vars(record)) for record in caplog.records]  # with each line's extra fields
    seen["logs"] = "\n".join([caplog.text, captured.out, captured.err, *records])

    leaks = [
        (name, where) for name, value in secrets.items() for where, text in seen.items() if value in text
    ]
    assert not leaks, f"secrets found: {leaks}"
    assert session_token not in seen["logs"]
    assert "'path': '/accounts/login/'" in seen["logs"]  # the request log lines, with their fields


def test_the_export_archive_is_readable_text(tmp_path, settings, user):
    """Guards `exported_text`: an export of a fresh account has its manifest and profile."""
    settings.MEDIA_ROOT = tmp_path

    text = exported_text(user)

    assert user.email in text
    assert io.StringIO(text).read()
