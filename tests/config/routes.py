"""URLs used only by tests: every project route plus views that fail or enqueue on purpose."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from config import urls as project_urls
from config.celery import ping_task

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler429 = project_urls.handler429
handler500 = project_urls.handler500

SECRET_DETAIL = "the-password-is-hunter2"


def explode(request: HttpRequest) -> JsonResponse:
    raise RuntimeError(SECRET_DETAIL)


def enqueue_ping(request: HttpRequest) -> JsonResponse:
    ping_task.delay(request.GET["note"])
    return JsonResponse({"queued": True})


urlpatterns = [
    path("api/v1/test/explode", explode),
    path("test/explode", explode),
    path("test/enqueue-ping", enqueue_ping),
    *project_urls.urlpatterns,
]
