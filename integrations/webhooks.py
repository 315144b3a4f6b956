"""Provider notifications: verify, record once, and queue a targeted sync of the connection.

The provider folder's `webhook.py` knows the handshake and the signature; this module knows
connections. Answers go out fast (providers give 2-10 seconds): the sync itself runs in a task.
"""

from __future__ import annotations

import hashlib
import logging
from types import ModuleType

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from integrations.models import Connection, WebhookEvent
from integrations.providers.base import Notification, WebhookRejected

logger = logging.getLogger(__name__)


def receive(provider: str, module: ModuleType, request: HttpRequest) -> HttpResponse:
    """Answer one request to /webhooks/<provider>/: a handshake, a refusal or an acknowledgement."""
    try:
        handshake = module.verify_handshake(request)
        if handshake is not None:
            return handshake
        if request.method != "POST":
            return HttpResponse(status=405)
        notifications = module.parse(request)
    except WebhookRejected as error:  # a malformed handshake is refused like a bad delivery
        logger.warning("webhook rejected", extra={"provider": provider, "reason": str(error)})
        return HttpResponse(status=401)
    body_hash = hashlib.sha256(request.body).hexdigest()
    for index, notification in enumerate(notifications):
        key = notification.delivery_id or f"{body_hash[:56]}:{index}"
        handle(provider, notification, delivery_key=key)
    return HttpResponse(status=getattr(module, "ACK_STATUS", 200))


def handle(provider: str, notification: Notification, *, delivery_key: str) -> bool:
    """Act on one notification unless it was delivered before; True when it was new."""
    connection = (
        Connection.objects.filter(provider=provider, external_user_id=notification.external_user_id)
        .exclude(external_user_id="")
        .first()
    )
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                provider=provider,
                delivery_key=delivery_key[:128],
                connection=connection,
                data_types=list(notification.data_types),
            )
    except IntegrityError:
        return False  # a repeated delivery
    if connection is None:
        return True
    if notification.deauthorized:
        _forget_access(connection)
    elif connection.status in (Connection.Status.ACTIVE, Connection.Status.ERROR):
        _queue_targeted_sync(connection, notification)
    return True


def _forget_access(connection: Connection) -> None:
    """The user withdrew access at the provider: stop syncing and drop the dead tokens."""
    connection.access_token = ""
    connection.refresh_token = ""
    connection.status = Connection.Status.REVOKED
    connection.next_sync_at = None
    connection.save()


def _queue_targeted_sync(connection: Connection, notification: Notification) -> None:
    from integrations.tasks import sync_connection_task

    sync_connection_task.delay_on_commit(
        connection.pk,
        trigger="webhook",
        data_types=list(notification.data_types) or None,
        start=notification.start.isoformat() if notification.start else None,
        end=notification.end.isoformat() if notification.end else None,
    )
