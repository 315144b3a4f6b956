"""Background work of the integrations: thin tasks, each calling one function."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from integrations import attention, retention, sync
from integrations.http import CircuitOpen, RateLimited, TransientError
from integrations.models import Connection


@shared_task(bind=True, queue="sync", max_retries=6, acks_late=True)
def sync_connection_task(
    self,
    connection_id: int,
    trigger: str = "schedule",
    data_types: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> int | None:
    """Sync one connection; a provider that is busy or down is retried later, not hammered."""
    try:
        run = sync.run(
            connection_id,
            trigger=trigger,
            data_types=data_types,
            start=datetime.fromisoformat(start) if start else None,
            end=datetime.fromisoformat(end) if end else None,
        )
    except (RateLimited, CircuitOpen) as error:
        raise self.retry(countdown=max(5, int(error.retry_after)) + 1) from error
    except TransientError as error:
        raise self.retry(countdown=60 * 2**self.request.retries) from error
    return run.pk if run else None


@shared_task(queue="default")
def dispatch_due_syncs_task() -> int:
    """Beat runs this every few minutes; it fans out one task per due connection."""
    now = timezone.now()
    dispatched = 0
    for connection in Connection.objects.due_for_sync(now).only("pk", "user_id"):
        # Book the next slot first, so the next beat does not dispatch the same connection again.
        Connection.objects.filter(pk=connection.pk).update(next_sync_at=connection.next_slot(now))
        sync_connection_task.delay(connection.pk)
        dispatched += 1
    return dispatched


@shared_task(queue="default")
def enforce_retention_task() -> dict[str, int]:
    """Delete provider data older than each provider's retention setting (provider terms)."""
    return retention.enforce()


@shared_task(queue="default")
def notify_connection_problems_task() -> None:
    """Beat runs this hourly: owners of failing or silent connections are told by email."""
    attention.notify_owners()


@shared_task(queue="default")
def fail_stalled_syncs_task() -> int:
    """Beat runs this every minute: runs whose worker died are failed and their connections freed."""
    return sync.fail_stalled()
