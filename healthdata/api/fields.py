"""Query and body fields shared by the data API's serializers."""

from datetime import date, datetime
from zoneinfo import ZoneInfo, available_timezones

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from healthdata.metrics import CATEGORIES, METRICS, SOURCES


@extend_schema_field({"type": "string", "example": "2025-01-14T07:30:00+01:00"})
class MomentField(serializers.Field):
    """A date (`2025-01-14`, the local midnight starting it) or a timestamp with its UTC offset."""

    default_error_messages = {
        "invalid": "Use a date (YYYY-MM-DD) or an ISO 8601 timestamp with a UTC offset.",
        "naive": "The timestamp has no UTC offset; add one (e.g. +01:00 or Z).",
    }

    def to_internal_value(self, data: str) -> date | datetime:
        text = str(data).strip()
        try:
            moment = parse_datetime(text) if "T" in text or " " in text else parse_date(text)
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            self.fail("naive")
        return moment

    def to_representation(self, value: date | datetime) -> str:
        return value.isoformat()


@extend_schema_field(OpenApiTypes.DATETIME)
class TimestampField(MomentField):
    """A timestamp with its UTC offset (a bare date is refused)."""

    def to_internal_value(self, data: str) -> datetime:
        moment = super().to_internal_value(data)
        if not isinstance(moment, datetime):
            self.fail("invalid")
        return moment


class MetricField(serializers.ChoiceField):
    def __init__(self, **kwargs) -> None:
        super().__init__(choices=sorted(METRICS), **kwargs)


class CategoryField(serializers.ChoiceField):
    def __init__(self, **kwargs) -> None:
        super().__init__(choices=list(CATEGORIES), **kwargs)


class SourceField(serializers.ChoiceField):
    def __init__(self, **kwargs) -> None:
        super().__init__(choices=sorted(SOURCES), **kwargs)


@extend_schema_field({"type": "string", "example": "Europe/London"})
class TimeZoneField(serializers.CharField):
    def to_internal_value(self, data: str) -> ZoneInfo:
        name = super().to_internal_value(data)
        if name not in available_timezones():
            raise serializers.ValidationError(f"{name!r} is not an IANA time zone name.")
        return ZoneInfo(name)
