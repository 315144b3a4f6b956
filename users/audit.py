"""The audit log: who did what to whose account or data. Any app writes to it through `record`.

Rows are append-only. What a row may hold: ids, an action name, a target such as
`connection:7`, the client IP and small non-secret details; never a token, key or password.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.module_loading import import_string

from users.models import AuditEvent, User

logger = logging.getLogger(__name__)


def record(
    *,
    action: str,
    user: User | None,
    actor: User | None = None,
    target: str = "",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. `user` is whose data it concerns, `actor` who acted (None: the system)."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        user=user,
        user_ref=user.pk if user is not None else None,
        target=target,
        ip=ip or None,
        details=details or {},
    )


def client_ip(request: HttpRequest | None) -> str | None:
    """The client address as the rate limiter sees it (trusted proxies only)."""
    if request is None:
        return None
    address = import_string(settings.RATELIMIT_IP_META_KEY)(request)
    return None if address in ("", "0.0.0.0") else address  # noqa: S104 # nosec B104 # "unknown", not a bind


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def _record_sign_in(sender, request: HttpRequest | None, user: User, **kwargs) -> None:
    record(actor=user, user=user, action="auth.login", ip=client_ip(request))


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def _record_failed_sign_in(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """The attempted address is not stored: it may belong to no one, or to someone else."""
    email = str(credentials.get("email") or credentials.get("username") or "")
    user = User.objects.filter(email__iexact=email).first() if email else None
    record(actor=None, user=user, action="auth.login_failed", ip=client_ip(request))
