"""The one way data enters the unified model: validate, convert, score and upsert normalized records.

Preparing (validation, conversion, quality; the rejection rule) is `healthdata.prepare`; writing is
`healthdata.upsert`. `ingest` does both for a batch of records and sessions; `ingest_encoded` writes
a batch that a parser process has already prepared and encoded (imports/pipeline.py). See
docs/data-model.md.
"""

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from healthdata import caching, resolution, rollups, sessions, upsert
from healthdata.copy_encoding import Encoded, encode
from healthdata.metrics import SOURCES
from healthdata.normalized import Origin, RecordIn, SessionIn
from healthdata.prepare import REJECT_REASONS, InvalidRecord, Prepared, Preparer, check_record

__all__ = ["REJECT_REASONS", "IngestResult", "InvalidRecord", "check_record", "ingest", "ingest_encoded"]

CHUNK_SIZE = 10_000


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    by_metric: dict[str, int] = field(default_factory=dict)  # rows created or updated, per metric
    days: set[tuple[str, date]] = field(default_factory=set)  # (metric, local day) touched

    def add(self, other: "IngestResult") -> None:
        """Fold another batch's result into this one."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected = dict(Counter(self.rejected) + Counter(other.rejected))
        self.by_metric = dict(Counter(self.by_metric) + Counter(other.by_metric))
        self.days |= other.days


def ingest(
    *,
    user,
    source: str,
    records: Iterable[RecordIn | SessionIn],
    origin: Origin,
    refresh_rollups: bool = True,
) -> IngestResult:
    """Validate, convert and upsert records and sessions, then refresh the daily rollups they touch."""
    rejected: Counter = Counter()
    if source not in SOURCES:
        rejected["unknown_source"] = sum(1 for _ in records)
        return IngestResult(rejected=dict(rejected))
    plain, session_items = _split(records)
    zone = user.zone
    with transaction.atomic():
        session_result = sessions.write(
            user=user, source=source, sessions=session_items, origin=origin, zone=zone, rejected=rejected
        )
        resolution.link_duplicate_sessions(user, session_result.session_ids)
        batch = upsert.Batch(user.pk, source, origin.kind, origin.id, timezone.now())
        written, accepted = _write_records(batch, [*plain, *session_result.records], zone, rejected)
        result = _result(written, accepted, rejected)
        _count_sessions(result, session_result)
        if refresh_rollups and result.days:
            rollups.refresh(user=user, days=result.days)
    _invalidate_answers(user, result)
    return result


def ingest_encoded(*, user, encoded: Encoded, accepted: int, rejected: Counter) -> IngestResult:
    """Write records that `healthdata.prepare` prepared and `copy_encoding` encoded elsewhere.

    `accepted` and `rejected` are what preparing counted. The caller holds the transaction and
    refreshes the rollups of `result.days` (an import does it once at its end). PostgreSQL only.
    """
    if encoded.batch.user_id != user.pk:
        raise ValueError("The encoded batch belongs to another user.")
    written = upsert.write_encoded(encoded)
    result = _result(written, accepted, rejected)
    _invalidate_answers(user, result)
    return result


def _invalidate_answers(user, result: IngestResult) -> None:
    if result.created or result.updated:
        # Bumped now for reads inside this transaction, and again once committed, so that an answer
        # computed by another process from the old data meanwhile is not served afterwards.
        caching.bump_version(user.pk)
        transaction.on_commit(lambda: caching.bump_version(user.pk))


def _split(items: Iterable[RecordIn | SessionIn]) -> tuple[list[RecordIn], list[SessionIn]]:
    plain, session_items = [], []
    for item in items:
        (session_items if isinstance(item, SessionIn) else plain).append(item)
    return plain, session_items


def _write_records(
    batch: upsert.Batch, records: list[RecordIn], zone: ZoneInfo, rejected: Counter
) -> tuple[upsert.Written, int]:
    """Prepare and write in chunks; a thread prepares the next chunk while the database writes this one.

    Preparing (and on PostgreSQL encoding for COPY) is Python work and writing mostly waiting on
    PostgreSQL, so with a core to spare the two overlap. Only the calling thread touches the
    database connection.
    """
    stage = _Stage(batch, zone)
    if len(records) <= CHUNK_SIZE:  # nothing to overlap: no thread (an import's batches are smaller)
        return stage.write(*stage.prepare(records), rejected)
    chunks = [records[first : first + CHUNK_SIZE] for first in range(0, len(records), CHUNK_SIZE)]
    written, accepted = upsert.Written(), 0
    with ThreadPoolExecutor(max_workers=1) as preparer:
        pending = preparer.submit(stage.prepare, chunks[0])
        for following in [*chunks[1:], None]:
            prepared = pending.result()
            if following is not None:
                pending = preparer.submit(stage.prepare, following)
            chunk_written, chunk_accepted = stage.write(*prepared, rejected)
            written.created.update(chunk_written.created)
            written.updated.update(chunk_written.updated)
            accepted += chunk_accepted
    return written, accepted


class _Stage:
    """Prepare a chunk (and encode it on PostgreSQL) off the connection, then write it on it."""

    def __init__(self, batch: upsert.Batch, zone: ZoneInfo) -> None:
        self.batch = batch
        self.preparer = Preparer(batch.source, zone)
        self.encodes = upsert.takes_encoded()

    def prepare(self, records: list[RecordIn]) -> tuple[Prepared, Encoded | None]:
        prepared = self.preparer.prepare(records)
        return prepared, encode(self.batch, prepared.rows) if self.encodes else None

    def write(
        self, prepared: Prepared, encoded: Encoded | None, rejected: Counter
    ) -> tuple[upsert.Written, int]:
        rejected.update(prepared.rejected)
        if encoded is not None:
            return upsert.write_encoded(encoded), prepared.accepted
        return upsert.write(self.batch, prepared.rows), prepared.accepted


def _result(written: upsert.Written, accepted: int, rejected: Counter) -> IngestResult:
    by_metric: Counter = Counter()
    for (metric, _day), count in (written.created + written.updated).items():
        by_metric[metric] += count
    created, updated = sum(written.created.values()), sum(written.updated.values())
    return IngestResult(
        created=created,
        updated=updated,
        unchanged=accepted - created - updated,
        rejected=dict(rejected),
        by_metric=dict(by_metric),
        days=upsert.days_of(written),
    )


def _count_sessions(result: IngestResult, session_result: "sessions.SessionsWritten") -> None:
    """Sessions count like records; the records derived from them count under their own metrics."""
    result.created += session_result.created
    result.updated += session_result.updated
    result.unchanged += session_result.unchanged
