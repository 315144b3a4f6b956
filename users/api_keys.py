"""API keys for scripts: made once, kept as a SHA-256 hash, accepted as `Authorization: Api-Key <key>`.

A key reads `hfa_<prefix>_<secret>`. The prefix is public: it finds the row and names the key in
lists, logs and the admin. The secret has 256 bits of entropy, so one SHA-256 is enough to store it.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from config.cache import count_up
from users import audit
from users.models import ApiKey, ApiKeyScope, User

KEY_PREFIX = "hfa_"
KEYWORD = "Api-Key"


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: `secret` is the whole key, shown to its owner this once and never again."""

    key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(*, user: User, name: str, scope: str, ip: str | None = None) -> NewApiKey:
    """Make a key for `user`; the returned secret is the only copy that will ever exist."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user, name=name, scope=ApiKeyScope(scope), prefix=prefix, secret_hash=hash_secret(secret)
    )
    audit.record(
        actor=user,
        user=user,
        action="api_key.created",
        target=f"api_key:{prefix}",
        ip=ip,
        details={"name": name, "scope": scope},
    )
    return NewApiKey(key=key, secret=f"{KEY_PREFIX}{prefix}_{secret}")


def revoke_api_key(*, key: ApiKey, actor: User | None, ip: str | None = None) -> bool:
    """Revoke `key` for good; False when it was already revoked."""
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        key.refresh_from_db(fields=["revoked_at"])
        audit.record(
            actor=actor, user=key.user, action="api_key.revoked", target=f"api_key:{key.prefix}", ip=ip
        )
    return bool(revoked)


def verify(raw_key: str) -> ApiKey | None:
    """The active key of an active user that `raw_key` spells, or None."""
    if not raw_key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw_key.removeprefix(KEY_PREFIX).partition("_")
    if not prefix or not secret:
        return None
    key = ApiKey.objects.active().select_related("user").filter(prefix=prefix).first()
    if key is None or not key.user.is_active:
        return None
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    return key


def scope_allows(key: ApiKey, method: str) -> bool:
    return key.can_write or method in permissions.SAFE_METHODS


def mark_used(key: ApiKey) -> None:
    """Record the time of use, writing at most once per `API_KEY_LAST_USED_INTERVAL_SECONDS`."""
    now = timezone.now()
    interval = timedelta(seconds=settings.API_KEY_LAST_USED_INTERVAL_SECONDS)
    if key.last_used_at is not None and now - key.last_used_at < interval:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - interval)
    if ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now):
        key.last_used_at = now


def _failure_counter(request: Request) -> str:
    """The cache key counting the client address's wrong keys in the current window."""
    window_seconds = settings.API_KEY_FAILURE_WINDOW_SECONDS
    address = import_string(settings.RATELIMIT_IP_META_KEY)(request)
    return f"api-key-failures:{address}:{int(time.time() // window_seconds)}"


def _throttled() -> exceptions.Throttled:
    window_seconds = settings.API_KEY_FAILURE_WINDOW_SECONDS
    return exceptions.Throttled(wait=window_seconds - time.time() % window_seconds)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; `request.auth` is the ApiKey row."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        keyword, _, raw_key = (
            authentication.get_authorization_header(request).decode("latin-1").partition(" ")
        )
        if keyword.lower() != KEYWORD.lower():
            return None
        # A right key costs one read of the counter; only wrong keys write to it. Parallel wrong keys
        # may all pass this read, but each failure is counted before it is answered and those past
        # the limit get a 429, so no more than the limit are ever told a key is wrong.
        counter = _failure_counter(request)
        if cache.get(counter, 0) >= settings.API_KEY_FAILURES_PER_IP:
            raise _throttled()
        key = verify(raw_key.strip())
        if key is None:
            if count_up(counter, settings.API_KEY_FAILURE_WINDOW_SECONDS) > settings.API_KEY_FAILURES_PER_IP:
                raise _throttled()
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        if not scope_allows(key, request.method):  # also for views with their own permission_classes
            raise exceptions.PermissionDenied(ApiKeyScopeAllows.message, code=ApiKeyScopeAllows.code)
        mark_used(key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class ApiKeyScopeAllows(permissions.BasePermission):
    """A read-only API key may use safe methods only; other credentials are not affected."""

    message = "This API key is read-only."
    code = "read_only_key"

    def has_permission(self, request: Request, view) -> bool:
        return not isinstance(request.auth, ApiKey) or scope_allows(request.auth, request.method)


class NotWithApiKey(permissions.BasePermission):
    """Refuse API-key requests, so that a leaked key cannot make or revoke keys."""

    message = "API keys cannot be managed with an API key; sign in instead."
    code = "api_key_not_allowed"

    def has_permission(self, request: Request, view) -> bool:
        return not isinstance(request.auth, ApiKey) or request.method in permissions.SAFE_METHODS


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes API keys in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key hfa_<prefix>_<secret>`, made on /account/ or by POST /api/v1/api-keys.",
        }
