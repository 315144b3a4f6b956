import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Connection


@pytest.fixture
def queued(monkeypatch):
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append(args))
    return calls


def test_sync_connection_by_user_and_provider(connection):
    out = StringIO()

    call_command("sync_connection", user=connection.user.email, provider="oura", stdout=out)

    assert re.search(r"steps 9[01], weight 9[01]", out.getvalue())


def test_sync_connection_by_id_reports_a_busy_connection(connection):
    from datetime import timedelta

    from integrations import sync

    sync.claim(connection.pk, timedelta(minutes=5))

    with pytest.raises(CommandError, match="already syncing"):
        call_command("sync_connection", id=connection.pk, stdout=StringIO())


def test_create_connection_stores_encrypted_tokens_and_queues_a_sync(user, acme, queued):
    call_command(
        "create_connection",
        user=user.email,
        provider="oura",
        access_token="given-access",
        refresh_token="given-refresh",
        expires_in=3600,
        stdout=StringIO(),
    )

    connection = Connection.objects.get(user=user, provider="oura")
    assert connection.access_token == "given-access"
    assert connection.refresh_token == "given-refresh"
    assert "given-access" not in connection.access_token_encrypted
    assert connection.token_expires_at is not None
    assert queued == [(connection.pk,)]


def test_create_connection_refuses_an_unknown_provider(user, acme):
    with pytest.raises(CommandError, match="Unknown provider"):
        call_command(
            "create_connection", user=user.email, provider="nope", access_token="x", stdout=StringIO()
        )
