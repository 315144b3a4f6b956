"""Telling owners by email about the connections the banner flags: failing or silent for days."""

from django.conf import settings
from django.urls import reverse

from integrations.context_processors import needing_user, provider_name
from integrations.models import Connection
from users.notifications import notify_connection_problem


def notify_owners() -> int:
    """Email the owner of each failing or silent connection, at most once a day per problem.

    A connection that needs reconnecting is mailed by `tokens.mark_needs_reauth` when it happens.
    """
    connections = needing_user(Connection.objects.filter(user__is_active=True)).exclude(
        status=Connection.Status.NEEDS_REAUTH
    )
    sent = 0
    for connection in connections.select_related("user").order_by("pk").iterator(chunk_size=500):
        problem = "error" if connection.status == Connection.Status.ERROR else "stale"
        fix_url = settings.SITE_URL + reverse("integrations:connection-detail", args=[connection.pk])
        sent += notify_connection_problem(
            connection.user, provider_name(connection.provider), problem, fix_url
        )
    return sent
