"""The URLconf of `manage.py run_sandbox`: only the sandbox, at the same /sandbox/ prefix."""

from django.urls import include, path

urlpatterns = [path("sandbox/", include("integrations.sandbox.urls"))]
