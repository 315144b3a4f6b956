from celery import shared_task

from users import erasure, export


@shared_task(queue="default")
def build_export_task(export_id: int) -> None:
    export.build(export_id)


@shared_task(queue="default")
def purge_expired_exports_task() -> None:
    """Beat runs this hourly: expired export files are deleted."""
    export.purge_expired()


@shared_task(queue="default", autoretry_for=(Exception,), retry_backoff=60, retry_jitter=True, max_retries=8)
def erase_account_task(user_id: int) -> None:
    """A failing hook (a provider down while revoking) retries later; the account stays locked."""
    erasure.erase_account(user_id)
