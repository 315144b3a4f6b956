from django.db import models
from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users import api_keys, audit, erasure, export
from users.api_keys import ApiKeyScopeAllows, NotWithApiKey
from users.forms import DeleteAccountForm
from users.models import ApiKey, ApiKeyScope, DataExport, User


class TextField(serializers.CharField):
    """A string that must arrive as a JSON string: a number is not silently turned into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MeSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: TextField,
    }

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "timezone", "units", "date_joined"]
        read_only_fields = ["id", "email", "date_joined"]


class MeView(APIView):
    """The signed-in user's profile."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as listed: its prefix names it; the secret is never readable."""

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["name", "scope"]
        extra_kwargs = {"scope": {"default": ApiKeyScope.READ}}  # a key is read-only unless asked


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The whole key. Shown this once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyListView(generics.ListAPIView):
    """The signed-in user's API keys, newest first; POST makes one and returns its secret once."""

    serializer_class = ApiKeySerializer
    permission_classes = [IsAuthenticated, ApiKeyScopeAllows, NotWithApiKey]

    def get_queryset(self) -> QuerySet[ApiKey]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiKey.objects.none()
        return ApiKey.objects.for_user(self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = api_keys.create_api_key(
            user=request.user, ip=audit.client_ip(request), **serializer.validated_data
        )
        body = {**ApiKeySerializer(created.key).data, "key": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(generics.RetrieveAPIView):
    serializer_class = ApiKeySerializer

    def get_queryset(self) -> QuerySet[ApiKey]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiKey.objects.none()
        return ApiKey.objects.for_user(self.request.user)


class ApiKeyRevokeView(APIView):
    """Revoke one of the user's keys; revoking twice is harmless."""

    permission_classes = [IsAuthenticated, ApiKeyScopeAllows, NotWithApiKey]

    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request: Request, pk: int) -> Response:
        key = get_object_or_404(ApiKey.objects.for_user(request.user), pk=pk)
        api_keys.revoke_api_key(key=key, actor=request.user, ip=audit.client_ip(request))
        return Response(ApiKeySerializer(key).data)


class DataExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DataExport
        fields = [
            "id",
            "status",
            "created_at",
            "finished_at",
            "expires_at",
            "size_bytes",
            "error",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, export: DataExport) -> str | None:
        if not export.is_downloadable:
            return None
        return reverse("api-v1:export-download", kwargs={"pk": export.pk})


class DataExportListView(generics.ListAPIView):
    """The user's data exports; POST starts one (or returns the one already being built)."""

    serializer_class = DataExportSerializer

    def get_queryset(self) -> QuerySet[DataExport]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return DataExport.objects.none()
        return DataExport.objects.for_user(self.request.user)

    @extend_schema(request=None, responses={202: DataExportSerializer})
    def post(self, request: Request) -> Response:
        data_export = export.start_export(user=request.user, ip=audit.client_ip(request))
        return Response(DataExportSerializer(data_export).data, status=status.HTTP_202_ACCEPTED)


class DataExportDetailView(generics.RetrieveAPIView):
    serializer_class = DataExportSerializer

    def get_queryset(self) -> QuerySet[DataExport]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return DataExport.objects.none()
        return DataExport.objects.for_user(self.request.user)


class DataExportDownloadView(APIView):
    """The zip of a ready export, to its owner only."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        data_export = get_object_or_404(DataExport.objects.for_user(request.user), pk=pk)
        if not data_export.is_downloadable:
            raise NotFound("This export is not ready or has expired.")
        return export.open_download(data_export, actor=request.user, ip=audit.client_ip(request))


class AccountDeletionSerializer(serializers.Serializer):
    password = serializers.CharField(required=False, help_text="Required when the account has a password.")
    email = serializers.CharField(required=False, help_text="The account's email, when it has no password.")


class AccountDeletionView(APIView):
    """Lock the account, sign it out everywhere and erase all its data in the background."""

    permission_classes = [IsAuthenticated, NotWithApiKey]

    @extend_schema(request=AccountDeletionSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        form = DeleteAccountForm(request.data, user=request.user)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        erasure.request_account_deletion(user=request.user, request=request._request)
        return Response({"status": "deletion_started"}, status=status.HTTP_202_ACCEPTED)
