"""The sync engine: one run of one connection, from claiming it to advancing its cursors.

    run(connection_id)
      claim the connection (a conditional UPDATE lease: never two runs at once)
      for each data type of its source:
        window = first sync: [now - backfill days (capped by the provider's history), now)
                 later:      [cursor - overlap days, now)  (providers finalise data late)
        fetch -> to_records -> ingest in batches (idempotent upserts)
        advance the cursor to the window's end once everything in it is committed
      record the SyncRun; set the connection's status, last success or last error
      release the lease

A reconnect keeps the cursors, so it backfills only the gap since the last good sync.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from healthdata.ingest import ingest
from healthdata.normalized import Origin, RecordIn, SessionIn
from integrations.http import AuthRevoked, ProviderError, TransientError
from integrations.models import Connection, SyncRun
from integrations.providers.base import DataSource
from integrations.tokens import mark_needs_reauth, source_for

logger = logging.getLogger(__name__)

BATCH_SIZE = 2_000


def claim(connection_id: int, lease: timedelta) -> bool:
    """Lease the connection for one run (freed when it ends); False if another worker has it."""
    now = timezone.now()
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    try:
        taken = Connection.objects.filter(free, pk=connection_id).update(sync_lease_until=now + lease)
    except OperationalError:
        if db_connection.vendor != "sqlite":
            raise
        return False  # SQLite: a writer holds the database past the busy timeout, as a running sync does
    return taken == 1


def release(connection_id: int) -> None:
    Connection.objects.filter(pk=connection_id).update(sync_lease_until=None)


@dataclass
class _Tally:
    counts: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, result) -> None:
        self.counts.update(result.by_metric)
        self.rejected.update(result.rejected)
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged


def run(
    connection_id: int,
    *,
    trigger: str = "schedule",
    data_types: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SyncRun | None:
    """Sync one connection; None when another run holds it or it cannot sync (needs reauth).

    With `start`/`end` (a webhook's span) only that span is read and cursors do not move.
    Transient failures are recorded and re-raised, so the task retries later.
    """
    if not claim(connection_id, timedelta(seconds=settings.SYNC_LEASE_SECONDS)):
        logger.info("sync skipped: connection busy", extra={"connection": connection_id})
        return None
    sync_run = None
    try:
        connection = Connection.objects.select_related("user").get(pk=connection_id)
        if connection.status not in (Connection.Status.ACTIVE, Connection.Status.ERROR):
            return None
        sync_run = SyncRun.objects.create(connection=connection, trigger=trigger)
        _run(connection, sync_run, data_types=data_types, start=start, end=end)
        return sync_run
    except Exception as error:
        if not _is_database_failure(error):
            raise
        _fail_on_lost_database(connection_id, sync_run)
        raise TransientError(f"database failure during the sync: {type(error).__name__}") from error
    finally:
        release(connection_id)


def _is_database_failure(error: Exception) -> bool:
    """A dropped or failing database connection, whether or not Django wrapped the driver's error."""
    driver = db_connection.Database
    failures = (OperationalError, InterfaceError, driver.OperationalError, driver.InterfaceError)
    return isinstance(error, failures)


def _fail_on_lost_database(connection_id: int, sync_run: SyncRun | None) -> None:
    """Record the failure on a fresh database connection: the old one may be gone.

    Every batch commits with its rollups and a cursor moves only after its data type is done,
    so the run that the task retries later re-reads whatever this one did not finish.
    """
    db_connection.close()
    now = timezone.now()
    hint = "A temporary problem on our side interrupted the sync. It will try again automatically."
    if sync_run is not None and sync_run.pk:
        errors = [*sync_run.errors, {"data_type": "", "message": "database connection lost", "hint": hint}]
        SyncRun.objects.filter(pk=sync_run.pk).update(
            status=SyncRun.Status.FAILED, finished_at=now, errors=errors
        )
    Connection.objects.filter(pk=connection_id).update(last_error=hint, last_error_at=now)


def _run(
    connection: Connection,
    sync_run: SyncRun,
    *,
    data_types: Iterable[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    source = source_for(connection)
    wanted = [kind for kind in source.data_types if data_types is None or kind in set(data_types)]
    tally = _Tally()
    transient: TransientError | None = None
    try:
        for data_type in wanted:
            try:
                _sync_data_type(connection, source, sync_run, tally, data_type, start=start, end=end)
            except AuthRevoked:
                raise
            except TransientError as error:
                _note_error(sync_run, data_type, error)
                transient = error
                break  # the provider is struggling: the rest would fail too
            except ProviderError as error:
                _note_error(sync_run, data_type, error)
            except Exception as error:  # a mapping bug must not stop the other data types
                if _is_database_failure(error):
                    raise  # but a lost database stops the whole run: see run()
                logger.exception("sync failed unexpectedly", extra={"data_type": data_type})
                _note_error(sync_run, data_type, ProviderError(f"unexpected {type(error).__name__}"))
    except AuthRevoked as error:
        _note_error(sync_run, "", error)
        mark_needs_reauth(connection.pk, error.hint)
    finally:
        source.client.close()
    _finish(connection, sync_run, tally, requests_made=source.client.requests_made)
    if transient is not None:
        raise transient


def _sync_data_type(
    connection: Connection,
    source: DataSource,
    sync_run: SyncRun,
    tally: _Tally,
    data_type: str,
    *,
    start: datetime | None,
    end: datetime | None,
) -> None:
    targeted = start is not None
    window_start, window_end = (
        (whole_hour(start), end or timezone.now()) if targeted else window_for(connection, source, data_type)
    )
    sync_run.windows[data_type] = [window_start.isoformat(), window_end.isoformat()]
    records = _records(source, data_type, source.fetch(data_type, window_start, window_end))
    origin = Origin(kind="sync", id=sync_run.pk)
    for batch in _batches(records):
        # Each batch commits with the rollups of its days: a run that dies after a commit leaves
        # no day whose records and rollups disagree (a re-read finds the records unchanged).
        result = ingest(user=connection.user, source=source.slug, records=batch, origin=origin)
        tally.add(result)
    if not targeted:
        _advance_cursor(connection, data_type, window_end)


def window_for(connection: Connection, source: DataSource, data_type: str) -> tuple[datetime, datetime]:
    """[start, now): a backfill the first time, then from the cursor minus the overlap window.

    The start is floored to the hour; with a history limit it stays inside it.
    """
    now = timezone.now()
    cursor = connection.cursor(data_type)
    if cursor is None:
        start = now - timedelta(days=connection.backfill_days or settings.SYNC_BACKFILL_DAYS)
    else:
        start = cursor - timedelta(days=settings.SYNC_OVERLAP_DAYS)
    start = whole_hour(start)
    if source.history_days is not None:
        oldest = whole_hour(now - timedelta(days=source.history_days)) + timedelta(hours=1)
        start = max(start, oldest)
    return start, now


def whole_hour(moment: datetime) -> datetime:
    """The start of the hour: providers that bucket from a window's start (hourly roll-ups) then
    give every re-read the same buckets, hence the same keys."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _records(source: DataSource, data_type: str, items: Iterable[dict]) -> Iterator[RecordIn | SessionIn]:
    for item in items:
        yield from source.to_records(data_type, item)


def _batches(records: Iterator[RecordIn | SessionIn]) -> Iterator[list[RecordIn | SessionIn]]:
    while batch := list(islice(records, BATCH_SIZE)):
        yield batch


def _advance_cursor(connection: Connection, data_type: str, until: datetime) -> None:
    """Move one data type's cursor forward (never back), in its own small UPDATE."""
    with transaction.atomic():
        fresh = Connection.objects.select_for_update().get(pk=connection.pk)
        current = fresh.cursor(data_type)
        if current is None or until > current:
            fresh.cursors[data_type] = until.isoformat()
            Connection.objects.filter(pk=connection.pk).update(cursors=fresh.cursors)
        connection.cursors = fresh.cursors


def _note_error(sync_run: SyncRun, data_type: str, error: ProviderError) -> None:
    sync_run.errors.append({"data_type": data_type, "message": str(error), "hint": error.hint})
    logger.warning(
        "sync error",
        extra={"connection": sync_run.connection_id, "data_type": data_type, "error": type(error).__name__},
    )


def _finish(connection: Connection, sync_run: SyncRun, tally: _Tally, *, requests_made: int) -> None:
    now = timezone.now()
    failed = bool(sync_run.errors)
    wrote = bool(tally.counts or tally.unchanged or tally.updated)
    if not failed:
        sync_run.status = SyncRun.Status.SUCCEEDED
    elif len(sync_run.errors) < len(sync_run.windows) or wrote:
        sync_run.status = SyncRun.Status.PARTIAL
    else:
        sync_run.status = SyncRun.Status.FAILED
    sync_run.finished_at = now
    sync_run.counts = dict(tally.counts)
    sync_run.rejected = dict(tally.rejected)
    sync_run.created_count, sync_run.updated_count = tally.created, tally.updated
    sync_run.unchanged_count = tally.unchanged
    sync_run.requests_made = requests_made
    sync_run.save()
    _update_connection(connection, sync_run, now)


def _update_connection(connection: Connection, sync_run: SyncRun, now: datetime) -> None:
    changes: dict = {"next_sync_at": connection.next_slot(now)}
    status = Connection.objects.filter(pk=connection.pk).values_list("status", flat=True).first()
    if not sync_run.errors:
        changes.update(last_success_at=now, last_error="", last_error_at=None)
        if status == Connection.Status.ERROR:
            changes["status"] = Connection.Status.ACTIVE
    else:
        changes.update(last_error=sync_run.errors[-1]["hint"], last_error_at=now)
        if sync_run.status == SyncRun.Status.FAILED and status == Connection.Status.ACTIVE:
            changes["status"] = Connection.Status.ERROR
        if sync_run.status == SyncRun.Status.PARTIAL:
            changes["last_success_at"] = now
    Connection.objects.filter(pk=connection.pk).update(**changes)
