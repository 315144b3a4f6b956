from celery import shared_task

from imports import services


@shared_task(queue="imports", acks_late=True)
def run_import_task(job_id: int) -> None:
    services.run_import(job_id)


@shared_task(queue="default")
def requeue_stalled_imports_task() -> int:
    """Beat runs this every minute: a crashed import restarts within minutes, not after the broker timeout."""
    return services.requeue_stalled_imports()


@shared_task(queue="default")
def purge_abandoned_uploads_task() -> int:
    """Beat runs this hourly: staged uploads that never became an import are not kept."""
    return services.purge_abandoned_uploads()
