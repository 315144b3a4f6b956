"""The sync engine: one run of one connection, from claiming it to advancing its cursors.

    run(connection_id)
      claim the connection (a conditional UPDATE lease: never two runs at once)
      renew the lease and the SyncRun's heartbeat while working (after provider responses and batches)
      for each data type of its source:
        window = first sync: [now - backfill days (capped by the provider's history), now)
                 later:      [cursor - overlap days, now)  (providers finalise data late)
        fetch -> to_records -> ingest in batches (idempotent upserts)
        advance the cursor to the window's end once everything in it is committed
      record the SyncRun; set the connection's status, last success or last error
      release the lease

A reconnect keeps the cursors, so it backfills only the gap since the last good sync.
A run whose worker died stops renewing: beat's `fail_stalled` marks it failed once its lease ran out.
"""

from __future__ import annotations

import logging
import secrets
import time
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
from users import audit

logger = logging.getLogger(__name__)

BATCH_SIZE = 2_000


WORKER_LOST_HINT = (
    "The sync stopped unexpectedly on our side. Nothing was lost: the next sync, scheduled or "
    "started with Sync now, picks up where it stopped."
)


class LeaseLost(Exception):
    """The run's lease ran out and was swept or taken by another run: this run must stop."""


def claim(connection_id: int, lease: timedelta) -> str | None:
    """Lease the connection for one run (freed when it ends); its token, or None if another worker has it."""
    now = timezone.now()
    token = secrets.token_hex(16)
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    try:
        taken = Connection.objects.filter(free, pk=connection_id).update(
            sync_lease_until=now + lease, sync_lease_token=token
        )
    except OperationalError:
        if db_connection.vendor != "sqlite":
            raise
        return None  # SQLite: a writer holds the database past the busy timeout, as a running sync does
    return token if taken == 1 else None


def release(connection_id: int, token: str) -> None:
    """Free the connection, unless another run holds it by now."""
    Connection.objects.filter(pk=connection_id, sync_lease_token=token).update(
        sync_lease_until=None, sync_lease_token=""
    )


@dataclass
class Lease:
    """One run's hold on its connection, renewed at most every SYNC_HEARTBEAT_SECONDS."""

    connection_id: int
    token: str
    run_id: int | None = None
    renewed_at: float = field(default_factory=time.monotonic)
    # Transactions already open when the run began (a test's); deeper ones are the run's own.
    atomic_depth: int = field(default_factory=lambda: len(db_connection.atomic_blocks))

    def renew(self) -> None:
        """Extend the lease and the run's heartbeat; LeaseLost if the connection is no longer ours."""
        if time.monotonic() - self.renewed_at < settings.SYNC_HEARTBEAT_SECONDS:
            return
        if len(db_connection.atomic_blocks) > self.atomic_depth:
            return  # a token refresh holds the row: never roll back its rotated token, beat later
        now = timezone.now()
        until = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        held = Connection.objects.filter(pk=self.connection_id, sync_lease_token=self.token)
        if held.update(sync_lease_until=until) != 1:
            raise LeaseLost(f"connection {self.connection_id} was taken over")
        if self.run_id is not None:
            SyncRun.objects.filter(pk=self.run_id).update(heartbeat_at=now)
        self.renewed_at = time.monotonic()

    def on_response(self, response, *args, **kwargs):
        """A requests response hook: every provider answer is a sign of life."""
        self.renew()
        return response


def _end_stalled(
    run: SyncRun, now: datetime, message: str, *, still_stale_before: datetime | None = None
) -> bool:
    """Mark a run that stopped without finishing failed, unless it ended (or reported) meanwhile."""
    runs = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING)
    if still_stale_before is not None:
        runs = runs.filter(heartbeat_at__lt=still_stale_before)
    error = {"data_type": "", "message": message, "hint": WORKER_LOST_HINT}
    return runs.update(status=SyncRun.Status.FAILED, finished_at=now, errors=[*run.errors, error]) == 1


def fail_stalled(now: datetime | None = None) -> int:
    """Fail the runs whose worker stopped renewing (killed, lost) and free their connections."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    failed = 0
    for run in SyncRun.objects.stalled(stale).only("pk", "connection_id", "errors"):
        if not _end_stalled(run, now, "worker lost", still_stale_before=stale):
            continue  # it reported in the meantime
        Connection.objects.filter(pk=run.connection_id, sync_lease_until__lt=now).update(
            sync_lease_until=None, sync_lease_token=""
        )
        Connection.objects.filter(pk=run.connection_id).update(last_error=WORKER_LOST_HINT, last_error_at=now)
        logger.warning("sync failed: worker lost", extra={"sync_run": run.pk})
        failed += 1
    return failed


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
    token = claim(connection_id, timedelta(seconds=settings.SYNC_LEASE_SECONDS))
    if token is None:
        logger.info("sync skipped: connection busy", extra={"connection": connection_id})
        return None
    lease = Lease(connection_id, token)
    sync_run = None
    try:
        connection = Connection.objects.select_related("user").get(pk=connection_id)
        if connection.status not in (Connection.Status.ACTIVE, Connection.Status.ERROR):
            return None
        sync_run = SyncRun.objects.create(connection=connection, trigger=trigger)
        lease.run_id = sync_run.pk
        _run(connection, sync_run, lease, data_types=data_types, start=start, end=end)
        return sync_run
    except LeaseLost:
        # Its lease ran out (a stall longer than SYNC_LEASE_SECONDS) and beat failed the run or
        # another run holds the connection now: stop here; committed batches stay, cursors did not move.
        logger.warning("sync stopped: lease lost", extra={"connection": connection_id})
        if sync_run is not None:
            _end_stalled(sync_run, timezone.now(), "lease lost")
        return sync_run
    except Exception as error:
        if not _is_database_failure(error):
            raise
        _fail_on_lost_database(connection_id, sync_run)
        raise TransientError(f"database failure during the sync: {type(error).__name__}") from error
    finally:
        release(connection_id, token)


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
    lease: Lease,
    *,
    data_types: Iterable[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    source = source_for(connection)
    source.client.session.hooks["response"].append(lease.on_response)
    wanted = [kind for kind in source.data_types if data_types is None or kind in set(data_types)]
    tally = _Tally()
    transient: TransientError | None = None
    try:
        for data_type in wanted:
            try:
                _sync_data_type(connection, source, sync_run, lease, tally, data_type, start=start, end=end)
            except (AuthRevoked, LeaseLost):
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
    lease: Lease,
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
        lease.renew()
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
    if "status" in changes:
        audit.record(
            action="connection.status_changed",
            user=connection.user,
            target=f"connection:{connection.pk}",
            details={"provider": connection.provider, "from": status, "to": changes["status"]},
        )
