from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import TemplateView

from config import api, health, views

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health", health.summary, name="health"),
    path("health/detailed", health.detailed, name="health-detailed"),
    path("metrics", views.prometheus_metrics, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", api.v1_urls()),
    path("account/", include("users.urls")),
    path(
        "imports/csv/",
        login_required(TemplateView.as_view(template_name="imports/csv.html")),
        name="imports-csv",
    ),
    path("imports/", include("imports.urls")),
    path("preferences/", include("preferences.urls")),
    path("", include("integrations.urls")),
    path("", include("healthdata.urls")),
]
if settings.SANDBOX_ENABLED:  # provider simulators on their real paths (docs/sandbox.md)
    urlpatterns.append(path("sandbox/", include("integrations.sandbox.urls")))

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler429 = "config.views.too_many_requests"  # allauth's rate limits answer through this
handler500 = "config.views.server_error"

admin.site.site_header = "Health & Fitness Analytics"
admin.site.site_title = "Health & Fitness Analytics admin"
