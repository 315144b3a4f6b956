"""Request ids, JSON logs, Sentry: what ties a log line, a request and a task together."""

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def new_request_id(candidate: str | None = None) -> str:
    """Return `candidate` when it is a safe id to echo and log, else a fresh one."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the request id of the request or task that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or None
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line; `request_id` is always a key."""

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record.setdefault("request_id", getattr(record, "request_id", None))


_SENSITIVE_KEYS = ("password", "token", "secret", "authorization", "cookie", "session", "key")


def _scrub(value):
    if isinstance(value, dict):
        return {
            key: "[Filtered]" if any(word in str(key).lower() for word in _SENSITIVE_KEYS) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def scrub_sentry_event(event: dict, hint: dict) -> dict:
    """Drop personal data from a Sentry event: the user is reduced to an id, bodies and headers go."""
    user = event.get("user") or {}
    event["user"] = {"id": user["id"]} if "id" in user else {}
    request = event.get("request") or {}
    request.pop("data", None)
    request.pop("cookies", None)
    request.pop("query_string", None)
    if "headers" in request:
        request["headers"] = _scrub(request["headers"])
    for exception in (event.get("exception") or {}).get("values", []):
        for frame in (exception.get("stacktrace") or {}).get("frames", []):
            frame.pop("vars", None)
    event["extra"] = _scrub(event.get("extra") or {})
    return event


def init_sentry(dsn: str, *, environment: str, release: str, traces_sample_rate: float) -> bool:
    """Start Sentry when a DSN is configured; personal data never leaves the process."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        include_local_variables=False,
        traces_sample_rate=traces_sample_rate,
        before_send=scrub_sentry_event,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
    return True
