import zoneinfo
from datetime import datetime

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name.")


class Units(models.TextChoices):
    METRIC = "metric", "Metric (kg, km, °C)"
    IMPERIAL = "imperial", "Imperial (lb, mi, °F)"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    """A person whose data this is. Signs in with their email address."""

    username = None
    email = models.EmailField("email address", unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    units = models.CharField(max_length=8, choices=Units.choices, default=Units.METRIC)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def for_user(self, user: User) -> "ApiKeyQuerySet":
        return self.filter(user=user)

    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key a script sends as `Authorization: Api-Key <key>`; only the SHA-256 of its secret is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)  # public part, shown in lists and logs
    secret_hash = models.CharField(max_length=64)  # hex SHA-256 of the secret part
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.READ_WRITE


AUDIT_ACTION_LABELS = {
    "auth.login": "Signed in",
    "auth.login_failed": "Failed sign-in attempt",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "export.requested": "Data export requested",
    "export.ready": "Data export ready",
    "export.downloaded": "Data export downloaded",
    "account.deletion_requested": "Account deletion requested",
    "connection.connected": "Source connected",
    "connection.disconnected": "Source disconnected",
    "staff.user_changed": "Account changed by staff",
    "staff.viewed_health_data": "Health data viewed by staff",
    "staff.connection_sync_requested": "Sync started by staff",
    "staff.import_retried": "Import retried by staff",
    "staff.import_cancelled": "Import cancelled by staff",
}


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_user(self, user: User) -> "AuditEventQuerySet":
        return self.filter(user=user)


class AuditEvent(models.Model):
    """One thing that happened to an account or its data. Rows are written once and never changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)  # "auth.login", "api_key.created", ...
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # who did it: the user, a staff member, or nobody (the system)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )  # whose account or data it concerns
    user_ref = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)  # kept after erasure
    target = models.CharField(max_length=200, blank=True)  # "api_key:ab12cd34", "connection:7"
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")

    @property
    def description(self) -> str:
        """The action in words for the account page; unknown actions show their code."""
        return AUDIT_ACTION_LABELS.get(self.action, self.action)


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class DataExportQuerySet(models.QuerySet["DataExport"]):
    def for_user(self, user: User) -> "DataExportQuerySet":
        return self.filter(user=user)

    def pending(self) -> "DataExportQuerySet":
        return self.filter(status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])

    def expired(self, now: datetime) -> "DataExportQuerySet":
        return self.filter(expires_at__lt=now).exclude(status=ExportStatus.EXPIRED)


class DataExport(models.Model):
    """A zip of everything the user has, built in the background and downloadable until it expires."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    file_path = models.CharField(max_length=300, blank=True)  # relative to MEDIA_ROOT
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = DataExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def is_downloadable(self) -> bool:
        return self.status == ExportStatus.READY and bool(self.file_path)


class SentNotice(models.Model):
    """One email sent about one problem on one day, so the same problem mails a user at most daily."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)  # "connection:oura:needs_reauth"
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key", "day"], name="one_notice_per_day")]

    def __str__(self) -> str:
        return f"{self.key} on {self.day}"
