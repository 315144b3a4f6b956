from datetime import date, datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from healthdata.quality import flag_names


class RecordQuerySet(models.QuerySet["Record"]):
    def for_user(self, user) -> "RecordQuerySet":
        return self.filter(user=user)

    def between(self, start: datetime, end: datetime) -> "RecordQuerySet":
        return self.filter(start__gte=start, start__lt=end)


class Record(models.Model):
    """One value of one metric from one source, in the metric's canonical unit."""

    # The unique key and the index below start with the user, so the foreign key needs no index of its own.
    # No database constraint either: its per-row check at commit nearly doubled the cost of a batch
    # upsert (docs/data-model.md); deleting a user still deletes their records through the ORM.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    metric = models.CharField(max_length=64)  # a code from healthdata.metrics, checked on ingest
    source = models.CharField(max_length=32)  # "oura", "apple_health", "manual"
    source_key = models.CharField(max_length=128)  # the source's own identity for this value
    device = models.CharField(max_length=128, blank=True)
    device_kind = models.CharField(max_length=16, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField(null=True, blank=True)  # null: the source gave none
    local_date = models.DateField()
    value = models.FloatField()
    secondary_value = models.FloatField(null=True, blank=True)
    quality = models.PositiveSmallIntegerField()
    flags = models.PositiveSmallIntegerField(default=0)  # bits of healthdata.quality.FLAGS
    origin_kind = models.CharField(max_length=16)  # import | sync | manual
    origin_id = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RecordQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "source", "source_key"], name="record_one_per_source"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="record_ends_after_start"),
        ]
        # Serves every read by metric and time (raw lists, sub-day buckets, rollup refresh).
        # See docs/data-model.md for the measurements behind this choice.
        indexes = [models.Index(fields=["user", "metric", "start"], name="record_user_metric_start")]

    def __str__(self) -> str:
        return f"{self.metric} {self.value:g} ({self.source}, {self.start:%Y-%m-%d %H:%M})"

    @property
    def flag_names(self) -> list[str]:
        return flag_names(self.flags)


class SessionQuerySet(models.QuerySet["Session"]):
    def for_user(self, user) -> "SessionQuerySet":
        return self.filter(user=user)

    def overlapping(self, start: datetime, end: datetime) -> "SessionQuerySet":
        return self.filter(start__lt=end, end__gt=start)


class Session(models.Model):
    """A sleep (with stages) or a workout, as one source recorded it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    kind = models.CharField(max_length=16)  # sleep | workout
    source = models.CharField(max_length=32)
    source_key = models.CharField(max_length=128)
    activity_type = models.CharField(max_length=32, blank=True)  # workouts: healthdata.metrics.WORKOUT_TYPES
    device = models.CharField(max_length=128, blank=True)
    device_kind = models.CharField(max_length=16, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField(null=True, blank=True)
    local_date = models.DateField()  # the day the session ends on
    duration_minutes = models.FloatField()
    stages = models.JSONField(default=list, blank=True)  # [{"stage", "start", "end"}] in time order
    values = models.JSONField(default=dict, blank=True)  # summary values in canonical units, by metric
    quality = models.PositiveSmallIntegerField()
    origin_kind = models.CharField(max_length=16)
    origin_id = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The same sleep or workout from another source, recognised by healthdata.resolution.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "source", "source_key"], name="session_one_per_source"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="session_ends_after_start"),
        ]
        indexes = [models.Index(fields=["user", "kind", "start"], name="session_user_kind_start")]

    def __str__(self) -> str:
        label = self.activity_type or self.kind
        return f"{label} {self.duration_minutes:.0f} min ({self.source}, {self.start:%Y-%m-%d %H:%M})"


class DailyRollupQuerySet(models.QuerySet["DailyRollup"]):
    def for_user(self, user) -> "DailyRollupQuerySet":
        return self.filter(user=user)

    def on_days(self, first: date, last: date) -> "DailyRollupQuerySet":
        return self.filter(local_date__gte=first, local_date__lte=last)


class DailyRollup(models.Model):
    """One metric's value on one local day from one source, kept current by healthdata.rollups."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    metric = models.CharField(max_length=64)
    local_date = models.DateField()
    source = models.CharField(max_length=32)
    value = models.FloatField()  # the metric's aggregation over the day
    secondary_value = models.FloatField(null=True, blank=True)
    minimum = models.FloatField()
    maximum = models.FloatField()
    count = models.PositiveIntegerField()
    coverage_minutes = models.PositiveSmallIntegerField()
    quality = models.PositiveSmallIntegerField()
    updated = models.DateTimeField(auto_now=True)

    objects = DailyRollupQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "metric", "local_date", "source"], name="rollup_one_per_source_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.local_date} {self.source}: {self.value:g}"


class GoalQuerySet(models.QuerySet["Goal"]):
    def for_user(self, user) -> "GoalQuerySet":
        return self.filter(user=user)


class Goal(models.Model):
    """A target for one metric over a period: 10,000 steps a day, at most 75 kg, ..."""

    PERIODS = ("day", "week", "month")
    COMPARISONS = ("at_least", "at_most")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    metric = models.CharField(max_length=64)
    target = models.FloatField()  # in the metric's canonical unit
    period = models.CharField(max_length=8, default="day")
    comparison = models.CharField(max_length=8, default="at_least")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = GoalQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(period__in=["day", "week", "month"]), name="goal_known_period"
            ),
            models.CheckConstraint(
                condition=Q(comparison__in=["at_least", "at_most"]), name="goal_known_comparison"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.comparison} {self.target:g} per {self.period}"

    def is_met_by(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.target if self.comparison == "at_least" else value <= self.target


class IdempotentRequest(models.Model):
    """A write request answered once: a replay with its `Idempotency-Key` gets the stored answer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64)  # hash of the request body
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
