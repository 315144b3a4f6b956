"""Imports over JSON: upload, jobs (list, read, cancel, retry, delete with data), the CSV
preview → mapping → validate → import flow, and saved mappings."""

import csv
import io
import logging
from pathlib import Path

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from kombu.exceptions import OperationalError as BrokerUnreachable
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import error_body
from imports import services, uploads
from imports.models import KINDS, ImportJob, SavedMapping
from imports.parsers.base import ImportRejected
from imports.parsers.csv import CsvMapping, MappingError, preview
from imports.parsers.csv.presets import PRESETS

logger = logging.getLogger(__name__)


class ImportJobSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)  # null until it starts
    rejected_count = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "source",
            "original_name",
            "size_bytes",
            "progress",
            "checkpoint",
            "created_count",
            "updated_count",
            "unchanged_count",
            "counts_by_metric",
            "rejected",
            "rejected_count",
            "report",
            "error",
            "attempts",
            "created",
            "started_at",
            "finished_at",
            "duration_seconds",
            "parse_seconds",
            "write_seconds",
            "options",
        ]
        read_only_fields = fields

    def get_error(self, job: ImportJob) -> dict | None:
        return {"code": job.error_code, "message": job.error_message} if job.error_code else None

    def get_rejected_count(self, job: ImportJob) -> int:
        return job.report.get("rejected_count", len(job.rejected_rows))


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, allow_empty_file=True, help_text="The export or CSV file.")
    upload = serializers.CharField(
        required=False, help_text="Token of a staged CSV upload, instead of a file."
    )
    kind = serializers.ChoiceField(
        choices=KINDS, required=False, help_text="Detected from the file when absent."
    )
    preset = serializers.ChoiceField(choices=[p.name for p in PRESETS], required=False)
    mapping = serializers.JSONField(required=False, help_text="A CSV mapping (see docs/imports.md).")
    weight_unit = serializers.ChoiceField(choices=["kg", "lb", "st"], required=False)

    def validate_mapping(self, value):
        if isinstance(value, str):
            raise ValidationError("The mapping must be a JSON object.")
        try:
            return CsvMapping.from_dict(value).as_dict()
        except (MappingError, AttributeError) as error:
            raise ValidationError(str(error)) from None

    def validate(self, data: dict) -> dict:
        if bool(data.get("file")) == bool(data.get("upload")):
            raise ValidationError("Send either a file or the token of a staged upload.")
        return data


class _UploadView(APIView):
    def initialize_request(self, request, *args, **kwargs):
        # Set before anything (CSRF checks included) reads the body.
        if request.method == "POST":
            uploads.use_import_upload_handler(request)
        return super().initialize_request(request, *args, **kwargs)


def _rejected(error: ImportRejected) -> Response:
    return Response(
        error_body(400, code=error.code, message=error.reason), status=status.HTTP_400_BAD_REQUEST
    )


def _options(data: dict) -> dict:
    return {name: data[name] for name in ("preset", "mapping", "weight_unit") if data.get(name)}


def _is_same_request(job: ImportJob, data: dict) -> bool:
    """Whether `data` asks again for what started `job`: the same file (or staged upload) and options."""
    if data.get("file"):
        same_file = getattr(data["file"], "sha256", None) == job.sha256
    else:
        same_file = Path(job.file_path).name.startswith(data["upload"])
    return same_file and _options(data) == job.options and data.get("kind") in (None, "", job.kind)


class ImportListView(_UploadView):
    """List the user's imports, or start one from an uploaded file (multipart) or a staged CSV."""

    @extend_schema(responses=ImportJobSerializer(many=True))
    def get(self, request: Request) -> Response:
        jobs = ImportJob.objects.for_user(request.user)[:200]
        return Response(ImportJobSerializer(jobs, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer, "application/json": ImportCreateSerializer},
        # 202: stored while the task queue was unreachable; it starts within minutes of its return.
        responses={201: ImportJobSerializer, 202: ImportJobSerializer, 200: ImportJobSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "")[:128]
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if key:
            existing = ImportJob.objects.for_user(request.user).filter(idempotency_key=key).first()
            if existing is not None and not _is_same_request(existing, data):
                message = "This Idempotency-Key was used for a different request."
                return Response(error_body(422, code="idempotency_key_reused", message=message), status=422)
            if existing is not None:
                return Response(ImportJobSerializer(existing).data, status=status.HTTP_200_OK)
        try:
            staged = self._staged(request, data)
        except ImportRejected as error:
            return _rejected(error)
        return self._start(request, data, staged, key)

    def _staged(self, request: Request, data: dict) -> dict:
        if data.get("file"):
            return uploads.stage(user=request.user, uploaded=data["file"])
        path = uploads.staged_path(user=request.user, token=data["upload"])
        if path is None:
            raise NotFound("No staged upload with this token.")
        relative = str(path.relative_to(services.settings.MEDIA_ROOT))
        return {
            "file_path": relative,
            "size_bytes": path.stat().st_size,
            "sha256": services.file_sha256(path),
            "original_name": path.name,
        }

    def _start(self, request: Request, data: dict, staged: dict, key: str) -> Response:
        job = None
        try:
            with transaction.atomic():
                job = services.start_import(
                    user=request.user,
                    kind=data.get("kind", ""),
                    options=_options(data),
                    idempotency_key=key,
                    file_path=staged["file_path"],
                    original_name=staged["original_name"],
                    size_bytes=staged["size_bytes"],
                    sha256=staged["sha256"],
                )
        except services.DuplicateUpload as duplicate:
            (services.settings.MEDIA_ROOT / staged["file_path"]).unlink(missing_ok=True)
            body = error_body(
                409,
                code="duplicate_upload",
                details={"job_id": duplicate.job.pk},
                message=f"This file is already being imported (import #{duplicate.job.pk}, "
                f"{duplicate.job.status}). Wait for it to finish or cancel it.",
            )
            return Response(body, status=status.HTTP_409_CONFLICT)
        except IntegrityError:
            job = get_object_or_404(ImportJob.objects.for_user(request.user), idempotency_key=key)
            return Response(ImportJobSerializer(job).data, status=status.HTTP_200_OK)
        except BrokerUnreachable:
            if job is None:
                raise
            # The job is committed and beat's requeue_stalled_imports sends it once the broker is
            # back: a refusal would only make the client upload the same file again.
            logger.warning("import stored while the task queue is unreachable", extra={"import_job": job.pk})
            return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


def _job(request: Request, pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.for_user(request.user), pk=pk)


class ImportDetailView(APIView):
    """Read an import, or delete it together with the records and sessions it brought."""

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ImportJobSerializer(_job(request, pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.delete_import(_job(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportCancelView(APIView):
    @extend_schema(request=None, responses=ImportJobSerializer)
    def post(self, request: Request, pk: int) -> Response:
        job = _job(request, pk)
        if not services.cancel_import(job):
            return Response(
                error_body(409, code="not_active", message=f"The import has already {job.status}."),
                status=status.HTTP_409_CONFLICT,
            )
        return Response(ImportJobSerializer(job).data)


class ImportRetryView(APIView):
    @extend_schema(request=None, responses=ImportJobSerializer)
    def post(self, request: Request, pk: int) -> Response:
        job = _job(request, pk)
        if not services.retry_import(job):
            message = (
                "Only a failed or cancelled import whose file is still stored can be retried, and not "
                "while another import of the same file is running."
            )
            return Response(
                error_body(409, code="not_retryable", message=message), status=status.HTTP_409_CONFLICT
            )
        return Response(ImportJobSerializer(job).data)


def rejected_rows_csv(rows: list[dict], filename: str) -> HttpResponse:
    """The downloadable report of rejected rows: line, reason, the row as read (formula-safe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "reason", "row"])
    for row in rows:
        reason, raw = (_formula_safe(str(row.get(key, ""))) for key in ("reason", "raw"))
        writer.writerow([row.get("line", ""), reason, raw])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _formula_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ImportRejectsView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, pk: int) -> HttpResponse:
        job = _job(request, pk)
        return rejected_rows_csv(job.rejected_rows, f"import-{job.pk}-rejected-rows.csv")


class CsvUploadView(_UploadView):
    """Stage a CSV (or a zip of CSVs) and preview it: encoding, delimiter, decimal mark, dates, preset,
    and the user's saved mappings that fit each table (those made for the same header first)."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer}, responses={201: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request) -> Response:
        uploaded = request.data.get("file")
        if not uploaded or not hasattr(uploaded, "temporary_file_path"):
            raise ValidationError({"file": ["Attach the CSV file as 'file'."]})
        try:
            staged = uploads.stage(user=request.user, uploaded=uploaded)
            tables = preview(services.settings.MEDIA_ROOT / staged["file_path"], services.zip_limits())
        except ImportRejected as error:
            return _rejected(error)
        for table in tables:
            table["saved_mappings"] = services.fitting_mappings(user=request.user, header=table["header"])
        return Response(
            {"upload": staged["token"], "original_name": staged["original_name"], "tables": tables},
            status=status.HTTP_201_CREATED,
        )


class CsvValidateSerializer(serializers.Serializer):
    upload = serializers.CharField()
    mapping = serializers.JSONField(required=False)
    preset = serializers.ChoiceField(choices=[p.name for p in PRESETS], required=False)
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    validate_mapping = ImportCreateSerializer.validate_mapping


class CsvValidateView(APIView):
    """Dry-run a staged CSV through a mapping or preset: counts, rejected rows with line numbers.

    `format=csv` downloads the rejected rows as a CSV report."""

    @extend_schema(request=CsvValidateSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response | HttpResponse:
        serializer = CsvValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        path = uploads.staged_path(user=request.user, token=data["upload"])
        if path is None:
            raise NotFound("No staged upload with this token.")
        mapping = CsvMapping.from_dict(data["mapping"]) if data.get("mapping") else None
        report = services.validate_csv(
            user=request.user, path=path, mapping=mapping, preset=data.get("preset", "")
        )
        if data["format"] == "csv":
            return rejected_rows_csv(report["rejected_rows"], "rejected-rows.csv")
        return Response(report)


class SavedMappingSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedMapping
        fields = ["id", "name", "header", "mapping", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]

    def validate_mapping(self, value):
        return ImportCreateSerializer.validate_mapping(self, value)

    def validate_name(self, value: str) -> str:
        user = self.context["request"].user
        taken = SavedMapping.objects.for_user(user).filter(name=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("You already have a mapping with this name.")
        return value


class SavedMappingListView(generics.ListCreateAPIView):
    serializer_class = SavedMappingSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return SavedMapping.objects.none()
        return SavedMapping.objects.for_user(self.request.user)

    def perform_create(self, serializer: SavedMappingSerializer) -> None:
        serializer.save(user=self.request.user)


class SavedMappingDetailView(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = SavedMappingSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return SavedMapping.objects.none()
        return SavedMapping.objects.for_user(self.request.user)
