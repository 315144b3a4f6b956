"""Every v1 route in one place. A breaking change gets a v2 router that reuses unchanged views."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from healthdata.api import aggregates as data_aggregates
from healthdata.api import catalog as data_catalog
from healthdata.api import goals as data_goals
from healthdata.api import manual as data_manual
from healthdata.api import records as data_records
from imports import api as imports_api
from integrations import api as integrations_api
from preferences import api as preferences_api
from users import api as users_api

app_name = "api-v1"

urlpatterns = [
    path("me", users_api.MeView.as_view(), name="me"),
    path("api-keys", users_api.ApiKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<int:pk>", users_api.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("api-keys/<int:pk>/revoke", users_api.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("exports", users_api.DataExportListView.as_view(), name="export-list"),
    path("exports/<int:pk>", users_api.DataExportDetailView.as_view(), name="export-detail"),
    path("exports/<int:pk>/download", users_api.DataExportDownloadView.as_view(), name="export-download"),
    path("account/delete", users_api.AccountDeletionView.as_view(), name="account-delete"),
    path("imports/", imports_api.ImportListView.as_view(), name="import-list"),
    path("imports/<int:pk>", imports_api.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/cancel", imports_api.ImportCancelView.as_view(), name="import-cancel"),
    path("imports/<int:pk>/retry", imports_api.ImportRetryView.as_view(), name="import-retry"),
    path("imports/<int:pk>/rejected-rows", imports_api.ImportRejectsView.as_view(), name="import-rejects"),
    path("imports/csv/uploads", imports_api.CsvUploadView.as_view(), name="import-csv-upload"),
    path("imports/csv/validate", imports_api.CsvValidateView.as_view(), name="import-csv-validate"),
    path("imports/mappings", imports_api.SavedMappingListView.as_view(), name="import-mapping-list"),
    path("imports/mappings/<int:pk>", imports_api.SavedMappingDetailView.as_view(), name="import-mapping"),
    path("providers", integrations_api.ProviderListView.as_view(), name="provider-list"),
    path("connections", integrations_api.ConnectionListView.as_view(), name="connection-list"),
    path("connections/start", integrations_api.ConnectionStartView.as_view(), name="connection-start"),
    path("connections/<int:pk>", integrations_api.ConnectionDetailView.as_view(), name="connection-detail"),
    path("connections/<int:pk>/sync", integrations_api.ConnectionSyncView.as_view(), name="connection-sync"),
    path(
        "connections/<int:pk>/runs", integrations_api.ConnectionRunListView.as_view(), name="connection-runs"
    ),
    path(
        "connections/<int:pk>/disconnect",
        integrations_api.ConnectionDisconnectView.as_view(),
        name="connection-disconnect",
    ),
    path("records", data_records.RecordViewSet.as_view({"get": "list"}), name="record-list"),
    path("records/manual", data_manual.ManualEntryView.as_view(), name="record-manual"),
    path("records/<int:pk>", data_records.RecordViewSet.as_view({"get": "retrieve"}), name="record-detail"),
    path("sessions", data_records.SessionViewSet.as_view({"get": "list"}), name="session-list"),
    path(
        "sessions/<int:pk>", data_records.SessionViewSet.as_view({"get": "retrieve"}), name="session-detail"
    ),
    path("aggregate", data_aggregates.AggregateView.as_view(), name="aggregate"),
    path("summary", data_aggregates.DailySummaryView.as_view(), name="summary"),
    path("metrics", data_catalog.MetricsView.as_view(), name="metric-list"),
    path("sources", data_catalog.SourcesView.as_view(), name="source-list"),
    path("preferences", preferences_api.PreferenceListView.as_view(), name="preference-list"),
    path("preferences/<str:category>", preferences_api.PreferenceView.as_view(), name="preference-detail"),
    path("goals", data_goals.GoalViewSet.as_view({"get": "list", "post": "create"}), name="goal-list"),
    path(
        "goals/<int:pk>",
        data_goals.GoalViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="goal-detail",
    ),
    path(
        "goals/<int:pk>/progress", data_goals.GoalViewSet.as_view({"get": "progress"}), name="goal-progress"
    ),
    path("schema/", SpectacularAPIView.as_view(api_version="1"), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-v1:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-v1:schema"), name="redoc"),
]


def v1_urls():
    return include((urlpatterns, app_name), namespace=app_name)
