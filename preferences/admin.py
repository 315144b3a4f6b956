from django.contrib import admin

from preferences.models import SourcePreference


@admin.register(SourcePreference)
class SourcePreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "category", "sources", "updated"]
    list_filter = ["category"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
