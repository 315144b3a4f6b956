import threading
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connections as db_connections
from django.utils import timezone

from integrations import crypto
from integrations.models import Connection
from integrations.tokens import source_for


def _expire(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(seconds=5))


def test_eight_concurrent_syncs_with_an_expired_rotating_token_refresh_it_once(
    transactional_db, connection, acme
):
    _expire(connection)
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def sync_worker() -> None:
        try:
            source = source_for(Connection.objects.get(pk=connection.pk))
            barrier.wait()
            tokens.append(source.client.credentials.access_token())
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=sync_worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    connection.refresh_from_db()
    assert acme.token_calls == 1
    assert tokens == ["access-1"] * 8
    assert connection.refresh_token == "refresh-1"


def test_a_401_with_a_valid_looking_token_refreshes_and_retries(connection, acme):
    acme.access_tokens = {"access-elsewhere"}
    acme.refresh_token = "refresh-0"
    source = source_for(connection)

    items = list(source.fetch("weight", timezone.now() - timedelta(days=2), timezone.now()))

    assert len(items) == 2
    assert acme.token_calls == 1


def test_a_worker_holding_a_stale_token_uses_the_one_another_worker_refreshed(connection, acme):
    first, second = source_for(connection), source_for(connection)
    _expire(connection)
    first.client.credentials.access_token()

    assert second.client.credentials.refreshed_access_token("access-0") == "access-1"
    assert acme.token_calls == 1


def test_tokens_are_encrypted_at_rest_and_never_in_repr(connection):
    row = Connection.objects.values("access_token_encrypted", "refresh_token_encrypted").get(pk=connection.pk)

    assert "access-0" not in row["access_token_encrypted"]
    assert "refresh-0" not in row["refresh_token_encrypted"]
    assert "access-0" not in repr(connection) + str(connection)
    assert Connection.objects.get(pk=connection.pk).access_token == "access-0"


def test_rotating_keys_keeps_tokens_readable_and_moves_them_to_the_new_key(connection, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [old_key]
    connection.access_token = "secret-access"
    connection.save()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]

    assert Connection.objects.get(pk=connection.pk).access_token == "secret-access"
    call_command("rotate_token_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]

    assert Connection.objects.get(pk=connection.pk).access_token == "secret-access"


def test_a_token_encrypted_with_an_unknown_key_is_not_readable(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ciphertext = crypto.encrypt("secret")
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(ciphertext)
