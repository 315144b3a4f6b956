"""Sleep and workout sessions at ingest: validation, upsert and the daily records derived from them.

A sleep yields time in bed, time asleep, minutes per stage, efficiency and its score; a workout
yields its duration. These derived records carry the session's key plus the metric, so they upsert
like any other record and reach the rollups. Summary values given by the source win over values
computed from stages.
"""

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from healthdata.days import local_day
from healthdata.metrics import METRICS, SESSION_KINDS, SLEEP_STAGE_METRICS, SLEEP_STAGES, WORKOUT_TYPES
from healthdata.models import Session
from healthdata.normalized import Origin, RecordIn, SessionIn
from healthdata.quality import device_kind_of, source_score
from healthdata.units import UnitError, convert

_CONTENT = (
    "kind", "activity_type", "device", "device_kind", "start", "end", "utc_offset_minutes", "local_date",
    "duration_minutes", "stages", "values", "quality", "metadata",
)  # fmt: skip
_ASLEEP = ("light", "deep", "rem", "asleep")


class InvalidSession(ValueError):
    pass


@dataclass
class SessionsWritten:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    session_ids: list[int] = field(default_factory=list)
    records: list[RecordIn] = field(default_factory=list)  # derived, for the record path


def write(
    *, user, source: str, sessions: list[SessionIn], origin: Origin, zone: ZoneInfo, rejected: Counter
) -> SessionsWritten:
    """Upsert valid sessions (the caller holds the transaction) and derive their records."""
    written = SessionsWritten()
    prepared: dict[str, dict] = {}
    for item in sessions:
        try:
            fields = _fields(item, source, zone)
        except InvalidSession:
            rejected["invalid_session"] += 1
            continue
        prepared[fields["source_key"]] = fields
        written.records.extend(_derived_records(item, fields))
    if prepared:
        _upsert(user, source, origin, prepared, written)
    return written


def _fields(item: SessionIn, source: str, zone: ZoneInfo) -> dict:
    if item.kind not in SESSION_KINDS:
        raise InvalidSession(item.kind)
    _check_span(item.start, item.end)
    for stage in item.stages:
        _check_span(stage.start, stage.end)
        if stage.stage not in SLEEP_STAGES:
            raise InvalidSession(stage.stage)
    day, offset = local_day(item.end if item.kind == "sleep" else item.start, zone)
    kind = device_kind_of(source, item.device_kind)
    metadata = dict(item.metadata)
    activity_type = item.activity_type
    if item.kind == "workout" and activity_type not in WORKOUT_TYPES:
        metadata.setdefault("source_type", activity_type)
        activity_type = "other"
    return {
        "source_key": item.source_key or _derived_key(item),
        "kind": item.kind,
        "activity_type": activity_type if item.kind == "workout" else "",
        "device": item.device[:128],
        "device_kind": kind,
        "start": item.start,
        "end": item.end,
        "utc_offset_minutes": offset,
        "local_date": day,
        "duration_minutes": (item.end - item.start).total_seconds() / 60,
        "stages": [
            {"stage": stage.stage, "start": stage.start.isoformat(), "end": stage.end.isoformat()}
            for stage in sorted(item.stages, key=lambda stage: stage.start)
        ],
        "values": _canonical_values(item.values),
        "quality": source_score(kind),
        "metadata": metadata,
    }


def _check_span(start: datetime, end: datetime) -> None:
    if start.utcoffset() is None or end.utcoffset() is None or end < start:
        raise InvalidSession("span")


def _canonical_values(values: dict[str, tuple[float, str]]) -> dict[str, float]:
    canonical = {}
    for code, (value, unit) in values.items():
        metric = METRICS.get(code)
        try:
            number = convert(code, float(value), unit)
        except (UnitError, TypeError, ValueError) as error:
            raise InvalidSession(code) from error
        low, high = metric.plausible
        if not math.isfinite(number) or not low <= number <= high:
            raise InvalidSession(code)
        canonical[code] = round(number, 6)
    return canonical


def _derived_key(item: SessionIn) -> str:
    identity = (
        f"{item.kind}|{item.start.isoformat()}|{item.end.isoformat()}|{item.activity_type}|{item.device}"
    )
    return hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()


def _derived_records(item: SessionIn, fields: dict) -> list[RecordIn]:
    if item.kind == "workout":
        minutes = fields["values"].get("workout_duration", fields["duration_minutes"])
        amounts = {"workout_duration": minutes}
    else:
        amounts = _sleep_amounts(item, fields)
    records = []
    for code, value in amounts.items():
        instant = code == "sleep_score"  # a score belongs to the morning the sleep ends
        records.append(
            RecordIn(
                metric=code,
                start=item.end if instant else item.start,
                end=item.end,
                value=value,
                unit=METRICS[code].unit,
                source_key=f"{fields['source_key']}:{code}",
                device=item.device,
                device_kind=item.device_kind,
            )
        )
    return records


def _sleep_amounts(item: SessionIn, fields: dict) -> dict[str, float]:
    minutes: Counter = Counter()
    for stage in item.stages:
        minutes[stage.stage] += (stage.end - stage.start).total_seconds() / 60
    amounts = {"time_in_bed": fields["duration_minutes"]}
    if item.stages:
        amounts["time_asleep"] = sum(minutes[stage] for stage in _ASLEEP)
    for stage, code in SLEEP_STAGE_METRICS.items():
        if minutes[stage]:
            amounts[code] = minutes[stage]
    amounts.update(
        {code: value for code, value in fields["values"].items() if METRICS[code].category == "sleep"}
    )
    if "sleep_efficiency" not in amounts and "time_asleep" in amounts and amounts["time_in_bed"]:
        amounts["sleep_efficiency"] = min(100.0, 100 * amounts["time_asleep"] / amounts["time_in_bed"])
    return {code: round(value, 4) for code, value in amounts.items()}


def _upsert(user, source: str, origin: Origin, prepared: dict[str, dict], written: SessionsWritten) -> None:
    _take_turns(user, source)
    existing = {
        session.source_key: session
        for session in Session.objects.for_user(user).filter(source=source, source_key__in=list(prepared))
    }
    new, changed = [], []
    now = timezone.now()
    for key, fields in prepared.items():
        session = existing.get(key)
        if session is None:
            new.append(
                Session(user=user, source=source, origin_kind=origin.kind, origin_id=origin.id, **fields)
            )
        elif _content(session) != _content_of(fields):
            for name in _CONTENT:
                setattr(session, name, fields[name])
            session.updated = now
            changed.append(session)
        else:
            written.unchanged += 1
    Session.objects.bulk_create(new)
    Session.objects.bulk_update(changed, [*_CONTENT, "updated"])
    written.created, written.updated = len(new), len(changed)
    written.session_ids = [session.pk for session in (*new, *changed)]


def _take_turns(user, source: str) -> None:
    """Writers of one user's sessions from one source go one at a time until their commit.

    The upsert above reads, then inserts: two overlapping syncs (a lease outlived) or imports
    would otherwise both insert the same session and one would fail on the unique key.
    SQLite already runs one writer at a time.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        key = f"sessions:{user.pk}:{source}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def _content(session: Session) -> tuple:
    return tuple(_in_utc(getattr(session, name)) for name in _CONTENT)


def _content_of(fields: dict) -> tuple:
    return tuple(_in_utc(fields[name]) for name in _CONTENT)


def _in_utc(value):
    """Aware times compared in UTC: one in a repeated hour never equals one in another zone."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value
