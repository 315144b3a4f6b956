"""Request ids and request logs for every request; the error shape for everything under /api/."""

import logging
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.template import loader
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.api_errors import error_response
from config.observability import new_request_id, request_id_var

request_logger = logging.getLogger("hfa.request")
error_logger = logging.getLogger("hfa.errors")
EXPECTED_EXCEPTIONS = (Http404, PermissionDenied, SuspiciousOperation)
# Redis (cache, locks, sign-in rate limits) or the broker unreachable: what truly needs them (signing
# in, queueing a task) answers 503, never a 500. Everything else keeps working without them.
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, BrokerUnreachable)
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


class RequestIdMiddleware:
    """Take `X-Request-ID` from the client (when well-formed) or make one; log one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _log(request: HttpRequest, status_code: int, started: float) -> None:
        user = getattr(request, "user", None)
        request_logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )


class ApiErrorMiddleware:
    """Under /api/, answer every 4xx and 5xx in the error shape, whoever produced it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_api_request(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        replacement = error_response(response.status_code)
        for header in ("Retry-After", "Allow", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, REDIS_UNAVAILABLE):
            return self._unavailable(request)
        if not is_api_request(request) or settings.DEBUG:
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(413)
        if isinstance(exception, EXPECTED_EXCEPTIONS):
            return None  # Django answers these through handler400/403/404, in the error shape
        error_logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500)

    @staticmethod
    def _unavailable(request: HttpRequest) -> HttpResponse:
        error_logger.warning("Redis unreachable on %s %s", request.method, request.path)
        retry_after = UNAVAILABLE_RETRY_AFTER_SECONDS
        if is_api_request(request) or request.path.startswith("/_allauth/"):
            return error_response(503, retry_after=retry_after)
        # Like the 500 page, this one must not depend on what may be failing (context processors).
        response = HttpResponse(loader.get_template("errors/503.html").render(), status=503)
        response["Retry-After"] = str(retry_after)
        return response
