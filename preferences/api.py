"""Each user's source order per category: read all, read one, replace one."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.conditional import ETagMixin
from healthdata.metrics import CATEGORIES, SOURCES
from preferences.order import InvalidOrder, all_orders, default_order, replace_order, source_order


class SourceOrderSerializer(serializers.Serializer):
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(SOURCES)), max_length=len(SOURCES)
    )


class PreferenceListView(ETagMixin, APIView):
    """Every category's source order, and the default order that completes it."""

    @extend_schema(
        summary="Source order of every category",
        operation_id="preferences_list",
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Orders",
                response_only=True,
                value={
                    "categories": {"sleep": ["oura", "whoop", "apple_health"]},
                    "default": ["strava", "fitbit"],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response({"categories": all_orders(request.user), "default": default_order()})


class PreferenceView(ETagMixin, APIView):
    """One category's order: the first source with enough data on a day wins (docs/merging.md)."""

    @extend_schema(
        summary="Source order of one category",
        responses={200: dict},
        examples=[
            OpenApiExample(
                "Sleep",
                response_only=True,
                value={"category": "sleep", "sources": ["oura", "whoop", "strava", "fitbit", "apple_health"]},
            )
        ],
    )
    def get(self, request: Request, category: str) -> Response:
        if category not in CATEGORIES:
            raise NotFound(f"Unknown category {category!r}.")
        return Response({"category": category, "sources": source_order(request.user, category)})

    @extend_schema(
        summary="Replace the source order of one category",
        request=SourceOrderSerializer,
        responses={200: dict},
        examples=[
            OpenApiExample("Oura first", value={"sources": ["oura", "apple_health"]}, request_only=True),
            OpenApiExample(
                "Stored, completed by the default order",
                response_only=True,
                value={"category": "sleep", "sources": ["oura", "apple_health", "strava", "fitbit"]},
            ),
        ],
    )
    def put(self, request: Request, category: str) -> Response:
        if category not in CATEGORIES:
            raise ValidationError({"category": f"Unknown category {category!r}."})
        body = SourceOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            replace_order(request.user, category, body.validated_data["sources"])
        except InvalidOrder as error:
            raise ValidationError({"sources": str(error)}) from error
        return Response({"category": category, "sources": source_order(request.user, category)})
