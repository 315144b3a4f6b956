"""The integrations API: providers and their capabilities, the user's connections, their sync runs."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import error_body
from integrations import registry
from integrations.connections import disconnect, request_sync
from integrations.models import Connection, SyncRun
from integrations.retention import retention_days
from integrations.views import is_allowed_return_url

IDEMPOTENCY_SECONDS = 24 * 3600


class ProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    data_types = serializers.ListField(child=serializers.CharField())
    metrics = serializers.ListField(child=serializers.CharField())
    history_days = serializers.IntegerField(allow_null=True)
    retention_days = serializers.IntegerField(allow_null=True)
    pushes_webhooks = serializers.BooleanField()
    supports_pkce = serializers.BooleanField()
    import_only = serializers.BooleanField()
    import_presets = serializers.ListField(child=serializers.CharField())
    available = serializers.BooleanField()


class ConnectionSerializer(serializers.ModelSerializer):
    provider_name = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        # Tokens are never serialised: this list is the whole of what a client sees.
        fields = [
            "id",
            "provider",
            "provider_name",
            "status",
            "scopes",
            "last_success_at",
            "last_error",
            "last_error_at",
            "next_sync_at",
            "created",
        ]
        read_only_fields = fields

    def get_provider_name(self, connection: Connection) -> str:
        source = registry.get_source(connection.provider)
        return source.name if source else connection.provider


class SyncRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "status",
            "trigger",
            "started_at",
            "finished_at",
            "duration_seconds",
            "counts",
            "created_count",
            "updated_count",
            "unchanged_count",
            "rejected",
            "requests_made",
            "errors",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, run: SyncRun) -> float | None:
        return run.duration.total_seconds() if run.duration else None


class ConnectionStartSerializer(serializers.Serializer):
    provider = serializers.CharField()
    return_url = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_provider(self, value: str) -> str:
        source = registry.api_sources().get(value)
        if source is None or not source.is_configured():
            raise serializers.ValidationError("Unknown provider, or not available on this installation.")
        return value

    def validate_return_url(self, value: str) -> str:
        if value and not is_allowed_return_url(value):
            raise serializers.ValidationError("This return URL is not in the allow-list.")
        return value


class DisconnectSerializer(serializers.Serializer):
    delete_data = serializers.BooleanField(help_text="Delete the data synced so far (default: keep it).")


class ProviderListView(APIView):
    """Every source: API providers (connectable) and file-import-only sources."""

    @extend_schema(responses=ProviderSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = [
            {
                **source.capabilities(),
                "retention_days": retention_days(slug),
                "available": source.is_configured(),
            }
            for slug, source in registry.sources().items()
        ]
        return Response(ProviderSerializer(rows, many=True).data)


class ConnectionListView(generics.ListAPIView):
    serializer_class = ConnectionSerializer
    pagination_class = None
    queryset = Connection.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self):
        return Connection.objects.for_user(self.request.user).order_by("provider")


class ConnectionDetailView(generics.RetrieveAPIView):
    serializer_class = ConnectionSerializer
    queryset = Connection.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self):
        return Connection.objects.for_user(self.request.user)


class ConnectionStartView(APIView):
    """The URL to open in a browser to connect a provider; the user comes back to `return_url`."""

    @extend_schema(
        request=ConnectionStartSerializer,
        responses=inline_serializer("ConnectionStartResponse", {"authorize_url": serializers.URLField()}),
    )
    def post(self, request: Request) -> Response:
        given = ConnectionStartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        path = reverse("integrations:connect", args=[given.validated_data["provider"]])
        if given.validated_data["return_url"]:
            path += "?" + urlencode({"next": given.validated_data["return_url"]})
        return Response({"authorize_url": request.build_absolute_uri(path)})


class ConnectionSyncView(APIView):
    """Queue a sync now. A repeated `Idempotency-Key` gets the first answer and queues nothing."""

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={202: inline_serializer("SyncQueued", {"queued": serializers.BooleanField()})},
    )
    def post(self, request: Request, pk: int) -> Response:
        connection = get_object_or_404(Connection.objects.for_user(request.user), pk=pk)
        if connection.status not in (Connection.Status.ACTIVE, Connection.Status.ERROR):
            body = error_body(409, code="not_syncable", message="Reconnect this provider before syncing.")
            return Response(body, status=status.HTTP_409_CONFLICT)
        key = request.headers.get("Idempotency-Key", "")[:128]
        body = {"queued": True, "connection": connection.pk}
        stored_key = f"integrations:idempotency:{request.user.pk}:{key}"
        if key and not cache.add(stored_key, body, IDEMPOTENCY_SECONDS):
            if cache.get(stored_key) != body:
                message = "This Idempotency-Key was used for a different request."
                return Response(error_body(422, code="idempotency_key_reused", message=message), status=422)
            return Response(body, status=status.HTTP_202_ACCEPTED)
        request_sync(connection, trigger="manual")
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ConnectionRunListView(generics.ListAPIView):
    """The connection's latest 100 sync runs, newest first."""

    serializer_class = SyncRunSerializer
    queryset = SyncRun.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        connection = get_object_or_404(Connection.objects.for_user(self.request.user), pk=self.kwargs["pk"])
        runs = SyncRun.objects.for_user(self.request.user).filter(connection=connection)
        return runs.order_by("-started_at")[:100]


class ConnectionDisconnectView(APIView):
    """Revoke at the provider, forget the tokens, and keep or delete the synced data."""

    @extend_schema(request=DisconnectSerializer, responses=ConnectionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        connection = get_object_or_404(Connection.objects.for_user(request.user), pk=pk)
        given = DisconnectSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        disconnect(connection, delete_data=given.validated_data["delete_data"])
        return Response(ConnectionSerializer(connection).data)
