"""Liveness, readiness and the detailed status of every dependency.

`/health/live` does no I/O. `/health/ready` answers 503 when the database, the cache or the broker
is unreachable. `/health` and `/health/detailed` are for staff or a bearer `HEALTH_CHECK_TOKEN`.
"""

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu.exceptions import ChannelError

from config.api_errors import error_response
from config.celery import QUEUES
from config.celery import app as celery_app

CHECK_TIMEOUT_SECONDS = 2


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = "health:probe"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was written")


def check_broker() -> None:
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            status, error = "ok", None
        except Exception as exc:  # a health check reports every failure, whatever its kind
            status, error = "error", f"{type(exc).__name__}: {exc}"[:300]
        results[name] = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        if error:
            results[name]["error"] = error
    return results


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each queue; None for all when the broker cannot be reached."""
    try:
        with celery_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
            return {queue: _queue_depth(connection.default_channel, queue) for queue in QUEUES}
    except Exception:  # the broker being down is reported by run_checks
        return dict.fromkeys(QUEUES)


def _queue_depth(channel, queue: str) -> int:
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # nothing was ever sent to it, or the broker dropped the empty queue
        return 0


def unapplied_migrations() -> list[str] | None:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        return None
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _is_allowed(request: HttpRequest) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.HEALTH_CHECK_TOKEN
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(offered.encode(), token.encode())


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    healthy = all(result["status"] == "ok" for result in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {k: v["status"] for k, v in checks.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
def summary(request: HttpRequest) -> JsonResponse:
    if not _is_allowed(request):
        return error_response(403, message="Staff or a health-check token is required.")
    checks = run_checks()
    healthy = all(result["status"] == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "version": settings.APP_VERSION, "checks": checks},
        status=200 if healthy else 503,
    )


@never_cache
def detailed(request: HttpRequest) -> JsonResponse:
    if not _is_allowed(request):
        return error_response(403, message="Staff or a health-check token is required.")
    checks = run_checks()
    healthy = all(result["status"] == "ok" for result in checks.values())
    pending = unapplied_migrations()
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "version": settings.APP_VERSION,
            "environment": settings.DJANGO_ENV,
            "checks": checks,
            "queues": queue_depths(),
            "unapplied_migrations": pending,
            "database_vendor": connections[DEFAULT_DB_ALIAS].vendor,
            "cache_backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        },
        status=200 if healthy else 503,
    )
