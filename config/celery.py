"""The Celery app: queues `imports`, `sync` and `default`; the request id travels with each task."""

import logging
import os

from celery import Celery, signals
from kombu import Exchange, Queue

from config.observability import new_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hfa")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUES = ("imports", "sync", "default")
# Each queue has its own exchange and routing key, so a task sent to one queue lands in that one only.
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
REQUEST_ID_HEADER = "request_id"


@signals.before_task_publish.connect
def _attach_request_id(headers: dict | None = None, **kwargs) -> None:
    """Carry the id of the request (or task) that enqueued this task into the task's headers."""
    if headers is not None and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id_var.get() or new_request_id()


@signals.task_prerun.connect
def _adopt_request_id(task=None, **kwargs) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task else None
    request_id_var.set(new_request_id(request_id))


@signals.task_postrun.connect
def _forget_request_id(**kwargs) -> None:
    request_id_var.set("")


@app.task(name="config.ping", queue="default")
def ping_task(note: str = "") -> str:
    """Prove the wiring: a worker took the task and logs under the request id that sent it."""
    logger.info("ping", extra={"note": note})
    return "pong"
