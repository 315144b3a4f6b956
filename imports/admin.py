"""Staff views of import jobs and saved mappings; actions call the same functions as the API."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from imports import services
from imports.models import ImportJob, SavedMapping
from users import audit
from users.admin import UserAdmin


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "user",
        "kind",
        "source",
        "status",
        "progress",
        "created_count",
        "attempts",
        "created",
    ]
    list_filter = ["status", "kind", "source"]
    list_select_related = ["user"]
    search_fields = ["user__email", "original_name", "sha256"]
    raw_id_fields = ["user"]
    readonly_fields = [field.name for field in ImportJob._meta.fields]
    actions = ["retry", "cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from uploads or `manage.py import_file`

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A job's page shows lines of the person's file (its rejected rows): the read is audited."""
        response = super().change_view(request, object_id, form_url, extra_context)
        job = self.get_object(request, object_id)
        if job is not None and response.status_code == 200:
            audit.record(
                action="staff.viewed_health_data",
                user=job.user,
                actor=request.user,
                target=f"importjob:{job.pk}",
                ip=audit.client_ip(request),
            )
        return response

    @admin.action(description="Retry (failed or cancelled imports)")
    def retry(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        retried = 0
        for job in queryset.select_related("user"):
            if services.retry_import(job):
                retried += 1
                _record(request, job, "staff.import_retried")
        self.message_user(request, f"Queued {retried} imports again.", messages.SUCCESS)

    @admin.action(description="Cancel and remove what they wrote")
    def cancel(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        cancelled = 0
        for job in queryset.active().select_related("user"):
            if services.cancel_import(job):
                cancelled += 1
                _record(request, job, "staff.import_cancelled")
        self.message_user(request, f"Cancelled {cancelled} imports.", messages.SUCCESS)


def _record(request: HttpRequest, job: ImportJob, action: str) -> None:
    audit.record(
        actor=request.user,
        user=job.user,
        action=action,
        target=f"import:{job.pk}",
        ip=audit.client_ip(request),
    )


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "name", "updated"]
    list_select_related = ["user"]
    search_fields = ["user__email", "name"]
    raw_id_fields = ["user"]


class ImportJobInline(admin.TabularInline):
    """A user's latest import jobs on their admin page; retry from the import jobs list."""

    model = ImportJob
    fields = ["original_name", "kind", "status", "progress", "created_count", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


UserAdmin.inlines = [*UserAdmin.inlines, ImportJobInline]
