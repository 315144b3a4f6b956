from django.contrib import admin

from healthdata.models import DailyRollup, Goal, Record, Session
from users import audit


class AuditedHealthDataAdmin(admin.ModelAdmin):
    """Read-only for staff; opening one person's health data leaves a `staff.viewed_health_data` event."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # data goes with its import, its connection or the account, never row by row

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        item = self.get_object(request, object_id)
        if item is not None and response.status_code == 200:
            self._record_view(request, item.user, f"{self.model._meta.model_name}:{item.pk}")
        return response

    def changelist_view(self, request, extra_context=None):
        """A list, filtered or not, reads the data of each person on the page: one event per person."""
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is None or response.status_code != 200:
            return response
        owners = {item.user_id: item.user for item in changelist.result_list}
        for owner in owners.values():
            self._record_view(request, owner, f"{self.model._meta.model_name}:list")
        return response

    def _record_view(self, request, owner, target: str) -> None:
        audit.record(
            action="staff.viewed_health_data",
            user=owner,
            actor=request.user,
            target=target,
            ip=audit.client_ip(request),
        )


@admin.register(Record)
class RecordAdmin(AuditedHealthDataAdmin):
    list_display = ["metric", "value", "source", "device", "start", "local_date", "quality", "user"]
    list_filter = ["metric", "source", "device_kind", "origin_kind"]
    search_fields = ["user__email", "source_key", "device"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "local_date"
    show_full_result_count = False  # counting tens of millions of rows on every page is slow
    readonly_fields = [
        "user", "metric", "source", "source_key", "device", "device_kind", "start", "end",
        "utc_offset_minutes", "local_date", "value", "secondary_value", "quality", "flags", "origin_kind",
        "origin_id", "metadata", "created", "updated",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(AuditedHealthDataAdmin):
    list_display = ["kind", "activity_type", "source", "start", "duration_minutes", "duplicate_of", "user"]
    list_filter = ["kind", "source", "activity_type"]
    search_fields = ["user__email", "source_key", "device"]
    list_select_related = ["user", "duplicate_of"]
    raw_id_fields = ["user", "duplicate_of"]
    date_hierarchy = "local_date"
    readonly_fields = [
        "user", "kind", "source", "source_key", "activity_type", "device", "device_kind", "start", "end",
        "utc_offset_minutes", "local_date", "duration_minutes", "stages", "values", "quality", "origin_kind",
        "origin_id", "metadata", "duplicate_of", "created", "updated",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(DailyRollup)
class DailyRollupAdmin(AuditedHealthDataAdmin):
    list_display = ["metric", "local_date", "source", "value", "count", "coverage_minutes", "quality", "user"]
    list_filter = ["metric", "source"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "local_date"
    readonly_fields = [
        "user", "metric", "local_date", "source", "value", "secondary_value", "minimum", "maximum", "count",
        "coverage_minutes", "quality", "updated",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["metric", "comparison", "target", "period", "user", "updated"]
    list_filter = ["metric", "period"]
    search_fields = ["user__email", "metric"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
