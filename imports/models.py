"""Import jobs (one uploaded file each) and saved CSV mapping templates."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

KINDS = ("apple_health", "csv", "cronometer", "myfitnesspal", "fitbit", "withings")
ACTIVE_STATUSES = ("queued", "running")


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    def for_user(self, user) -> "ImportJobQuerySet":
        return self.filter(user=user)

    def active(self) -> "ImportJobQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)

    def stalled(self, older_than: timedelta) -> "ImportJobQuerySet":
        """Running jobs whose worker stopped beating, and queued jobs no worker has taken."""
        limit = timezone.now() - older_than
        running = Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=limit)
        queued = Q(status=ImportJob.Status.QUEUED, queued_at__lt=limit)
        return self.filter(running | queued)


class ImportJob(models.Model):
    """One uploaded file and its import: status, progress, counts, rejections and the resume point."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=32)  # one of KINDS
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    source = models.CharField(max_length=32, blank=True)  # the source slug the records carry
    file_path = models.CharField(max_length=500)  # relative to MEDIA_ROOT
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    options = models.JSONField(default=dict, blank=True)  # CSV mapping or preset, weight unit
    idempotency_key = models.CharField(max_length=128, blank=True)

    progress = models.FloatField(default=0)  # percent
    checkpoint = models.BigIntegerField(default=0)  # items committed; a re-delivered task resumes here
    created_count = models.IntegerField(default=0)
    updated_count = models.IntegerField(default=0)
    unchanged_count = models.IntegerField(default=0)
    counts_by_metric = models.JSONField(default=dict, blank=True)  # metric -> rows written
    rejected = models.JSONField(default=dict, blank=True)  # reason -> count
    rejected_rows = models.JSONField(default=list, blank=True)  # [{"line", "reason", "raw"}], capped
    report = models.JSONField(default=dict, blank=True)  # unknown types, skipped elements

    attempts = models.PositiveSmallIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)  # the worker run that holds the job
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)

    created = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    parse_seconds = models.FloatField(default=0)
    write_seconds = models.FloatField(default=0)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="import_job_one_per_idempotency_key",
            ),
            # The same file twice at once would only do the work twice: one active job per file.
            models.UniqueConstraint(
                fields=["user", "sha256"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="import_job_one_active_per_file",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "sha256"], name="import_job_user_sha256"),
            models.Index(fields=["status", "heartbeat_at"], name="import_job_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} import #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    @property
    def absolute_path(self):
        return settings.MEDIA_ROOT / self.file_path


class SavedMappingQuerySet(models.QuerySet["SavedMapping"]):
    def for_user(self, user) -> "SavedMappingQuerySet":
        return self.filter(user=user)


class SavedMapping(models.Model):
    """A CSV mapping a user keeps as a template, found again by the header it was made for."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="csv_mappings")
    name = models.CharField(max_length=100)
    header = models.JSONField(default=list, blank=True)  # the columns of the file it was made for
    mapping = models.JSONField()  # imports.parsers.csv.CsvMapping.as_dict()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = SavedMappingQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_mapping_unique_name")]

    def __str__(self) -> str:
        return self.name
