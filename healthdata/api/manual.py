"""Manual entry: one or many records typed in by the user, source `manual`, with an Idempotency-Key."""

import hashlib
import json

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import error_body
from healthdata.api.fields import MetricField, TimestampField
from healthdata.api.records import CONVERTED_EXAMPLE, RecordSerializer
from healthdata.ingest import InvalidRecord, check_record, ingest
from healthdata.metrics import METRICS
from healthdata.models import IdempotentRequest, Record
from healthdata.normalized import Origin, RecordIn

MAX_RECORDS_PER_REQUEST = 500


class ManualRecordSerializer(serializers.Serializer):
    metric = MetricField()
    value = serializers.FloatField()
    unit = serializers.CharField(required=False, help_text="Defaults to the metric's canonical unit.")
    start = TimestampField()
    end = TimestampField(required=False)
    secondary_value = serializers.FloatField(required=False, help_text="The diastolic of a blood pressure.")
    note = serializers.CharField(required=False, max_length=500)

    def validate(self, attrs: dict) -> dict:
        record = to_record(attrs)
        try:
            check_record(record, self.context["request"].user.zone)
        except InvalidRecord as invalid:
            raise serializers.ValidationError(
                {"reason": invalid.reason, "message": str(invalid)}
            ) from invalid
        return attrs


class ManualEntrySerializer(serializers.Serializer):
    records = ManualRecordSerializer(many=True, allow_empty=False, max_length=MAX_RECORDS_PER_REQUEST)


def to_record(attrs: dict) -> RecordIn:
    unit = attrs.get("unit") or METRICS[attrs["metric"]].unit
    identity = json.dumps(
        [attrs["metric"], attrs["start"].isoformat(), attrs.get("end") and attrs["end"].isoformat(), unit],
        default=str,
    )
    return RecordIn(
        metric=attrs["metric"],
        start=attrs["start"],
        end=attrs.get("end"),
        value=attrs["value"],
        unit=unit,
        secondary_value=attrs.get("secondary_value"),
        source_key="manual-" + hashlib.blake2b(identity.encode(), digest_size=12).hexdigest(),
        device_kind="manual",
        metadata={"note": attrs["note"]} if attrs.get("note") else {},
    )


def _fingerprint(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


EXAMPLE_BODY = {
    "records": [
        {"metric": "weight", "value": 72.4, "unit": "kg", "start": "2025-01-14T07:30:00+01:00"},
        {
            "metric": "blood_pressure",
            "value": 121,
            "secondary_value": 79,
            "unit": "mmHg",
            "start": "2025-01-14T07:35:00+01:00",
        },
    ]
}


class ManualEntryResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    records = RecordSerializer(many=True)


EXAMPLE_ANSWER = {
    "created": 2,
    "updated": 0,
    "unchanged": 0,
    "records": [
        {**CONVERTED_EXAMPLE, "value": 72.4, "flags": [], "metadata": {}},
        {
            **CONVERTED_EXAMPLE,
            "id": 43,
            "metric": "blood_pressure",
            "start": "2025-01-14T06:35:00Z",
            "end": "2025-01-14T06:35:00Z",
            "value": 121.0,
            "secondary_value": 79.0,
            "unit": "mm[Hg]",
            "flags": [],
            "metadata": {},
        },
    ],
}


class ManualEntryView(APIView):
    """Log values by hand. A record at the same metric and time replaces the earlier entry."""

    @extend_schema(
        summary="Log one or many values by hand",
        request=ManualEntrySerializer,
        responses={201: ManualEntryResultSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request safely: the same key returns the stored answer.",
            )
        ],
        examples=[
            OpenApiExample("Weight and blood pressure", value=EXAMPLE_BODY, request_only=True),
            OpenApiExample("Stored", value=EXAMPLE_ANSWER, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) and "records" in request.data else None
        if body is None:
            body = {"records": request.data if isinstance(request.data, list) else [request.data]}
        key = request.headers.get("Idempotency-Key", "").strip()[:128]
        if key:
            stored = IdempotentRequest.objects.filter(user=request.user, key=key).first()
            if stored is not None:
                return self._replay(stored, _fingerprint(body))
        return self._enter(request, body, key)

    def _replay(self, stored: IdempotentRequest, fingerprint: str) -> Response:
        if stored.fingerprint != fingerprint:
            message = "This Idempotency-Key was used for a different request."
            return Response(error_body(422, code="idempotency_key_reused", message=message), status=422)
        response = Response(stored.body, status=stored.status_code)
        response["Idempotent-Replayed"] = "true"
        return response

    def _enter(self, request: Request, body: dict, key: str) -> Response:
        entry = ManualEntrySerializer(data=body, context={"request": request})
        entry.is_valid(raise_exception=True)
        records = [to_record(attrs) for attrs in entry.validated_data["records"]]
        try:
            with transaction.atomic():
                result = ingest(
                    user=request.user, source="manual", records=records, origin=Origin(kind="manual")
                )
                stored = Record.objects.for_user(request.user).filter(
                    source="manual", source_key__in=[record.source_key for record in records]
                )
                answer = {
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "records": RecordSerializer(stored.order_by("start", "id"), many=True).data,
                }
                if key:
                    IdempotentRequest.objects.create(
                        user=request.user,
                        key=key,
                        fingerprint=_fingerprint(body),
                        status_code=201,
                        body=answer,
                    )
        except IntegrityError:
            stored_request = IdempotentRequest.objects.get(user=request.user, key=key)
            return self._replay(stored_request, _fingerprint(body))
        return Response(answer, status=status.HTTP_201_CREATED)
