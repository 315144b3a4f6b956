from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from users import api_keys, audit, erasure
from users.forms import AdminLoginForm
from users.models import ApiKey, AuditEvent, DataExport, User

admin.site.login_form = AdminLoginForm


class ApiKeyInline(admin.TabularInline):
    """Keys by prefix only; the hash is never shown."""

    model = ApiKey
    fields = ["name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "timezone", "units", "is_staff", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "units"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "timezone", "units"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [ApiKeyInline]

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            audit.record(
                actor=request.user,
                user=obj,
                action="staff.user_changed",
                ip=audit.client_ip(request),
                details={"fields": sorted(form.changed_data)},
            )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        """Deleting from the admin runs the same erasure as the user's own request, hooks included."""
        erasure.erase_account(obj.pk, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user_id in queryset.values_list("pk", flat=True):
            erasure.erase_account(user_id, actor=request.user)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__email"]
    fields = ["user", "name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        ip = audit.client_ip(request)
        revoked = sum(api_keys.revoke_api_key(key=key, actor=request.user, ip=ip) for key in queryset)
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only for everyone: nobody adds, edits or deletes its rows."""

    list_display = ["created_at", "action", "user", "user_ref", "actor", "target", "ip"]
    list_filter = ["action", "created_at"]
    list_select_related = ["user", "actor"]
    search_fields = ["action", "target", "user__email", "=user_ref"]
    date_hierarchy = "created_at"
    fields = ["created_at", "action", "user", "user_ref", "actor", "target", "ip", "details"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DataExport)
class DataExportAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "status", "created_at", "finished_at", "expires_at", "size_bytes"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    fields = [
        "user",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
        "size_bytes",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
