"""Records and sessions: cursor-paginated reads, raw or merged, and manual entry."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination

from config.conditional import ETagMixin
from healthdata.api.fields import CategoryField, MetricField, MomentField, SourceField
from healthdata.metrics import METRICS, SESSION_KINDS, in_category
from healthdata.models import Record, RecordQuerySet, Session
from healthdata.quality import flag_names
from healthdata.resolution import resolve

MERGED_DEFAULT_DAYS = 31


class RecordSerializer(serializers.ModelSerializer):
    unit = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()

    class Meta:
        model = Record
        fields = [
            "id", "metric", "source", "device", "device_kind", "start", "end", "utc_offset_minutes",
            "local_date", "value", "secondary_value", "unit", "quality", "flags", "metadata",
        ]  # fmt: skip
        read_only_fields = fields

    def get_unit(self, record: Record) -> str:
        return METRICS[record.metric].unit if record.metric in METRICS else ""

    def get_flags(self, record: Record) -> list[str]:
        return flag_names(record.flags)


class RecordQuerySerializer(serializers.Serializer):
    def get_fields(self) -> dict:
        return {
            "metric": MetricField(required=False),
            "category": CategoryField(required=False),
            "source": SourceField(required=False),
            "from": MomentField(required=False),
            "to": MomentField(required=False),
            "merged": serializers.BooleanField(required=False, default=False),
        }

    def validate(self, attrs: dict) -> dict:
        if attrs.get("merged") and not (attrs.get("metric") or attrs.get("category")):
            raise serializers.ValidationError({"merged": "Merged records need a metric or a category."})
        return attrs


class NewestFirst(CursorPagination):
    ordering = ("-start", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1_000


def as_datetime(moment: date | datetime, zone, *, end: bool = False) -> datetime:
    """A timestamp as given; a date as the local midnight starting it (the day after it, for an end)."""
    if isinstance(moment, datetime):
        return moment
    day = moment + timedelta(days=1) if end else moment
    return datetime.combine(day, time.min, tzinfo=zone)


RECORD_PARAMETERS = [
    OpenApiParameter("metric", str, description="A metric code from /api/v1/metrics."),
    OpenApiParameter("category", str, description="activity, heart, sleep, body, vitals, ..."),
    OpenApiParameter("source", str, description="A source slug: oura, apple_health, manual, ..."),
    OpenApiParameter("from", str, description="Date (local midnight) or timestamp with offset; inclusive."),
    OpenApiParameter("to", str, description="Date (inclusive day) or timestamp with offset; exclusive."),
    OpenApiParameter(
        "merged", bool, description="Only each day's winning source (needs metric or category)."
    ),
]


RECORD_EXAMPLE = {
    "id": 41,
    "metric": "steps",
    "source": "apple_health",
    "device": "Apple Watch",
    "device_kind": "watch",
    "start": "2025-01-14T12:58:40Z",
    "end": "2025-01-14T13:06:12Z",
    "utc_offset_minutes": -300,
    "local_date": "2025-01-14",
    "value": 812.0,
    "secondary_value": None,
    "unit": "count",
    "quality": 85,
    "flags": [],
    "metadata": {},
}
CONVERTED_EXAMPLE = {
    **RECORD_EXAMPLE,
    "id": 42,
    "metric": "weight",
    "source": "manual",
    "device": "",
    "device_kind": "manual",
    "start": "2025-01-14T06:30:00Z",
    "end": "2025-01-14T06:30:00Z",
    "utc_offset_minutes": 60,
    "value": 74.843,
    "unit": "kg",
    "quality": 60,
    "flags": ["converted"],
    "metadata": {"original": {"value": 165.0, "unit": "lb"}},
}


@extend_schema_view(
    # drf-spectacular wraps list examples in the cursor page ({"next", "previous", "results"}).
    list=extend_schema(
        summary="List records, newest first",
        parameters=RECORD_PARAMETERS,
        examples=[OpenApiExample("Merged steps", response_only=True, value=RECORD_EXAMPLE)],
    ),
    retrieve=extend_schema(
        summary="One record",
        examples=[OpenApiExample("A weight entered in pounds", response_only=True, value=CONVERTED_EXAMPLE)],
    ),
)
class RecordViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """Stored values in their metric's canonical unit, each with its source, quality and flags."""

    serializer_class = RecordSerializer
    pagination_class = NewestFirst
    filter_backends: list = []

    def get_queryset(self) -> RecordQuerySet:
        records = Record.objects.for_user(self.request.user)
        if self.action != "list":
            return records
        query = RecordQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return self._filtered(records, query.validated_data)

    def _filtered(self, records: RecordQuerySet, query: dict) -> RecordQuerySet:
        zone = self.request.user.zone
        if query.get("metric"):
            records = records.filter(metric=query["metric"])
        if query.get("category"):
            records = records.filter(metric__in=[metric.code for metric in in_category(query["category"])])
        if query.get("source"):
            records = records.filter(source=query["source"])
        if query.get("from"):
            records = records.filter(start__gte=as_datetime(query["from"], zone))
        if query.get("to"):
            records = records.filter(start__lt=as_datetime(query["to"], zone, end=True))
        if query["merged"]:
            records = records.filter(self._winners(query))
        return records

    def _winners(self, query: dict) -> Q:
        """Records of each day's winning source, per metric, over the asked range (a month by default)."""
        zone = self.request.user.zone
        last = _local_date(query.get("to"), zone) or datetime.now(zone).date()
        first = _local_date(query.get("from"), zone) or last - timedelta(days=MERGED_DEFAULT_DAYS - 1)
        metrics = [METRICS[query["metric"]]] if query.get("metric") else in_category(query["category"])
        condition = Q(pk__in=[])
        for metric in metrics:
            days_by_source: dict[str, list[date]] = defaultdict(list)
            for day, resolved in resolve(self.request.user, metric, first, last).items():
                days_by_source[resolved.source].append(day)
            for source, days in days_by_source.items():
                condition |= Q(metric=metric.code, source=source, local_date__in=days)
        return condition


def _local_date(moment: date | datetime | None, zone) -> date | None:
    if moment is None:
        return None
    return moment.astimezone(zone).date() if isinstance(moment, datetime) else moment


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = [
            "id", "kind", "source", "activity_type", "device", "device_kind", "start", "end",
            "utc_offset_minutes", "local_date", "duration_minutes", "stages", "values", "quality",
            "duplicate_of", "metadata",
        ]  # fmt: skip
        read_only_fields = fields


class SessionQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(SESSION_KINDS), required=False)
    source = SourceField(required=False)
    merged = serializers.BooleanField(required=False, default=False)


SESSION_EXAMPLE = {
    "id": 7,
    "kind": "sleep",
    "source": "oura",
    "activity_type": "",
    "device": "Oura Ring",
    "device_kind": "ring",
    "start": "2025-01-13T22:41:00Z",
    "end": "2025-01-14T06:29:00Z",
    "utc_offset_minutes": 60,
    "local_date": "2025-01-14",
    "duration_minutes": 468.0,
    "stages": [
        {"stage": "light", "start": "2025-01-13T23:41:00+01:00", "end": "2025-01-14T00:20:00+01:00"},
        {"stage": "deep", "start": "2025-01-14T00:20:00+01:00", "end": "2025-01-14T01:31:00+01:00"},
    ],
    "values": {"sleep_score": 82.0},
    "quality": 85,
    "duplicate_of": None,
    "metadata": {},
}
WORKOUT_EXAMPLE = {
    **SESSION_EXAMPLE,
    "id": 9,
    "kind": "workout",
    "source": "apple_health",
    "activity_type": "running",
    "device": "Apple Watch",
    "device_kind": "watch",
    "start": "2025-01-14T06:01:00Z",
    "end": "2025-01-14T06:34:00Z",
    "duration_minutes": 33.0,
    "stages": [],
    "values": {"distance": 5210.0, "active_energy": 352.0, "heart_rate": 148.0, "heart_rate_max": 171.0},
    "duplicate_of": 8,
}


@extend_schema_view(
    list=extend_schema(
        summary="List sleep and workout sessions, newest first",
        parameters=[
            OpenApiParameter("kind", str, description="sleep or workout"),
            OpenApiParameter("source", str),
            OpenApiParameter(
                "merged", bool, description="Hide sessions linked as another source's duplicate."
            ),
        ],
        examples=[OpenApiExample("A night of sleep", response_only=True, value=SESSION_EXAMPLE)],
    ),
    retrieve=extend_schema(
        summary="One session",
        examples=[OpenApiExample("A run linked to Strava's copy", response_only=True, value=WORKOUT_EXAMPLE)],
    ),
)
class SessionViewSet(ETagMixin, viewsets.ReadOnlyModelViewSet):
    """Sleeps with their stages and workouts with their summary values, one row per source."""

    serializer_class = SessionSerializer
    pagination_class = NewestFirst
    filter_backends: list = []

    def get_queryset(self):
        sessions = Session.objects.for_user(self.request.user)
        if self.action != "list":
            return sessions
        query = SessionQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = {
            name: query.validated_data[name] for name in ("kind", "source") if name in query.validated_data
        }
        sessions = sessions.filter(**filters)
        if query.validated_data["merged"]:
            sessions = sessions.filter(duplicate_of__isnull=True)
        return sessions
