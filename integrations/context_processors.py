"""The "a connection needs you" banner: on every page until the connection is fixed."""

from datetime import timedelta

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from integrations import registry
from integrations.models import Connection, ConnectionQuerySet

STALE_AFTER = timedelta(days=3)


def connections_needing_user(request: HttpRequest) -> dict:
    """Connections that need reconnecting, keep failing, or sent nothing for days: one query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"connection_problems": lambda: problems(user)}


def needing_user(connections: ConnectionQuerySet) -> ConnectionQuerySet:
    """The connections that need reconnecting, keep failing, or sent nothing for days."""
    stale_since = timezone.now() - STALE_AFTER
    stale = Q(status=Connection.Status.ACTIVE) & (
        Q(last_success_at__lt=stale_since) | Q(last_success_at__isnull=True, created__lt=stale_since)
    )
    return connections.filter(stale | Q(status__in=[Connection.Status.NEEDS_REAUTH, Connection.Status.ERROR]))


def problems(user) -> list[dict]:
    needing = needing_user(Connection.objects.for_user(user))
    return [
        {"connection": connection, "name": provider_name(connection.provider), "problem": problem(connection)}
        for connection in needing.order_by("provider")
    ]


def problem(connection: Connection) -> str:
    if connection.status == Connection.Status.NEEDS_REAUTH:
        return "needs you to sign in to it again"
    if connection.status == Connection.Status.ERROR:
        return "keeps failing when we fetch your data"
    return "has not sent new data for several days"


def provider_name(slug: str) -> str:
    source = registry.get_source(slug)
    return source.name if source is not None else slug
