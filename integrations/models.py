"""Connections to providers, the sync runs made for them, and the webhook deliveries received."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations import crypto


class ConnectionQuerySet(models.QuerySet["Connection"]):
    def for_user(self, user) -> ConnectionQuerySet:
        return self.filter(user=user)

    def syncable(self) -> ConnectionQuerySet:
        return self.filter(status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR])

    def due_for_sync(self, now: datetime | None = None) -> ConnectionQuerySet:
        now = now or timezone.now()
        return self.syncable().filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))


class Connection(models.Model):
    """One user's authorisation at one provider, with its sync state.

    Tokens are stored encrypted (integrations.crypto) and read through `access_token` /
    `refresh_token`; they never appear in `repr`, the admin, the API, logs or exports.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        NEEDS_REAUTH = "needs_reauth"
        REVOKED = "revoked"
        ERROR = "error"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    provider = models.CharField(max_length=32)  # a slug from integrations.registry
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    scopes = models.JSONField(default=list, blank=True)
    external_user_id = models.CharField(max_length=128, blank=True)
    access_token_encrypted = models.TextField(blank=True, editable=False)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Per data type, the ISO instant up to which data has been synced and committed.
    cursors = models.JSONField(default=dict, blank=True)
    backfill_days = models.PositiveIntegerField(null=True, blank=True)  # None: SYNC_BACKFILL_DAYS
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # for people: what went wrong and what to do
    last_error_at = models.DateTimeField(null=True, blank=True)
    sync_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    sync_lease_token = models.CharField(max_length=32, blank=True, editable=False)  # the run holding it
    next_sync_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="connection_one_per_provider"),
        ]
        indexes = [
            models.Index(fields=["provider", "external_user_id"], name="connection_provider_external"),
            models.Index(fields=["status", "next_sync_at"], name="connection_due"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} connection of user {self.user_id} ({self.status})"

    def __repr__(self) -> str:
        return f"<Connection {self.pk} {self.provider} {self.status}>"

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = crypto.encrypt(value)

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)

    @refresh_token.setter
    def refresh_token(self, value: str) -> None:
        self.refresh_token_encrypted = crypto.encrypt(value)

    def token_expires_within(self, seconds: float) -> bool:
        if self.token_expires_at is None:
            return False
        return self.token_expires_at <= timezone.now() + timedelta(seconds=seconds)

    def cursor(self, data_type: str) -> datetime | None:
        value = self.cursors.get(data_type)
        return datetime.fromisoformat(value) if value else None

    def stagger_seconds(self, interval_seconds: float) -> float:
        """A stable offset per user inside the sync interval, so users do not all sync at once."""
        digest = hashlib.sha256(f"sync:{self.user_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % max(1, int(interval_seconds))

    def next_slot(self, after: datetime) -> datetime:
        """The first of this connection's periodic sync times strictly after `after`."""
        interval = settings.SYNC_INTERVAL_HOURS * 3600
        offset = self.stagger_seconds(interval)
        elapsed = (after.timestamp() - offset) // interval + 1
        return datetime.fromtimestamp(elapsed * interval + offset, tz=UTC)


class SyncRunQuerySet(models.QuerySet["SyncRun"]):
    def for_user(self, user) -> SyncRunQuerySet:
        return self.filter(connection__user=user)

    def stalled(self, before: datetime) -> SyncRunQuerySet:
        """Runs still `running` whose worker has not reported since `before`."""
        return self.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=before)


class SyncRun(models.Model):
    """One sync of one connection: what it asked for, what it wrote, what went wrong."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"  # some data types failed
        FAILED = "failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=16, default="schedule")  # schedule | manual | webhook | command
    started_at = models.DateTimeField(default=timezone.now)
    # Renewed with the connection's lease while the run works; a stale one means its worker died.
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    windows = models.JSONField(default=dict, blank=True)  # data type -> [start, end] ISO
    counts = models.JSONField(default=dict, blank=True)  # metric (or session kind) -> rows written
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected = models.JSONField(default=dict, blank=True)  # reason -> count
    requests_made = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"data_type", "message", "hint"}]

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["connection", "-started_at"], name="syncrun_connection_started"),
            models.Index(
                fields=["heartbeat_at"], condition=Q(status="running"), name="syncrun_running_heartbeat"
            ),
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.connection.provider} ({self.status})"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class WebhookEvent(models.Model):
    """A delivery from a provider, kept to ignore repeats (providers retry until they get a 2xx)."""

    provider = models.CharField(max_length=32)
    delivery_key = models.CharField(max_length=128)  # the provider's event id, or a hash of the body
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.SET_NULL)
    data_types = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "delivery_key"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} webhook {self.delivery_key[:12]}"
