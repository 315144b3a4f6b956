"""The one error shape of the API: {"error": {"code", "message", "details", "request_id"}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from config.observability import current_request_id

logger = logging.getLogger(__name__)

DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
    503: "service_unavailable",
}

DEFAULT_MESSAGES = {
    400: "The request is not valid.",
    401: "Authentication credentials were not provided or are not valid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    429: "Too many requests. Try again later.",
    500: "Something went wrong on our side. The request id identifies it in our logs.",
    503: "The service is temporarily unavailable.",
}


def error_body(
    status_code: int, *, code: str | None = None, message: str | None = None, details: Any = None
) -> dict:
    return {
        "error": {
            "code": code or DEFAULT_CODES.get(status_code, "error"),
            "message": message or DEFAULT_MESSAGES.get(status_code, "The request failed."),
            "details": details if details is not None else {},
            "request_id": current_request_id(),
        }
    }


def error_response(status_code: int, *, retry_after: int | None = None, **kwargs: Any) -> JsonResponse:
    """A plain Django response in the error shape, for code outside DRF views."""
    response = JsonResponse(error_body(status_code, **kwargs), status=status_code)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _message_and_details(exc: exceptions.APIException) -> tuple[str, Any]:
    detail = exc.detail
    if isinstance(detail, dict):
        return DEFAULT_MESSAGES.get(exc.status_code, "The request is not valid."), detail
    if isinstance(detail, list):
        return (str(detail[0]) if detail else DEFAULT_MESSAGES.get(exc.status_code, "")), {"errors": detail}
    return str(detail), {}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = DEFAULT_MESSAGES[413]
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, answering in the project's error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(DEFAULT_MESSAGES[400])
    if not isinstance(exc, exceptions.APIException):
        return None  # unexpected: ApiErrorMiddleware logs it and answers 500 in the same shape

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    message, details = _message_and_details(exc)
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, int(exc.wait or 1))
        headers["Retry-After"] = str(wait)
        details = {"retry_after_seconds": wait}
        message = DEFAULT_MESSAGES[429]
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else DEFAULT_CODES.get(exc.status_code, "invalid")
    if exc.status_code == status.HTTP_400_BAD_REQUEST and not isinstance(codes, str):
        code = "invalid"
    set_rollback()
    return Response(
        error_body(exc.status_code, code=code, message=message, details=details),
        exc.status_code,
        headers=headers,
    )
