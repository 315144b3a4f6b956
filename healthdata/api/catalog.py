"""The metric registry and the user's sources, as the API shows them."""

from dataclasses import asdict

from django.db.models import Count, Max, Min, Sum
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.conditional import ETagMixin
from healthdata.metrics import CATEGORIES, DEVICE_KINDS, METRICS, SOURCES, WORKOUT_TYPES
from healthdata.models import DailyRollup
from healthdata.units import accepted_units


def metric_body(code: str) -> dict:
    metric = METRICS[code]
    body = asdict(metric)
    body["plausible"] = list(metric.plausible)
    body["accepted_units"] = accepted_units(code)
    body["can_have_goal"] = metric.can_have_goal
    return body


class MetricsView(ETagMixin, APIView):
    """Every metric code with its category, canonical unit, shape, aggregation, range and identifiers."""

    @extend_schema(
        summary="The metric registry",
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Registry",
                response_only=True,
                value={
                    "metrics": [
                        {
                            "code": "steps",
                            "label": "Steps",
                            "category": "activity",
                            "unit": "count",
                            "shape": "interval",
                            "aggregation": "sum",
                            "plausible": [0, 150000],
                            "daily_hours": 16,
                            "loinc": "55423-8",
                            "healthkit": "HKQuantityTypeIdentifierStepCount",
                            "open_mhealth": "omh:step-count",
                            "accepted_units": ["count", "1"],
                            "can_have_goal": True,
                        }
                    ],
                    "categories": list(CATEGORIES),
                    "workout_types": ["running", "cycling", "other"],
                    "device_kinds": list(DEVICE_KINDS),
                    "sources": sorted(SOURCES),
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "metrics": [metric_body(code) for code in METRICS],
                "categories": list(CATEGORIES),
                "workout_types": list(WORKOUT_TYPES),
                "device_kinds": list(DEVICE_KINDS),
                "sources": sorted(SOURCES),
            }
        )


class SourcesView(ETagMixin, APIView):
    """The sources this user has data from, with the days they cover and how many values each holds."""

    @extend_schema(
        summary="The user's sources with date ranges and counts",
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Two sources",
                response_only=True,
                value={
                    "sources": [
                        {
                            "source": "oura",
                            "first_day": "2024-11-02",
                            "last_day": "2025-01-14",
                            "days": 74,
                            "records": 10934,
                            "metrics": ["heart_rate", "sleep_score", "steps"],
                        }
                    ]
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        # Read from the rollups: one row per day and metric, never a scan of the records.
        rollups = DailyRollup.objects.for_user(request.user)
        ranges = rollups.values("source").annotate(
            first_day=Min("local_date"),
            last_day=Max("local_date"),
            days=Count("local_date", distinct=True),
            records=Sum("count"),
        )
        metrics: dict[str, list[str]] = {}
        for source, metric in rollups.values_list("source", "metric").distinct().order_by("source", "metric"):
            metrics.setdefault(source, []).append(metric)
        return Response(
            {
                "sources": [
                    {**row, "metrics": metrics.get(row["source"], [])} for row in ranges.order_by("source")
                ]
            }
        )
