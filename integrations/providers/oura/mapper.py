"""Oura API v2 documents -> normalized records.

Oura writes ISO timestamps with the user's local offset (heart-rate samples are UTC), durations in
seconds, energy in kcal, distances in metres and scores 0-100. HRV is RMSSD in milliseconds. A daily
activity document covers 24 hours from 04:00 local, starting at its `timestamp`.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from healthdata.normalized import RecordIn, SessionIn, StageIn

DEVICE = {"device": "Oura Ring", "device_kind": "ring"}
PHASE_SECONDS = 300
SLEEP_PHASES = {"1": "deep", "2": "light", "3": "rem", "4": "awake"}  # sleep_phase_5_min characters
MAIN_SLEEP = "long_sleep"

WORKOUT_ACTIVITIES = {
    "walking": "walking",
    "running": "running",
    "cycling": "cycling",
    "hiking": "hiking",
    "swimming": "swimming",
    "strength_training": "strength_training",
    "weight_lifting": "strength_training",
    "yoga": "yoga",
    "pilates": "pilates",
    "rowing": "rowing",
    "elliptical": "elliptical",
    "hiit": "hiit",
    "crossfit": "functional_training",
    "dancing": "dance",
    "meditation": "mind_and_body",
    "stretching": "mind_and_body",
}


def parse_time(value: str) -> datetime:
    """ISO 8601 with offset (Python 3.11 reads `Z`, fractions and offsets)."""
    return datetime.fromisoformat(value)


def noon(day: str) -> datetime:
    """A value Oura keys by local date only: noon UTC falls on that date for offsets -12h..+11h."""
    return datetime.combine(date.fromisoformat(day), time(12), UTC)


def _start_of(document: dict) -> datetime:
    return parse_time(document["timestamp"]) if document.get("timestamp") else noon(document["day"])


def daily_activity_records(document: dict) -> Iterator[RecordIn]:
    start = _start_of(document)
    end = start + timedelta(days=1)
    key = f"daily_activity:{document['day']}"
    active_seconds = (document.get("medium_activity_time") or 0) + (document.get("high_activity_time") or 0)
    values = [
        ("steps", document.get("steps"), "count"),
        ("active_energy", document.get("active_calories"), "kcal"),
        ("active_minutes", active_seconds, "s"),
    ]
    if document.get("total_calories") is not None and document.get("active_calories") is not None:
        values.append(("basal_energy", document["total_calories"] - document["active_calories"], "kcal"))
    for metric, value, unit in values:
        if value is not None:
            yield RecordIn(metric, start, value, unit, end=end, source_key=f"{key}:{metric}", **DEVICE)


def daily_sleep_records(document: dict) -> Iterator[RecordIn]:
    if document.get("score") is not None:
        yield RecordIn(
            "sleep_score",
            _start_of(document),
            document["score"],
            "score",
            source_key=f"daily_sleep:{document['day']}",
            **DEVICE,
        )


def daily_readiness_records(document: dict) -> Iterator[RecordIn]:
    start = _start_of(document)
    key = f"daily_readiness:{document['day']}"
    if document.get("score") is not None:
        yield RecordIn(
            "readiness_score", start, document["score"], "score", source_key=f"{key}:score", **DEVICE
        )
    if document.get("temperature_deviation") is not None:
        yield RecordIn(
            "skin_temperature_deviation",
            start,
            document["temperature_deviation"],
            "degC",
            source_key=f"{key}:temperature",
            **DEVICE,
        )


def daily_spo2_records(document: dict) -> Iterator[RecordIn]:
    average = (document.get("spo2_percentage") or {}).get("average")
    if average is not None:
        yield RecordIn(
            "spo2", noon(document["day"]), average, "%", source_key=f"daily_spo2:{document['day']}", **DEVICE
        )


def heartrate_records(sample: dict) -> Iterator[RecordIn]:
    when = parse_time(sample["timestamp"])
    key = f"heartrate:{sample.get('timestamp_unix') or int(when.timestamp() * 1000)}"
    yield RecordIn(
        "heart_rate",
        when,
        sample["bpm"],
        "count/min",
        source_key=key,
        metadata={"context": sample.get("source")},
        **DEVICE,
    )


def sleep_stages(document: dict) -> tuple[StageIn, ...]:
    """`sleep_phase_5_min` from `bedtime_start`, one character per 5 minutes, runs merged."""
    phases = document.get("sleep_phase_5_min") or ""
    start = parse_time(document["bedtime_start"])
    end = parse_time(document["bedtime_end"])
    stages: list[StageIn] = []
    for index, phase in enumerate(phases):
        stage = SLEEP_PHASES.get(phase)
        begin = start + timedelta(seconds=index * PHASE_SECONDS)
        finish = min(begin + timedelta(seconds=PHASE_SECONDS), end)
        if stage is None or begin >= end:
            continue
        if stages and stages[-1].stage == stage and stages[-1].end == begin:
            stages[-1] = StageIn(stage, stages[-1].start, finish)
        else:
            stages.append(StageIn(stage, begin, finish))
    return tuple(stages)


SLEEP_VALUES = [
    ("time_in_bed", "time_in_bed", "s"),
    ("time_asleep", "total_sleep_duration", "s"),
    ("sleep_deep", "deep_sleep_duration", "s"),
    ("sleep_light", "light_sleep_duration", "s"),
    ("sleep_rem", "rem_sleep_duration", "s"),
    ("sleep_awake", "awake_time", "s"),
    ("sleep_efficiency", "efficiency", "%"),
    ("heart_rate", "average_heart_rate", "count/min"),
]


def sleep_records(document: dict) -> Iterator[RecordIn | SessionIn]:
    """A sleep period -> the session with stages, plus the night's HRV, breathing and lowest HR."""
    if document.get("type") == "deleted":
        return
    start, end = parse_time(document["bedtime_start"]), parse_time(document["bedtime_end"])
    key = f"sleep:{document['id']}"
    yield SessionIn(
        kind="sleep",
        start=start,
        end=end,
        source_key=key,
        stages=sleep_stages(document),
        values={
            metric: (document[field], unit) for metric, field, unit in SLEEP_VALUES if document.get(field)
        },
        metadata={"type": document.get("type"), "day": document.get("day")},
        **DEVICE,
    )
    night = {"end": end, **DEVICE}
    if document.get("average_hrv") is not None:
        yield RecordIn("hrv_rmssd", start, document["average_hrv"], "ms", source_key=f"{key}:hrv", **night)
    if document.get("average_breath") is not None:
        yield RecordIn(
            "respiratory_rate",
            start,
            document["average_breath"],
            "count/min",
            source_key=f"{key}:breath",
            **night,
        )
    if document.get("type") == MAIN_SLEEP and document.get("lowest_heart_rate") is not None:
        # Readiness has a resting-HR contributor score, not bpm; the night's lowest HR is the value.
        yield RecordIn(
            "resting_heart_rate",
            start,
            document["lowest_heart_rate"],
            "count/min",
            source_key=f"{key}:rhr",
            **night,
        )


def workout_session(document: dict) -> SessionIn:
    start, end = parse_time(document["start_datetime"]), parse_time(document["end_datetime"])
    values: dict[str, tuple[float, str]] = {"workout_duration": ((end - start).total_seconds(), "s")}
    if document.get("calories"):
        values["active_energy"] = (document["calories"], "kcal")
    if document.get("distance"):
        values["distance"] = (document["distance"], "m")
    activity = (document.get("activity") or "").lower()
    return SessionIn(
        kind="workout",
        start=start,
        end=end,
        source_key=f"workout:{document['id']}",
        activity_type=WORKOUT_ACTIVITIES.get(activity, "other"),
        values=values,
        metadata={"source_type": document.get("activity"), "intensity": document.get("intensity")},
        **DEVICE,
    )


def workout_records(document: dict) -> Iterator[SessionIn]:
    yield workout_session(document)
