"""Staff views of connections (never their tokens), sync runs and webhook deliveries."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.connections import disconnect, request_sync
from integrations.models import Connection, SyncRun, WebhookEvent
from users import audit
from users.admin import UserAdmin


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "provider", "status", "last_success_at", "last_error_at", "next_sync_at"]
    list_filter = ["provider", "status"]
    list_select_related = ["user"]
    search_fields = ["user__email", "external_user_id"]
    raw_id_fields = ["user"]
    # The token columns are not listed anywhere here: they never reach a page.
    fields = [
        "user",
        "provider",
        "status",
        "scopes",
        "external_user_id",
        "token_expires_at",
        "cursors",
        "backfill_days",
        "last_success_at",
        "last_error",
        "last_error_at",
        "sync_lease_until",
        "next_sync_at",
        "created",
        "updated",
    ]
    readonly_fields = [
        "user",
        "provider",
        "external_user_id",
        "token_expires_at",
        "sync_lease_until",
        "created",
        "updated",
    ]
    actions = ["force_sync", "revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # connections come from the connect flow or `manage.py create_connection`

    @admin.action(description="Sync now")
    def force_sync(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        connections = list(queryset.syncable().select_related("user"))
        for connection in connections:
            request_sync(connection, trigger="admin")
            audit.record(
                actor=request.user,
                user=connection.user,
                action="staff.connection_sync_requested",
                target=f"connection:{connection.pk}",
                ip=audit.client_ip(request),
            )
        self.message_user(request, f"Queued a sync of {len(connections)} connections.", messages.SUCCESS)

    @admin.action(description="Revoke (keep the data)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        connections = list(queryset.exclude(status=Connection.Status.REVOKED).select_related("user"))
        for connection in connections:
            disconnect(connection, delete_data=False, actor=request.user)
        self.message_user(request, f"Revoked {len(connections)} connections.", messages.SUCCESS)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "connection", "status", "trigger", "started_at", "finished_at", "requests_made"]
    list_filter = ["status", "trigger", "connection__provider"]
    list_select_related = ["connection", "connection__user"]
    search_fields = ["connection__user__email"]
    raw_id_fields = ["connection"]
    date_hierarchy = "started_at"

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRun | None = None) -> list[str]:
        return [field.name for field in SyncRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["id", "provider", "delivery_key", "connection", "received_at"]
    list_filter = ["provider"]
    list_select_related = ["connection"]
    raw_id_fields = ["connection"]

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEvent | None = None) -> list[str]:
        return [field.name for field in WebhookEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ConnectionInline(admin.TabularInline):
    """A user's connections on their admin page: state only, never a token."""

    model = Connection
    fields = ["provider", "status", "last_success_at", "last_error", "next_sync_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


UserAdmin.inlines = [*UserAdmin.inlines, ConnectionInline]
