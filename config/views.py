"""Error pages (JSON under /api/, friendly HTML elsewhere) and the guarded metrics endpoint."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import requires_csrf_token
from django_prometheus.exports import ExportToDjangoView

from config.api_errors import error_response
from config.middleware import is_api_request


def _error(request: HttpRequest, status_code: int, template: str) -> HttpResponse:
    if is_api_request(request):
        return error_response(status_code)
    return render(request, template, status=status_code)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "errors/400.html")


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "errors/403.html")


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "errors/404.html")


@requires_csrf_token
def too_many_requests(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 429, "errors/429.html")


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return error_response(500)
    # The 500 page must not depend on the database or context processors that may be failing.
    from django.template import loader

    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for staff or for a scraper holding `METRICS_TOKEN`; others get 404."""
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    token_ok = bool(settings.METRICS_TOKEN) and hmac.compare_digest(
        offered.encode(), settings.METRICS_TOKEN.encode()
    )
    staff = request.user.is_authenticated and request.user.is_staff
    if not (token_ok or staff):
        return page_not_found(request)
    return ExportToDjangoView(request)
