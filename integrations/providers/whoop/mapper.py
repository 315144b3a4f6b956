"""WHOOP API v2 records -> normalized records.

WHOOP writes UTC timestamps plus the user's `timezone_offset` at the time, energy in kilojoules,
durations in milliseconds, percentages 0-100, HRV as RMSSD in milliseconds and strain 0-21. A
`score` is present only when `score_state` is SCORED. Recoveries have no time of their own: the
client attaches each one to its sleep, and its values are placed at the sleep's end (waking up).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from healthdata.normalized import RecordIn, SessionIn

DEVICE = {"device": "WHOOP", "device_kind": "band"}
SCORED = "SCORED"

SPORTS = {
    "running": "running",
    "cycling": "cycling",
    "walking": "walking",
    "hiking/rucking": "hiking",
    "hiking": "hiking",
    "swimming": "swimming",
    "weightlifting": "strength_training",
    "powerlifting": "strength_training",
    "functional fitness": "functional_training",
    "yoga": "yoga",
    "pilates": "pilates",
    "rowing": "rowing",
    "elliptical": "elliptical",
    "hiit": "hiit",
    "spin": "cycling",
    "meditation": "mind_and_body",
    "stretching": "mind_and_body",
}


def offset_of(value: str | None) -> timezone:
    """`-05:00`, `+01:00` or `Z` -> a fixed offset."""
    if not value or value == "Z":
        return UTC
    sign = -1 if value.startswith("-") else 1
    hours, minutes = value.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def local_time(value: str, offset: str | None) -> datetime:
    """A UTC timestamp shown in the offset the user was in."""
    return datetime.fromisoformat(value).astimezone(offset_of(offset))


def cycle_records(cycle: dict) -> Iterator[RecordIn]:
    """A physiological day -> its strain (an open cycle's strain grows until the cycle ends)."""
    score = cycle.get("score") or {}
    if cycle.get("score_state") != SCORED or score.get("strain") is None:
        return
    start = local_time(cycle["start"], cycle.get("timezone_offset"))
    end = local_time(cycle["end"], cycle.get("timezone_offset")) if cycle.get("end") else None
    yield RecordIn(
        "strain",
        start,
        score["strain"],
        "score",
        end=end,
        source_key=f"cycle:{cycle['id']}:strain",
        metadata={"kilojoule": score.get("kilojoule"), "open": end is None},
        **DEVICE,
    )


RECOVERY_VALUES = [
    ("recovery_score", "recovery_score", "%"),
    ("resting_heart_rate", "resting_heart_rate", "count/min"),
    ("hrv_rmssd", "hrv_rmssd_milli", "ms"),
    ("spo2", "spo2_percentage", "%"),
]


def recovery_records(recovery: dict, when: datetime) -> Iterator[RecordIn]:
    """A scored recovery -> recovery score, resting HR, HRV (RMSSD) and SpO2 at `when`."""
    score = recovery.get("score") or {}
    if recovery.get("score_state") != SCORED:
        return
    key = f"recovery:{recovery['cycle_id']}"
    for metric, field, unit in RECOVERY_VALUES:
        if score.get(field) is not None:
            yield RecordIn(
                metric,
                when,
                score[field],
                unit,
                source_key=f"{key}:{metric}",
                metadata={"user_calibrating": score.get("user_calibrating")},
                **DEVICE,
            )


SLEEP_VALUES = [
    ("time_in_bed", "total_in_bed_time_milli"),
    ("sleep_awake", "total_awake_time_milli"),
    ("sleep_light", "total_light_sleep_time_milli"),
    ("sleep_deep", "total_slow_wave_sleep_time_milli"),
    ("sleep_rem", "total_rem_sleep_time_milli"),
]
SLEEP_VALUES_ASLEEP = (
    "total_light_sleep_time_milli",
    "total_slow_wave_sleep_time_milli",
    "total_rem_sleep_time_milli",
)


def sleep_session(sleep: dict) -> SessionIn:
    offset = sleep.get("timezone_offset")
    score = (sleep.get("score") or {}) if sleep.get("score_state") == SCORED else {}
    summary = score.get("stage_summary") or {}
    values = {
        metric: (summary[field], "ms") for metric, field in SLEEP_VALUES if summary.get(field) is not None
    }
    asleep = [summary.get(field) for field in SLEEP_VALUES_ASLEEP]
    if all(part is not None for part in asleep):
        values["time_asleep"] = (sum(asleep), "ms")
    if score.get("sleep_efficiency_percentage") is not None:
        values["sleep_efficiency"] = (score["sleep_efficiency_percentage"], "%")
    if score.get("sleep_performance_percentage") is not None:
        values["sleep_score"] = (score["sleep_performance_percentage"], "score")
    return SessionIn(
        kind="sleep",
        start=local_time(sleep["start"], offset),
        end=local_time(sleep["end"], offset),
        source_key=f"sleep:{sleep['id']}",
        values=values,
        metadata={"nap": sleep.get("nap"), "score_state": sleep.get("score_state")},
        **DEVICE,
    )


def sleep_records(item: dict) -> Iterator[RecordIn | SessionIn]:
    """A sleep (with its `recovery` attached by the client) -> session, breathing rate, recovery."""
    session = sleep_session(item)
    yield session
    score = item.get("score") or {}
    if item.get("score_state") == SCORED and score.get("respiratory_rate") is not None:
        yield RecordIn(
            "respiratory_rate",
            session.start,
            score["respiratory_rate"],
            "count/min",
            end=session.end,
            source_key=f"sleep:{item['id']}:respiratory_rate",
            **DEVICE,
        )
    if item.get("recovery"):
        yield from recovery_records(item["recovery"], session.end)


def orphan_recovery_records(recovery: dict) -> Iterator[RecordIn]:
    """A recovery whose sleep was not in the fetched window: placed at its creation time (UTC)."""
    yield from recovery_records(recovery, datetime.fromisoformat(recovery["created_at"]))


def workout_session(workout: dict) -> SessionIn:
    offset = workout.get("timezone_offset")
    start, end = local_time(workout["start"], offset), local_time(workout["end"], offset)
    score = (workout.get("score") or {}) if workout.get("score_state") == SCORED else {}
    values: dict[str, tuple[float, str]] = {"workout_duration": ((end - start).total_seconds(), "s")}
    for metric, field, unit in [
        ("active_energy", "kilojoule", "kJ"),
        ("distance", "distance_meter", "m"),
        ("heart_rate", "average_heart_rate", "count/min"),
        ("heart_rate_max", "max_heart_rate", "count/min"),
    ]:
        if score.get(field):
            values[metric] = (score[field], unit)
    sport = (workout.get("sport_name") or "").lower()
    return SessionIn(
        kind="workout",
        start=start,
        end=end,
        source_key=f"workout:{workout['id']}",
        activity_type=SPORTS.get(sport, "other"),
        values=values,
        metadata={"source_type": workout.get("sport_name"), "strain": score.get("strain")},
        **DEVICE,
    )


def workout_records(workout: dict) -> Iterator[SessionIn]:
    yield workout_session(workout)
