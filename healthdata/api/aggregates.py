"""Bucketed series and the daily summary, cached per user data version."""

import hashlib
from dataclasses import asdict
from datetime import date, datetime

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.conditional import ETagMixin
from healthdata import aggregates, caching
from healthdata.aggregates import BUCKETS, Series, TooManyBuckets
from healthdata.api.fields import MetricField, MomentField, SourceField, TimeZoneField
from healthdata.api.records import as_datetime
from healthdata.metrics import METRICS
from healthdata.resolution import Resolved


class AggregateQuerySerializer(serializers.Serializer):
    def get_fields(self) -> dict:
        return {
            "metric": MetricField(),
            "bucket": serializers.ChoiceField(choices=list(BUCKETS), default="day"),
            "from": MomentField(),
            "to": MomentField(),
            "tz": TimeZoneField(required=False),
            "source": SourceField(required=False),
            "explain": serializers.BooleanField(required=False, default=False),
        }


def _is_fresh_read(request: Request) -> bool:
    """`Cache-Control: no-cache` asks for a freshly computed answer."""
    return "no-cache" in request.headers.get("Cache-Control", "")


def _key(request: Request) -> str:
    query = "&".join(f"{name}={value}" for name, value in sorted(request.query_params.items()))
    return hashlib.blake2b(query.encode(), digest_size=16).hexdigest()


def explained_day(resolved: Resolved) -> dict:
    """Why a day's value came from its source: the winner, the candidates and the reason."""
    return {
        "date": resolved.day.isoformat(),
        "source": resolved.source,
        "value": round(resolved.value, 4),
        "secondary_value": resolved.secondary_value,
        "quality": resolved.quality,
        "rule": resolved.rule,
        "reason": resolved.reason,
        "candidates": [asdict(candidate) for candidate in resolved.candidates],
    }


def series_body(series: Series, *, explain: bool = False) -> dict:
    body = {
        "metric": series.metric.code,
        "unit": series.metric.unit,
        "aggregation": series.metric.aggregation,
        "bucket": series.bucket,
        "timezone": series.timezone,
        "buckets": [
            {
                "start": bucket.start.isoformat(),
                "value": bucket.value,
                "secondary_value": bucket.secondary_value,
                "sources": bucket.sources,
                "quality": bucket.quality,
                "count": bucket.count,
            }
            for bucket in series.buckets
        ],
    }
    if explain:
        body["days"] = [explained_day(resolved) for _, resolved in sorted(series.days.items())]
    return body


AGGREGATE_EXAMPLE = {
    "metric": "steps",
    "unit": "count",
    "aggregation": "sum",
    "bucket": "week",
    "timezone": "Europe/London",
    "buckets": [
        {
            "start": "2025-01-13",
            "value": 61234.0,
            "secondary_value": None,
            "sources": ["apple_health", "fitbit"],
            "quality": 81,
            "count": 7,
        }
    ],
}


EXPLAINED_EXAMPLE = {
    **AGGREGATE_EXAMPLE,
    "bucket": "day",
    "buckets": [
        {
            "start": "2025-01-15",
            "value": 9874.0,
            "secondary_value": None,
            "sources": ["apple_health"],
            "quality": 84,
            "count": 1,
        }
    ],
    "days": [
        {
            "date": "2025-01-15",
            "source": "apple_health",
            "value": 9874.0,
            "secondary_value": None,
            "quality": 84,
            "rule": "fallback",
            "reason": "Preferred fitbit (19%) below 50% completeness; "
            "apple_health is the next source with enough data (88%).",
            "candidates": [
                {"source": "fitbit", "priority": 1, "value": 2210.0, "secondary_value": None,
                 "coverage_minutes": 180, "completeness": 0.188, "quality": 52},
                {"source": "apple_health", "priority": 2, "value": 9874.0, "secondary_value": None,
                 "coverage_minutes": 840, "completeness": 0.875, "quality": 84},
            ],
        }
    ],
}  # fmt: skip


class AggregateView(ETagMixin, APIView):
    """One metric in time buckets, each value with its source(s) and quality."""

    @extend_schema(
        summary="Aggregate a metric into hour, day, week or month buckets",
        parameters=[
            OpenApiParameter("metric", str, required=True),
            OpenApiParameter("bucket", str, enum=list(BUCKETS), description="Default: day."),
            OpenApiParameter("from", str, required=True, description="Date or timestamp with offset."),
            OpenApiParameter(
                "to", str, required=True, description="Date (inclusive) or timestamp (exclusive)."
            ),
            OpenApiParameter("tz", str, description="IANA time zone of the buckets; default: the user's."),
            OpenApiParameter("source", str, description="One source's data instead of the resolved series."),
            OpenApiParameter(
                "explain",
                bool,
                description="Add `days`: each local day's winning source, its candidates and the reason.",
            ),
        ],
        responses={200: dict},
        examples=[
            OpenApiExample("Weekly steps", value=AGGREGATE_EXAMPLE, response_only=True),
            OpenApiExample("Daily steps, explained", value=EXPLAINED_EXAMPLE, response_only=True),
        ],
    )
    def get(self, request: Request) -> Response:
        query = AggregateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if _is_fresh_read(request):
            return Response(self._compute(request, query.validated_data))
        body = caching.cached(
            "aggregate", request.user.pk, _key(request), lambda: self._compute(request, query.validated_data)
        )
        return Response(body)

    def _compute(self, request: Request, query: dict) -> dict:
        zone = query.get("tz") or request.user.zone
        start, end = as_datetime(query["from"], zone), as_datetime(query["to"], zone, end=True)
        if end <= start:
            raise ValidationError({"to": "The end must be after the start."})
        try:
            series = aggregates.aggregate(
                request.user,
                METRICS[query["metric"]],
                query["bucket"],
                start,
                end,
                zone,
                query.get("source", ""),
            )
        except TooManyBuckets as error:
            raise ValidationError({"bucket": str(error)}) from error
        return series_body(series, explain=query["explain"])


class SummaryQuerySerializer(serializers.Serializer):
    date = serializers.DateField(required=False)

    def to_internal_value(self, data):
        if data.get("date") == "":  # a query string drops blanks; `?date=` is a mistake, not "today"
            raise ValidationError({"date": ["Give a date as YYYY-MM-DD, or leave the parameter out."]})
        return super().to_internal_value(data)


SUMMARY_EXAMPLE = {
    "date": "2025-01-14",
    "categories": {
        "activity": {
            "steps": {
                "value": 9120.0,
                "secondary_value": None,
                "unit": "count",
                "source": "apple_health",
                "quality": 83,
                "reason": "apple_health is the preferred source and its data is complete enough (100%).",
                "candidates": [
                    {
                        "source": "apple_health",
                        "priority": 1,
                        "value": 9120.0,
                        "secondary_value": None,
                        "coverage_minutes": 960,
                        "completeness": 1.0,
                        "quality": 83,
                    }
                ],
            }
        }
    },
}


class DailySummaryView(ETagMixin, APIView):
    """One local day's headline numbers for every category, each from its resolved source."""

    @extend_schema(
        summary="One day's resolved values for all categories",
        parameters=[OpenApiParameter("date", date, description="A local date; default: today.")],
        responses={200: dict},
        examples=[OpenApiExample("A day", value=SUMMARY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        day = query.validated_data.get("date") or datetime.now(request.user.zone).date()
        if _is_fresh_read(request):
            return Response(summary_body(request.user, day))
        return Response(
            caching.cached(
                "summary", request.user.pk, day.isoformat(), lambda: summary_body(request.user, day)
            )
        )


def summary_body(user, day: date) -> dict:
    summary = aggregates.daily_summary(user, day)
    return {
        "date": day.isoformat(),
        "categories": {
            category: {
                code: {
                    "value": round(resolved.value, 4),
                    "secondary_value": resolved.secondary_value,
                    "unit": METRICS[code].unit,
                    "source": resolved.source,
                    "quality": resolved.quality,
                    "reason": resolved.reason,
                    "candidates": [asdict(candidate) for candidate in resolved.candidates],
                }
                for code, resolved in metrics.items()
            }
            for category, metrics in summary.items()
        },
    }
