"""Goals: create, read, update, delete, and progress over a period."""

from datetime import date, datetime, timedelta

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from config.conditional import ETagMixin
from healthdata import aggregates
from healthdata.api.fields import MetricField
from healthdata.metrics import METRICS
from healthdata.models import Goal, GoalQuerySet

DEFAULT_PROGRESS_PERIODS = {"day": 7, "week": 4, "month": 3}


class GoalSerializer(serializers.ModelSerializer):
    metric = MetricField()
    period = serializers.ChoiceField(choices=list(Goal.PERIODS), default="day")
    comparison = serializers.ChoiceField(choices=list(Goal.COMPARISONS), default="at_least")
    unit = serializers.SerializerMethodField()

    class Meta:
        model = Goal
        fields = ["id", "metric", "target", "unit", "period", "comparison", "created", "updated"]
        read_only_fields = ["id", "unit", "created", "updated"]

    def get_unit(self, goal: Goal) -> str:
        return METRICS[goal.metric].unit

    def validate_metric(self, code: str) -> str:
        if not METRICS[code].can_have_goal:
            raise serializers.ValidationError(f"{code!r} has no single value per period to set a goal on.")
        return code

    def validate(self, attrs: dict) -> dict:
        metric = METRICS[attrs.get("metric") or self.instance.metric]
        target = attrs.get("target", self.instance.target if self.instance else None)
        low, high = metric.plausible
        period_days = {"day": 1, "week": 7, "month": 31}[
            attrs.get("period") or getattr(self.instance, "period", "day")
        ]
        ceiling = high * period_days if metric.is_additive else high
        if target is not None and not low <= target <= ceiling:
            raise serializers.ValidationError(
                {"target": f"Must be between {low:g} and {ceiling:g} {metric.unit}."}
            )
        return attrs


class ProgressQuerySerializer(serializers.Serializer):
    def get_fields(self) -> dict:
        return {"from": serializers.DateField(required=False), "to": serializers.DateField(required=False)}


GOAL_EXAMPLE = {
    "id": 3,
    "metric": "steps",
    "target": 10000.0,
    "unit": "count",
    "period": "day",
    "comparison": "at_least",
    "created": "2025-01-02T09:12:44Z",
    "updated": "2025-01-02T09:12:44Z",
}
WEIGHT_GOAL_EXAMPLE = {
    **GOAL_EXAMPLE,
    "id": 4,
    "metric": "weight",
    "target": 75.0,
    "unit": "kg",
    "period": "week",
    "comparison": "at_most",
}


def _goal_examples(*, request: dict | None = None, response: dict = GOAL_EXAMPLE) -> list[OpenApiExample]:
    examples = [OpenApiExample("Goal", value=response, response_only=True)]
    if request is not None:
        examples.append(OpenApiExample("Request", value=request, request_only=True))
    return examples


@extend_schema_view(
    list=extend_schema(summary="List goals", examples=_goal_examples()),
    create=extend_schema(
        summary="Create a goal",
        examples=[
            OpenApiExample("Daily steps", value={"metric": "steps", "target": 10000}, request_only=True),
            OpenApiExample("Created", value=GOAL_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    retrieve=extend_schema(summary="One goal", examples=_goal_examples()),
    update=extend_schema(
        summary="Replace a goal",
        examples=_goal_examples(
            request={"metric": "weight", "target": 75, "period": "week", "comparison": "at_most"},
            response=WEIGHT_GOAL_EXAMPLE,
        ),
    ),
    partial_update=extend_schema(
        summary="Change a goal",
        examples=_goal_examples(request={"target": 10000}),
    ),
    destroy=extend_schema(summary="Delete a goal"),
)
class GoalViewSet(ETagMixin, viewsets.ModelViewSet):
    """A target for one metric per day, week or month, in the metric's canonical unit."""

    serializer_class = GoalSerializer
    filter_backends: list = []

    def get_queryset(self) -> GoalQuerySet:
        return Goal.objects.for_user(self.request.user).order_by("id")

    def perform_create(self, serializer: GoalSerializer) -> None:
        serializer.save(user=self.request.user)

    @extend_schema(
        summary="Progress towards a goal, period by period",
        parameters=[
            OpenApiParameter("from", date, description="First local day; default: a few periods back."),
            OpenApiParameter("to", date, description="Last local day (inclusive); default: today."),
        ],
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Last days",
                response_only=True,
                value={
                    "goal": {"id": 3, "metric": "steps", "target": 10000.0, "period": "day"},
                    "periods": [
                        {"start": "2025-01-14", "value": 11234.0, "met": True, "sources": ["fitbit"]}
                    ],
                    "met": 1,
                    "total": 1,
                },
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str | None = None) -> Response:
        goal = self.get_object()
        query = ProgressQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        zone = request.user.zone
        last = query.validated_data.get("to") or datetime.now(zone).date()
        first = query.validated_data.get("from") or _default_first(goal.period, last)
        if first > last:
            raise serializers.ValidationError({"from": "Must not be after `to`."})
        start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        series = aggregates.aggregate(request.user, METRICS[goal.metric], goal.period, start, end, zone)
        periods = [
            {"start": bucket.start.isoformat(), "value": bucket.value, "met": goal.is_met_by(bucket.value),
             "sources": bucket.sources}
            for bucket in series.buckets
        ]  # fmt: skip
        return Response(
            {
                "goal": GoalSerializer(goal).data,
                "periods": periods,
                "met": sum(period["met"] for period in periods),
                "total": len(periods),
            }
        )


def _default_first(period: str, last: date) -> date:
    count = DEFAULT_PROGRESS_PERIODS[period]
    if period == "day":
        return last - timedelta(days=count - 1)
    if period == "week":
        return last - timedelta(days=last.weekday() + 7 * (count - 1))
    month_start = last.replace(day=1)
    for _ in range(count - 1):
        month_start = (month_start - timedelta(days=1)).replace(day=1)
    return month_start
