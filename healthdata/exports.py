"""This app's part of a user's data export and account erasure (hooks called by `users`)."""

from collections.abc import Iterator
from datetime import UTC, timedelta, timezone

from healthdata.metrics import METRICS
from healthdata.models import DailyRollup, Goal, IdempotentRequest, Record, Session


def export_user_data(user, archive) -> None:
    """Records in the canonical CSV the CSV import reads back; sessions and goals as JSON."""
    archive.write_canonical_csv("records.csv", _record_rows(user))
    archive.write_json("sessions.json", list(_sessions(user)))
    archive.write_json(
        "goals.json",
        list(Goal.objects.for_user(user).values("metric", "target", "period", "comparison", "created")),
    )


def erase_user_data(user) -> None:
    for model in (Record, DailyRollup, Session, Goal, IdempotentRequest):
        model.objects.filter(user=user).delete()


def _record_rows(user) -> Iterator[tuple]:
    fields = (
        "start",
        "end",
        "utc_offset_minutes",
        "metric",
        "value",
        "secondary_value",
        "source",
        "source_key",
    )
    records = Record.objects.for_user(user).order_by("start", "id").values_list(*fields)
    for start, end, offset, metric, value, secondary, source, key in records.iterator(chunk_size=5_000):
        zone = timezone(timedelta(minutes=offset)) if offset is not None else UTC
        notes = f"diastolic {secondary:g}" if secondary is not None else ""
        unit = METRICS[metric].unit if metric in METRICS else ""
        yield (start.astimezone(zone), end.astimezone(zone), metric, value, unit, source, key, notes)


def _sessions(user) -> Iterator[dict]:
    fields = ("kind", "source", "activity_type", "start", "end", "duration_minutes", "stages", "values")
    yield from Session.objects.for_user(user).order_by("start").values(*fields).iterator(chunk_size=1_000)
