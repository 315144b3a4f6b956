"""Access tokens for syncs: refreshed ahead of expiry and on a 401, once, under a per-connection lock.

Most providers rotate refresh tokens (a used one dies), so two workers refreshing the same
connection would leave one of them, and possibly the connection, with a dead token. The lock
is SELECT ... FOR UPDATE on PostgreSQL and a conditional-UPDATE lease elsewhere (SQLite); after
taking it the token is read again, so whoever waited finds the fresh token and makes no call.
The new refresh token is saved in the same UPDATE as the new access token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from integrations import registry
from integrations.http import AuthRevoked, ProviderError, TransientError
from integrations.models import Connection
from integrations.providers.base import DataSource, TokenSet
from users import audit

logger = logging.getLogger(__name__)

LOCK_LEASE = timedelta(seconds=60)
REFUSED_GRANT_STATUSES = (400, 401)
LOCK_WAIT_SECONDS = 90.0


class ConnectionCredentials:
    """The `Credentials` an ApiClient uses for one connection (see integrations.http)."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.source: DataSource | None = None  # set by source_for(); refreshes go through it
        self.refreshes = 0

    def access_token(self) -> str:
        connection = Connection.objects.get(pk=self.connection_id)
        if connection.token_expires_within(settings.TOKEN_REFRESH_MARGIN_SECONDS):
            return self.refreshed_access_token(connection.access_token)
        return connection.access_token

    def refreshed_access_token(self, rejected: str) -> str:
        assert self.source is not None, "source_for() wires the source in"
        token, refreshed = refresh(self.connection_id, self.source, rejected=rejected)
        self.refreshes += refreshed
        return token


def source_for(connection: Connection) -> DataSource:
    """The connection's DataSource with an ApiClient that authenticates and refreshes as it."""
    source_class = registry.api_sources()[connection.provider]
    credentials = ConnectionCredentials(connection.pk)
    client = source_class.client_class(
        provider=source_class.slug,
        base_url=source_class.api_base_url(),
        credentials=credentials,
        user_key=str(connection.pk),
    )
    source = source_class(client)
    credentials.source = source
    return source


def refresh(connection_id: int, source: DataSource, *, rejected: str) -> tuple[str, bool]:
    """A usable access token, calling the token endpoint only if nobody replaced `rejected` yet.

    Returns (token, whether this call refreshed). `invalid_grant` marks the connection
    `needs_reauth`, emails its owner and raises AuthRevoked.
    """
    revoked: AuthRevoked | None = None
    with _token_lock(connection_id) as connection:
        current = connection.access_token
        if current != rejected and not connection.token_expires_within(settings.TOKEN_REFRESH_MARGIN_SECONDS):
            return current, False
        try:
            tokens = source.refresh_token(connection.refresh_token)
        except AuthRevoked as error:
            revoked = error
        except ProviderError as error:
            if isinstance(error, TransientError) or error.status not in REFUSED_GRANT_STATUSES:
                raise
            # RFC 6749 §5.2: a refused grant is a 400 or 401, whatever the body says; only the
            # user can fix it by reconnecting.
            revoked = AuthRevoked(
                f"{source.slug} refused the refresh token ({error.status})", status=error.status
            )
        else:
            store_tokens(connection, tokens)
            return tokens.access_token, True
    mark_needs_reauth(connection_id, revoked.hint)
    raise revoked


def store_tokens(connection: Connection, tokens: TokenSet) -> None:
    """Save a new token pair in one UPDATE (a rotated refresh token must never be lost)."""
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    connection.token_expires_at = tokens.expires_at
    fields = ["access_token_encrypted", "refresh_token_encrypted", "token_expires_at", "updated"]
    if tokens.scopes:
        connection.scopes = list(tokens.scopes)
        fields.append("scopes")
    connection.save(update_fields=fields)


@contextmanager
def _token_lock(connection_id: int) -> Iterator[Connection]:
    if db_connection.features.has_select_for_update:
        with transaction.atomic():
            yield Connection.objects.select_for_update().get(pk=connection_id)
        return
    _take_lease(connection_id)
    try:
        yield Connection.objects.get(pk=connection_id)
    finally:
        Connection.objects.filter(pk=connection_id).update(token_lease_until=None)


def _take_lease(connection_id: int) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        now = timezone.now()
        free = Q(token_lease_until__isnull=True) | Q(token_lease_until__lt=now)
        try:
            if Connection.objects.filter(free, pk=connection_id).update(token_lease_until=now + LOCK_LEASE):
                return
        except OperationalError:  # SQLite: another writer holds the database; wait like a taken lease
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"token lock of connection {connection_id} not released")
        time.sleep(0.05)


def mark_needs_reauth(connection_id: int, reason: str) -> None:
    """Stop syncing until the owner reconnects, and tell them (once per transition)."""
    now = timezone.now()
    changed = (
        Connection.objects.filter(pk=connection_id)
        .exclude(status=Connection.Status.NEEDS_REAUTH)
        .update(status=Connection.Status.NEEDS_REAUTH, last_error=reason, last_error_at=now)
    )
    if changed:
        connection = Connection.objects.select_related("user").get(pk=connection_id)
        audit.record(
            action="connection.status_changed",
            user=connection.user,
            target=f"connection:{connection.pk}",
            details={"provider": connection.provider, "to": Connection.Status.NEEDS_REAUTH},
        )
        _tell_owner_to_reconnect(connection)


def _tell_owner_to_reconnect(connection: Connection) -> None:
    source = registry.get_source(connection.provider)
    name = source.name if source else connection.provider
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Reconnect {name}",
        message=(
            f"{name} no longer accepts this app's access to your account, so syncing has stopped.\n\n"
            f"Reconnect it on {settings.SITE_URL}/connections/ to resume; nothing synced so far is lost."
        ),
        from_email=None,
        recipient_list=[connection.user.email],
        fail_silently=True,
    )
    logger.info("connection needs reauthorisation", extra={"connection": connection.pk})
