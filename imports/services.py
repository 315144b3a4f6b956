"""Starting, running, cancelling, retrying and deleting imports.

Crash safety: a job advances in batches; each batch is ingested and the job's checkpoint (items
committed so far) is written in the same transaction, so a re-delivered task skips exactly what is
already stored. A worker holds the job through a lease token; a batch commits only while the job is
still `running` under that token, so a cancelled or taken-over job never gains another batch.

An Apple Health export on PostgreSQL is parsed, prepared and encoded for COPY apart from the
writer (imports/pipeline.py): in a parser process for a large file, in a thread for a small one.
The writer sends each batch's bytes and moves the checkpoint in the same transaction, as above.

Outcome rule: a job that ends `failed` or `cancelled` removes the rows it created (rows it merely
updated keep their new values); only `succeeded` keeps an import. Retrying starts from the beginning.
"""

import hashlib
import logging
import queue
import shutil
import threading
import time
import uuid
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from healthdata import rollups
from healthdata.ingest import IngestResult, ingest, ingest_encoded
from healthdata.models import Record, Session
from healthdata.normalized import Origin
from imports.models import ImportJob, SavedMapping
from imports.parsers.apple_health import AppleHealthParser, open_export
from imports.parsers.archives import ZipLimits, damaged_zip, sniff
from imports.parsers.base import ImportRejected
from imports.parsers.csv import CsvMapping, CsvParser, MappingError
from imports.pipeline import Batch, Finished, ParserProcess, Plan, ReadyBatch, batches, ready_batches

logger = logging.getLogger(__name__)

BATCH_ITEMS = 5_000
PROGRESS_SECONDS = 2.0
ROLLUP_DAYS_PER_BEAT = 500  # (metric, day) pairs refreshed in one transaction (the task beats between two)
READ_AHEAD_BATCHES = 4  # prepared batches held while the writer is busy: a few megabytes
# How long a batch may wait for another transaction's rows (another import of the same records):
# past it the batch fails and the job is handed back, rather than two writers waiting on each other.
LANE_LOCK_TIMEOUT = "60s"
MAX_REJECTED_ROWS = 1_000
CSV_KINDS = ("csv", "cronometer", "myfitnesspal", "fitbit", "withings")


class DuplicateUpload(Exception):
    """The same file is already being imported for this user."""

    def __init__(self, job: ImportJob) -> None:
        super().__init__(f"import #{job.pk} of the same file is {job.status}")
        self.job = job


class LeaseLost(Exception):
    """The job was cancelled or taken over by another worker; this run stops without writing."""


@dataclass
class Tally:
    """What a run has written so far, carried over from the job when it resumes."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    by_metric: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    days: set[tuple[str, date]] = field(default_factory=set)
    write_seconds: float = 0.0

    @classmethod
    def from_job(cls, job: ImportJob) -> "Tally":
        return cls(
            created=job.created_count,
            updated=job.updated_count,
            unchanged=job.unchanged_count,
            by_metric=Counter(job.counts_by_metric),
            rejected=Counter(job.rejected),
            write_seconds=job.write_seconds,
        )

    def add(self, result: IngestResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.by_metric.update(result.by_metric)
        self.rejected.update(result.rejected)
        self.days |= result.days

    def fields(self) -> dict:
        return {
            "created_count": self.created,
            "updated_count": self.updated,
            "unchanged_count": self.unchanged,
            "counts_by_metric": dict(self.by_metric),
            "rejected": dict(self.rejected),
            "write_seconds": round(self.write_seconds, 3),
        }


def zip_limits() -> ZipLimits:
    return ZipLimits(max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES)


def detect_kind(path: Path) -> str:
    """apple_health for an export.xml or a zip holding one, else csv (presets are found per table)."""
    container = sniff(path)
    if container == "xml":
        return "apple_health"
    if container == "zip":
        with zipfile.ZipFile(path) as archive:
            names = [name.lower() for name in archive.namelist()]
        if any(name.endswith(".xml") and "export_cda" not in name for name in names):
            return "apple_health"
    return "csv"


def store_upload(*, user, temporary_path: Path, original_name: str) -> str:
    """Move an upload into MEDIA_ROOT/imports/<user id>/ under a fresh name; return the relative path."""
    suffix = "".join(Path(original_name).suffixes[-2:])[:16].lower()
    relative = Path("imports") / str(user.pk) / f"{uuid.uuid4().hex}{suffix}"
    target = settings.MEDIA_ROOT / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(temporary_path), target)
    return str(relative)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def start_import(
    *,
    user,
    file_path: str,
    original_name: str,
    size_bytes: int,
    sha256: str,
    kind: str = "",
    options: dict | None = None,
    idempotency_key: str = "",
    enqueue: bool = True,
) -> ImportJob:
    """Create the job for a stored upload and enqueue it; refuse a file already being imported.

    `enqueue=False` leaves running it to the caller (the import_file command runs it in process).
    """
    from imports.tasks import run_import_task

    _refuse_duplicate(user, sha256)
    kind = kind or detect_kind(settings.MEDIA_ROOT / file_path)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                user=user,
                kind=kind,
                file_path=file_path,
                original_name=original_name[:255],
                size_bytes=size_bytes,
                sha256=sha256,
                options=options or {},
                idempotency_key=idempotency_key,
                source="apple_health" if kind == "apple_health" else "",  # a CSV takes its preset's source
            )
    except IntegrityError:
        _refuse_duplicate(user, sha256)  # the same file started meanwhile by a concurrent request
        raise
    if enqueue:
        run_import_task.delay_on_commit(job.pk)
    return job


def _refuse_duplicate(user, sha256: str) -> None:
    running = ImportJob.objects.for_user(user).active().filter(sha256=sha256).first()
    if running is not None:
        raise DuplicateUpload(running)


def _uploaded_file(job: ImportJob) -> Path:
    path = job.absolute_path
    if not path.exists():
        raise ImportRejected("The uploaded file is gone; upload it again.", "file_missing")
    return path


def open_parser(job: ImportJob):
    """The parser for a job's file: Apple Health's or the CSV one with the job's mapping or preset."""
    path = _uploaded_file(job)
    if job.kind == "apple_health":
        stream, size = open_export(path, zip_limits())
        return AppleHealthParser(stream, size)
    mapping = None
    if job.options.get("mapping"):
        try:
            mapping = CsvMapping.from_dict(job.options["mapping"])
        except MappingError as error:
            raise ImportRejected(str(error), "bad_mapping") from None
    weight_unit = job.options.get("weight_unit") or ("lb" if job.user.units == "imperial" else "kg")
    return CsvParser(
        path,
        zone=job.user.zone,
        mapping=mapping,
        preset=job.options.get("preset", ""),
        weight_unit=weight_unit,
        limits=zip_limits(),
    )


def run_import(job_id: int) -> None:
    """Claim the job, stream its file into the ingestion service in batches, and finish it exactly once."""
    token = uuid.uuid4().hex
    job = _claim(job_id, token)
    if job is None:
        return
    if job.attempts > settings.IMPORT_MAX_ATTEMPTS:
        _end_failed(
            job,
            token,
            "too_many_attempts",
            f"The import stopped {job.attempts - 1} times before finishing (the worker was restarted or "
            "ran out of memory). Retry it; if it fails again, the file may be too large for this server.",
        )
        return
    try:
        _run(job, token)
    except LeaseLost:
        logger.info("import stopped: job no longer held", extra={"job_id": job_id})
    except ImportRejected as rejected:
        _end_failed(job, token, rejected.code, rejected.reason)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        # The directory was sound at upload, but a member's data is damaged: retrying cannot help.
        rejected = damaged_zip(error)
        _end_failed(job, token, rejected.code, rejected.reason)
    except Exception as error:
        _release(job, token, error)
        raise


def _claim(job_id: int, token: str) -> ImportJob | None:
    """Take a queued job, or a running one whose worker died; exactly one caller wins."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    claimable = Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
    taken = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportJob.Status.RUNNING,
        lease_token=token,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now),
        error_code="",
        error_message="",
    )
    return ImportJob.objects.select_related("user").get(pk=job_id) if taken == 1 else None


def _run(job: ImportJob, token: str) -> None:
    if job.kind == "apple_health" and connection.vendor == "postgresql":
        _run_ready(job, token)
        return
    parser = open_parser(job)
    tally = _resumed_tally(job)
    cut = batches(parser, job.checkpoint, BATCH_ITEMS, PROGRESS_SECONDS)
    reader = ReadAhead(cut, wait_seconds=PROGRESS_SECONDS)
    for batch in reader:
        if batch is None:
            _beat(job, token, parser.fraction_done)
        else:
            _commit(job, token, batch, tally)
    report = parser.report
    _finish(
        job,
        token,
        tally,
        report={**report.as_dict(), "presets": getattr(parser, "presets", [])},
        rejected_rows=report.rejected_rows,
        parse_seconds=reader.producer_seconds,
    )


def _resumed_tally(job: ImportJob) -> Tally:
    """The job's counts so far; a resumed run also refreshes the days its earlier attempts wrote."""
    tally = Tally.from_job(job)
    if job.checkpoint:
        tally.days |= _days_of(job)
    return tally


def _run_ready(job: ImportJob, token: str) -> None:
    """An Apple Health export through imports.pipeline: parsed and prepared apart, written here."""
    path = _uploaded_file(job)
    tally = _resumed_tally(job)
    plan = Plan(
        path=str(path),
        max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
        skip=job.checkpoint,
        user_id=job.user_id,
        zone=job.user.zone.key,
        source="apple_health",
        job_id=job.pk,
        batch_items=BATCH_ITEMS,
        progress_seconds=PROGRESS_SECONDS,
    )
    parser_process = None
    if job.size_bytes >= settings.IMPORT_PARSER_PROCESS_MIN_BYTES:
        parser_process = ParserProcess(plan).start()
        reader = ReadAhead(iter(parser_process), depth=READ_AHEAD_BATCHES, wait_seconds=PROGRESS_SECONDS)
    else:
        reader = ReadAhead(ready_batches(plan), wait_seconds=PROGRESS_SECONDS)
    refresher = RollupRefresher(job, token)
    # Inside a caller's transaction (a test's) other connections could not see its rows: one lane.
    lanes = None if connection.in_atomic_block else WriterLanes(job, token, tally, refresher)
    fraction_done = 0.0
    try:
        for ready in reader:
            if ready is None:
                _beat(job, token, fraction_done)
            elif isinstance(ready, Finished):
                if lanes is not None:
                    lanes.drain()
                _refresh_last_days(job, token, refresher, tally)
                refresher.close()
                report, seconds = {**ready.report, "presets": []}, ready.parse_seconds
                _finish(job, token, tally, report=report, rejected_rows=[], parse_seconds=seconds)
            else:
                if lanes is not None:
                    lanes.write(ready)
                else:
                    written = _commit_ready(job, token, ready, tally)
                    _refresh_settled_days(refresher, tally, written)
                fraction_done = ready.fraction_done
    finally:
        if lanes is not None:
            lanes.close()  # a batch not yet committed is rolled back
        refresher.close(quietly=True)  # the error to report, if any, is already on its way
        if parser_process is not None:
            parser_process.close()


def _refresh_settled_days(refresher: "RollupRefresher", tally: Tally, written: set[str]) -> None:
    """Have the rollups of metrics the last batch did not touch refreshed while the import goes on.

    An export comes grouped by type, so a metric is usually done once the batches move past it.
    Should one come back (another source, a summary at the end), its days are touched again and
    refreshed again at the end; either way every touched day is refreshed after its last write.
    """
    settled = {pair for pair in tally.days if pair[0] not in written}
    if settled:
        refresher.refresh(settled)
        tally.days -= settled


def _refresh_last_days(job: ImportJob, token: str, refresher: "RollupRefresher", tally: Tally) -> None:
    """Refresh the days still waiting once every batch has committed, on two connections at once.

    The last metrics of an export (and every day a resumed run wrote before) settle only at its end,
    when nothing else is left to do: the refresher's connection takes half of them while this one
    refreshes the other half.
    """
    ordered = sorted(tally.days)
    tally.days = set()
    middle = len(ordered) // 2
    refresher.refresh(ordered[middle:])
    _refresh_rollups(job, token, ordered[:middle])


class RollupRefresher:
    """Refreshes the rollups of settled days on a database connection of its own, in a thread.

    The writer's batches are committed before their days are handed over, so the second connection
    sees them; meanwhile the writer goes on with the next batches, and PostgreSQL works on both.
    Handing days over never waits: a writer that waited for a long refresh (a year of merged step
    counts) would leave a core idle. The thread refreshes them in slices of ROLLUP_DAYS_PER_BEAT,
    each in its own transaction. At `close` the writer waits for what is left and keeps the job's
    heartbeat meanwhile, so a long refresh is not taken for a crash and a job no longer held stops
    the import (LeaseLost). When the writer holds a transaction around the whole import (a test's),
    another connection could not see its batches, so the days are refreshed in the writer's own
    thread instead. An error in the thread is raised in the writer at the next hand-over or at
    `close`.
    """

    def __init__(self, job: ImportJob, token: str) -> None:
        self.job = job
        self.token = token
        self.inline = connection.in_atomic_block
        self.days: queue.Queue = queue.Queue()  # a few bytes per (metric, day), every pair at most
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.stopping = False  # the thread has been told to stop

    def refresh(self, days: Iterable[tuple[str, date]]) -> None:
        """Have these days refreshed; returns at once, unless the writer holds a transaction."""
        self._raise_error()
        ordered = sorted(days)
        if not ordered:
            return
        if self.inline:
            _refresh_rollups(self.job, self.token, ordered)
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="import-rollups", daemon=True)
            self.thread.start()
        self.days.put(ordered)

    def close(self, quietly: bool = False) -> None:
        """Wait for the days handed over so far; raise the thread's error unless `quietly`.

        Quietly (the import is stopping on another error) it drops the days still waiting, which
        the run that resumes or discards the job refreshes again, and waits for the slice being
        refreshed, without a heartbeat.
        """
        if self.thread is not None:
            if not self.stopping:
                if quietly:
                    _drop_waiting(self.days)
                self.days.put(None)
                self.stopping = True
            while self.thread.is_alive():
                self.thread.join(PROGRESS_SECONDS)
                if not quietly and self.thread.is_alive():
                    _heartbeat(self.job, self.token)
            self.thread = None
        if not quietly:
            self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _work(self) -> None:
        try:
            while (days := self.days.get()) is not None:
                for first in range(0, len(days), ROLLUP_DAYS_PER_BEAT):
                    rollups.refresh(user=self.job.user, days=days[first : first + ROLLUP_DAYS_PER_BEAT])
        except BaseException as error:  # raised in the writer by close() or the next hand-over
            self.error = error
            while self.days.get() is not None:  # let close() through
                pass
        finally:
            connection.close()


def _drop_waiting(waiting: queue.Queue) -> None:
    while True:
        try:
            waiting.get_nowait()
        except queue.Empty:
            return


@dataclass(eq=False)
class LaneWrite:
    """One batch given to a lane; `done` is set once it has committed, or failed with `error`."""

    ready: ReadyBatch
    previous: "LaneWrite | None"
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class Abandoned(Exception):
    """The batch before this one failed, so this one is rolled back uncommitted."""


class WriterLanes:
    """Two batches written at once, each on a database connection of its own, committed in order.

    PostgreSQL spends most of an import inserting rows and their index entries, one core per
    connection. While one lane writes a batch, the other writes the next one beside it, so the
    database can use both cores. Each batch still commits together with the checkpoint, and only
    after the batch before it has committed: the checkpoint never passes a batch that is not stored,
    and a crash loses at most the uncommitted pair, which the resumed run writes again. The counts
    and the rollup hand-over follow the same order.

    Two batches in flight never share a source key: a batch that shares one with the batch before
    it, or carries sessions (their derived rows and links), is written alone, after the batch before
    it has committed and before the next one starts. So a lane never waits inside the database for
    the other lane; a wait on another import's rows ends after LANE_LOCK_TIMEOUT with an error that
    hands the job back. The calling thread keeps the heartbeat while it waits for a lane.
    """

    def __init__(self, job: ImportJob, token: str, tally: Tally, refresher: "RollupRefresher") -> None:
        self.job = job
        self.token = token
        self.tally = tally
        self.refresher = refresher
        self.inboxes: list[queue.Queue] = [queue.Queue(maxsize=1), queue.Queue(maxsize=1)]
        self.threads: list[threading.Thread | None] = [None, None]
        self.in_flight: deque[LaneWrite] = deque()
        self.given = 0

    def write(self, ready: ReadyBatch) -> None:
        """Give a batch to the next lane, once the batch that lane wrote before has committed."""
        if len(self.in_flight) == len(self.inboxes):
            self._wait_for(self.in_flight.popleft())
        lane = self.given % len(self.inboxes)
        self.given += 1
        task = LaneWrite(ready, self.in_flight[-1] if self.in_flight else None)
        if self.threads[lane] is None:
            self.threads[lane] = threading.Thread(
                target=self._work, args=(self.inboxes[lane],), name=f"import-lane-{lane}", daemon=True
            )
            self.threads[lane].start()
        self.inboxes[lane].put(task)
        self.in_flight.append(task)

    def drain(self) -> None:
        """Wait until every batch given has committed; raise the first error."""
        while self.in_flight:
            self._wait_for(self.in_flight.popleft())

    def close(self) -> None:
        """Stop the lanes; a batch given but not committed is rolled back."""
        for inbox, thread in zip(self.inboxes, self.threads, strict=True):
            if thread is not None:
                inbox.put(None)
        for thread in self.threads:
            if thread is not None:
                thread.join()
        self.threads = [None, None]

    def _wait_for(self, task: LaneWrite) -> None:
        while not task.done.wait(PROGRESS_SECONDS):
            _heartbeat(self.job, self.token)
        if task.error is not None:
            raise task.error

    def _work(self, inbox: queue.Queue) -> None:
        try:
            while (task := inbox.get()) is not None:
                try:
                    self._write(task)
                except BaseException as error:  # raised in the calling thread by _wait_for
                    task.error = error
                finally:
                    task.done.set()
        finally:
            connection.close()

    def _write(self, task: LaneWrite) -> None:
        previous, task.previous = task.previous, None  # no chain of every batch so far
        if previous is not None and (task.ready.alone or previous.ready.alone):
            _after(previous)
        written = _commit_ready(self.job, self.token, task.ready, self.tally, after=previous)
        _refresh_settled_days(self.refresher, self.tally, written)


def _after(task: LaneWrite) -> None:
    """Wait for a batch to commit; raise Abandoned if it failed."""
    task.done.wait()
    if task.error is not None:
        raise Abandoned


class ReadAhead:
    """Parse in a thread while the caller writes: the database works while the next batch is read.

    The parsers (and imports.pipeline) are pure, so only the calling thread touches the connection.
    At most `depth` batches wait in memory; an error in the parser is raised in the caller. When no batch
    comes within `wait_seconds` (a long stretch of skipped elements, or the items before a resume
    point), None is yielded so that the caller can still report progress.
    """

    _done = object()

    def __init__(self, batches: Iterator, depth: int = 2, wait_seconds: float | None = None) -> None:
        self.batches = batches
        self.wait_seconds = wait_seconds
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.producer_seconds = 0.0
        self.thread = threading.Thread(target=self._produce, name="import-parser", daemon=True)

    def __iter__(self) -> Iterator:
        self.thread.start()
        try:
            while (batch := self._get()) is not self._done:
                if isinstance(batch, BaseException):
                    raise batch
                yield batch
        finally:
            self.stopped.set()

    def _get(self):
        try:
            return self.queue.get(timeout=self.wait_seconds)
        except queue.Empty:
            return None

    def _produce(self) -> None:
        began = time.monotonic()
        try:
            for batch in self.batches:
                if not self._put(batch):
                    return
            self._put(self._done)
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(error)
        finally:
            self.producer_seconds = time.monotonic() - began

    def _put(self, value) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(value, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False


def _commit(job: ImportJob, token: str, batch: Batch, tally: Tally) -> None:
    """Ingest one batch and move the checkpoint in the same transaction."""
    began = time.monotonic()
    source = job.source or batch.source or "csv"
    with transaction.atomic():
        if batch.items:
            tally.add(_ingest(job, source, batch.items))
        tally.write_seconds += time.monotonic() - began
        _checkpoint(job, token, batch.position, batch.fraction_done, source, tally)


def _commit_ready(
    job: ImportJob, token: str, ready: ReadyBatch, tally: Tally, after: LaneWrite | None = None
) -> set[str]:
    """Write one prepared batch (its sessions through ingest) and move the checkpoint with it.

    With `after` (WriterLanes), the rows are written at once but counted and committed only once
    that batch has committed. Returns the metrics the batch wrote.
    """
    began = time.monotonic()
    written: set[str] = set()
    with transaction.atomic():
        _batch_settings()
        results = [_ingest(job, job.source, ready.sessions)] if ready.sessions else []
        encoded, accepted, rejected = ready.encoded, ready.accepted, ready.rejected
        results.append(ingest_encoded(user=job.user, encoded=encoded, accepted=accepted, rejected=rejected))
        if after is not None:
            _after(after)
        for result in results:
            tally.add(result)
            written.update(metric for metric, _ in result.days)
        tally.write_seconds += time.monotonic() - began
        _checkpoint(job, token, ready.position, ready.fraction_done, job.source, tally)
    return written


def _batch_settings() -> None:
    """Let this batch's commit return before its WAL is flushed, and bound its waits (PostgreSQL).

    Not waiting for the flush is safe here because the batch and its checkpoint are one
    transaction: should the database crash within the moment before the flush, both are lost
    together and the import resumes from the checkpoint before. A job's end (`_finish`) still
    commits durably. The lock timeout ends a wait for another transaction's rows (WriterLanes).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('synchronous_commit', 'off', true), set_config('lock_timeout', %s, true)",
            [LANE_LOCK_TIMEOUT],
        )


def _ingest(job: ImportJob, source: str, items: list) -> IngestResult:
    origin = Origin(kind="import", id=job.pk)
    return ingest(user=job.user, source=source, records=items, origin=origin, refresh_rollups=False)


def _checkpoint(
    job: ImportJob, token: str, position: int, fraction_done: float, source: str, tally: Tally
) -> None:
    """Move the checkpoint inside the batch's transaction; raise LeaseLost if the job is no longer held."""
    held = _held(job, token).update(
        checkpoint=position,
        progress=round(fraction_done * 99, 1),
        heartbeat_at=timezone.now(),
        source=source,
        **tally.fields(),
    )
    if held != 1:
        raise LeaseLost
    job.checkpoint, job.source = position, source


def _beat(job: ImportJob, token: str, fraction_done: float) -> None:
    """Report progress and liveness while no batch is ready to commit."""
    # Greatest: a resumed run re-reads the file from its start, and progress must not go backwards.
    progress = Greatest(F("progress"), Value(round(fraction_done * 99, 1), output_field=FloatField()))
    held = _held(job, token).update(progress=progress, heartbeat_at=timezone.now())
    if held != 1:
        raise LeaseLost


def _finish(
    job: ImportJob, token: str, tally: Tally, *, report: dict, rejected_rows: list, parse_seconds: float
) -> None:
    _refresh_rollups(job, token, tally.days)
    with transaction.atomic():
        done = _held(job, token).update(
            status=ImportJob.Status.SUCCEEDED,
            progress=100,
            finished_at=timezone.now(),
            lease_token="",
            report=report,
            rejected_rows=rejected_rows[:MAX_REJECTED_ROWS],
            parse_seconds=round(parse_seconds, 3),
        )
        if done != 1:
            raise LeaseLost
    job.absolute_path.unlink(missing_ok=True)


def _refresh_rollups(job: ImportJob, token: str, days: Iterable[tuple[str, date]]) -> None:
    """Refresh the touched days in slices, beating between them so a long refresh is not taken for a crash."""
    ordered = sorted(days)
    for first in range(0, len(ordered), ROLLUP_DAYS_PER_BEAT):
        rollups.refresh(user=job.user, days=ordered[first : first + ROLLUP_DAYS_PER_BEAT])
        _heartbeat(job, token)


def _heartbeat(job: ImportJob, token: str) -> None:
    """Show the job is alive; raise LeaseLost if it is no longer held."""
    if _held(job, token).update(heartbeat_at=timezone.now()) != 1:
        raise LeaseLost


def _held(job: ImportJob, token: str):
    return ImportJob.objects.filter(pk=job.pk, lease_token=token, status=ImportJob.Status.RUNNING)


def _end_failed(job: ImportJob, token: str, code: str, reason: str) -> None:
    """Fail the job with a reason a person can act on, removing what it had written."""
    with transaction.atomic():
        ended = _held(job, token).update(
            status=ImportJob.Status.FAILED,
            error_code=code[:32],
            error_message=reason,
            lease_token="",
            finished_at=timezone.now(),
        )
        if ended == 1:
            discard_data(job)
    logger.info("import failed", extra={"job_id": job.pk, "code": code})


def _release(job: ImportJob, token: str, error: Exception) -> None:
    """An unexpected error: hand the job back to the queue; the stalled-job sweep restarts it."""
    _held(job, token).update(
        status=ImportJob.Status.QUEUED,
        queued_at=timezone.now(),
        lease_token="",
        error_message=f"Attempt {job.attempts} stopped on an internal error ({type(error).__name__}).",
    )
    logger.exception("import attempt failed", extra={"job_id": job.pk})


def _days_of(job: ImportJob) -> set[tuple[str, date]]:
    return set(_job_records(job).values_list("metric", "local_date").distinct())


def _job_records(job: ImportJob):
    return Record.objects.filter(user=job.user, origin_kind="import", origin_id=job.pk)


def discard_data(job: ImportJob) -> int:
    """Delete the records and sessions this job created and refresh the days they were on."""
    days = _days_of(job)
    deleted, _ = _job_records(job).delete()
    sessions, _ = Session.objects.filter(user=job.user, origin_kind="import", origin_id=job.pk).delete()
    if days:
        rollups.refresh(user=job.user, days=days)
    ImportJob.objects.filter(pk=job.pk).update(checkpoint=0)
    return deleted + sessions


def cancel_import(job: ImportJob) -> bool:
    """Stop a queued or running job between batches and remove what it wrote; False if it had ended."""
    with transaction.atomic():
        cancelled = (
            ImportJob.objects.filter(pk=job.pk)
            .active()
            .update(status=ImportJob.Status.CANCELLED, lease_token="", finished_at=timezone.now())
        )
        if cancelled:
            discard_data(job)
    job.refresh_from_db()
    return bool(cancelled)


def retry_import(job: ImportJob) -> bool:
    """Queue a failed or cancelled job again, from the beginning; False if it cannot be retried."""
    from imports.tasks import run_import_task

    if not job.absolute_path.exists():
        return False
    try:
        with transaction.atomic():
            retried = _queue_again(job)
    except IntegrityError:  # the same file is being imported by another job right now
        return False
    if retried:
        transaction.on_commit(lambda: run_import_task.delay(job.pk))
    job.refresh_from_db()
    return bool(retried)


def _queue_again(job: ImportJob) -> int:
    return ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportJob.Status.FAILED, ImportJob.Status.CANCELLED)
    ).update(
        status=ImportJob.Status.QUEUED,
        queued_at=timezone.now(),
        attempts=0,
        checkpoint=0,
        progress=0,
        error_code="",
        error_message="",
        finished_at=None,
        started_at=None,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        counts_by_metric={},
        rejected={},
        rejected_rows=[],
    )


def delete_import(job: ImportJob) -> int:
    """Delete a job with the data it brought and its file; returns how many rows were removed."""
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).active().update(status=ImportJob.Status.CANCELLED, lease_token="")
        removed = discard_data(job)
        job.absolute_path.unlink(missing_ok=True)
        job.delete()
    return removed


def requeue_stalled_imports() -> int:
    """Re-enqueue jobs whose worker died (no heartbeat) or that no worker took; returns how many."""
    from imports.tasks import run_import_task

    stale = timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    requeued = 0
    for job_id in ImportJob.objects.stalled(stale).values_list("pk", flat=True):
        moved = (
            ImportJob.objects.filter(pk=job_id)
            .stalled(stale)
            .update(status=ImportJob.Status.QUEUED, queued_at=timezone.now(), lease_token="")
        )
        if moved:
            run_import_task.delay(job_id)
            requeued += 1
    return requeued


def purge_abandoned_uploads(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete staged files that no job refers to once they are older than `older_than`."""
    root = settings.MEDIA_ROOT / "imports"
    if not root.exists():
        return 0
    referenced = set(ImportJob.objects.values_list("file_path", flat=True))
    limit = time.time() - older_than.total_seconds()
    removed = 0
    for path in root.glob("*/*"):
        relative = str(path.relative_to(settings.MEDIA_ROOT))
        if path.is_file() and relative not in referenced and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def validate_csv(*, user, path: Path, mapping: CsvMapping | None, preset: str = "") -> dict:
    """Run a CSV through its mapping without writing: counts by metric and the rejected rows."""
    parser = CsvParser(
        path,
        zone=user.zone,
        mapping=mapping,
        preset=preset,
        limits=zip_limits(),
        weight_unit="lb" if user.units == "imperial" else "kg",
    )
    by_metric: Counter = Counter()
    error = None
    try:
        for item in parser:
            by_metric[getattr(item, "metric", None) or item.kind] += 1
    except ImportRejected as rejected:
        error = {"code": rejected.code, "message": rejected.reason}
    return {
        "valid": error is None,
        "error": error,
        "counts_by_metric": dict(by_metric),
        "rejected_count": parser.report.rejected_count,
        "rejected_rows": parser.report.rejected_rows,
        "source": parser.source,
        "presets": parser.presets,
    }


def fitting_mappings(*, user, header: list[str]) -> list[dict]:
    """The user's saved mappings that can run on a table with this header, those made for it first."""
    fitting = []
    for saved in SavedMapping.objects.for_user(user):
        try:
            problems = CsvMapping.from_dict(saved.mapping).problems(header)
        except MappingError:
            continue
        if not problems:
            fitting.append(
                {
                    "id": saved.pk,
                    "name": saved.name,
                    "mapping": saved.mapping,
                    "exact": saved.header == header,
                }
            )
    return sorted(fitting, key=lambda found: not found["exact"])
