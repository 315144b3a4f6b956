"""Making, keeping and ending connections: what the connect flow, the API, the admin and commands call."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from healthdata import rollups
from healthdata.models import Record, Session
from integrations import registry
from integrations.http import ProviderError
from integrations.models import Connection
from integrations.providers.base import TokenSet
from integrations.tokens import source_for, store_tokens
from users import audit

logger = logging.getLogger(__name__)


def connect(*, user, provider: str, tokens: TokenSet, external_user_id: str = "") -> Connection:
    """Create or renew the user's connection to `provider` and sync it soon.

    A reconnect keeps the cursors, so the next sync backfills only the gap since the last
    good sync (plus the overlap window).
    """
    if provider not in registry.api_sources():
        raise ValueError(f"unknown provider {provider!r}")
    with transaction.atomic():
        connection, _ = Connection.objects.select_for_update().get_or_create(user=user, provider=provider)
        connection.status = Connection.Status.ACTIVE
        connection.external_user_id = (
            external_user_id or tokens.external_user_id or connection.external_user_id
        )
        connection.last_error, connection.last_error_at = "", None
        connection.next_sync_at = timezone.now()
        connection.save()
        store_tokens(connection, tokens)
        audit.record(
            actor=user,
            user=user,
            action="connection.connected",
            target=f"connection:{connection.pk}",
            details={"provider": provider},
        )
    request_sync(connection, trigger="connect")
    return connection


def request_sync(connection: Connection, *, trigger: str = "manual") -> None:
    """Queue a sync of the connection once the current transaction commits."""
    from integrations.tasks import sync_connection_task

    sync_connection_task.delay_on_commit(connection.pk, trigger=trigger)


def disconnect(connection: Connection, *, delete_data: bool, actor=None) -> bool:
    """Revoke at the provider where it can, forget the tokens, and keep or delete the data.

    Returns whether the provider confirmed the revocation. `actor` is who asked: the owner unless
    given (staff in the admin).
    """
    revoked = _revoke_at_provider(connection)
    connection.access_token = ""
    connection.refresh_token = ""
    connection.token_expires_at = None
    connection.status = Connection.Status.REVOKED
    connection.next_sync_at = None
    if delete_data:
        delete_source_data(user=connection.user, source=connection.provider)
        connection.cursors = {}
    connection.save()
    audit.record(
        actor=actor or connection.user,
        user=connection.user,
        action="connection.disconnected",
        target=f"connection:{connection.pk}",
        details={"provider": connection.provider, "data_deleted": delete_data, "revoked": revoked},
    )
    return revoked


def _revoke_at_provider(connection: Connection) -> bool:
    source_class = registry.get_source(connection.provider)
    if source_class is None or source_class.import_only or not source_class.can_revoke:
        return False
    if connection.status == Connection.Status.REVOKED or not connection.access_token_encrypted:
        return False
    source = source_for(connection)
    tokens = TokenSet(access_token=connection.access_token, refresh_token=connection.refresh_token or None)
    try:
        return source.revoke(tokens)
    except ProviderError as error:
        logger.warning("revoke failed", extra={"connection": connection.pk, "error": type(error).__name__})
        return False
    finally:
        source.client.close()


def delete_source_data(*, user, source: str, before: datetime | None = None) -> int:
    """Delete a user's records and sessions from one source (all, or those starting before `before`)."""
    records = Record.objects.for_user(user).filter(source=source)
    sessions = Session.objects.for_user(user).filter(source=source)
    if before is not None:
        records, sessions = records.filter(start__lt=before), sessions.filter(start__lt=before)
    with transaction.atomic():
        days = set(records.values_list("metric", "local_date").distinct())
        deleted = records.delete()[0] + sessions.delete()[0]
        if days:
            rollups.refresh(user=user, days=days)
    return deleted
