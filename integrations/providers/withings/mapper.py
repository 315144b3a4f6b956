"""Withings payload items -> normalized records.

Withings sends unix seconds plus the IANA `timezone` of the measurement, measures as scaled integers
(`value * 10**unit`), durations in seconds, energy in kcal and sleep efficiency as a 0-1 ratio.
The client copies the response-level `timezone` into each measure group, so every item carries one.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthdata.normalized import RecordIn, SessionIn, StageIn

# getmeas `type` -> (metric, unit). Types left out (fat mass, pulse wave velocity, ECG intervals,
# segmental values, skin temperature as an absolute value) have no metric in the unified model.
MEASURE_TYPES = {
    1: ("weight", "kg"),
    4: ("height", "m"),
    5: ("lean_mass", "kg"),
    6: ("body_fat", "%"),
    11: ("heart_rate", "count/min"),
    12: ("body_temperature", "degC"),
    54: ("spo2", "%"),
    71: ("body_temperature", "degC"),
    76: ("muscle_mass", "kg"),
    88: ("bone_mass", "kg"),
}
SYSTOLIC, DIASTOLIC, HYDRATION_KG, WEIGHT = 10, 9, 77, 1
AMBIGUOUS_USER = 1  # `attrib` 1: a shared device could not tell who stepped on it
REAL_MEASURES = 1  # `category` 2 holds the user's objectives, not measurements

# getworkouts `category` -> workout type; anything else is "other" with the code kept.
WORKOUT_CATEGORIES = {
    1: "walking",
    2: "running",
    3: "hiking",
    6: "cycling",
    7: "swimming",
    16: "strength_training",
    17: "functional_training",
    18: "elliptical",
    19: "pilates",
    28: "yoga",
    187: "rowing",
    306: "walking",
    307: "running",
    308: "cycling",
    498: "running",
    523: "cycling",
    546: "functional_training",
    550: "hiit",
    551: "mind_and_body",
    552: "mind_and_body",
}

# Sleep high-frequency `state` -> stage; 4 (manual) and 5 (unspecified) carry no stage.
SLEEP_STATES = {0: "awake", 1: "light", 2: "deep", 3: "rem", 15: "awake"}


def zone_of(item: dict) -> tzinfo:
    """The item's IANA zone, UTC when missing or unknown."""
    try:
        return ZoneInfo(item.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def at(epoch: int | str, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(int(epoch), zone)


def measure_value(measure: dict) -> float:
    """Withings scales integers: 80450 with unit -3 is 80.450."""
    return round(measure["value"] * 10 ** measure["unit"], 6)


def device_kind(model: str) -> str:
    name = (model or "").lower()
    if "bpm" in name:
        return "cuff"
    if "body" in name or "scale" in name:
        return "scale"
    if "watch" in name or "move" in name or "pulse" in name:
        return "watch"
    return "other" if name else ""


def measure_group_records(group: dict) -> Iterator[RecordIn]:
    """One getmeas group (measures taken together) -> one record per known measure."""
    if group.get("category", REAL_MEASURES) != REAL_MEASURES or group.get("attrib") == AMBIGUOUS_USER:
        return
    when = at(group["date"], zone_of(group))
    common = {"device": group.get("model") or "", "device_kind": device_kind(group.get("model") or "")}
    measures = {measure["type"]: measure_value(measure) for measure in group["measures"]}
    key = f"meas:{group['grpid']}"
    for measure_type, value in measures.items():
        if measure_type in MEASURE_TYPES:
            metric, unit = MEASURE_TYPES[measure_type]
            yield RecordIn(metric, when, value, unit, source_key=f"{key}:{measure_type}", **common)
    if SYSTOLIC in measures and DIASTOLIC in measures:
        yield RecordIn(
            "blood_pressure",
            when,
            measures[SYSTOLIC],
            "mmHg",
            secondary_value=measures[DIASTOLIC],
            source_key=f"{key}:bp",
            **common,
        )
    if HYDRATION_KG in measures and measures.get(WEIGHT):
        # The unified model keeps body water as a share of weight; Withings reports kilograms.
        share = round(measures[HYDRATION_KG] / measures[WEIGHT] * 100, 2)
        yield RecordIn(
            "body_water",
            when,
            share,
            "%",
            source_key=f"{key}:{HYDRATION_KG}",
            metadata={"hydration_kg": measures[HYDRATION_KG]},
            **common,
        )


def local_day(day: str, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), zone)
    return start, start + timedelta(days=1)


def activity_records(row: dict) -> Iterator[RecordIn]:
    """One getactivity row (one local day) -> the day's totals."""
    start, end = local_day(row["date"], zone_of(row))
    device = str(row.get("model") or "")
    key = f"activity:{row['date']}:{row.get('hash_deviceid') or row.get('brand') or ''}"
    values = [
        ("steps", row.get("steps"), "count"),
        ("distance", row.get("distance"), "m"),
        ("floors_climbed", row.get("elevation"), "count"),
        ("active_minutes", row.get("active"), "s"),
        ("active_energy", row.get("calories"), "kcal"),
    ]
    if row.get("totalcalories") is not None and row.get("calories") is not None:
        values.append(("basal_energy", round(row["totalcalories"] - row["calories"], 3), "kcal"))
    for metric, value, unit in values:
        if value is not None:
            yield RecordIn(metric, start, value, unit, end=end, source_key=f"{key}:{metric}", device=device)


def workout_session(row: dict) -> SessionIn:
    zone = zone_of(row)
    data = row.get("data") or {}
    values: dict[str, tuple[float, str]] = {}
    for metric, field, unit in [
        ("active_energy", "calories", "kcal"),
        ("distance", "distance", "m"),
        ("heart_rate", "hr_average", "count/min"),
        ("heart_rate_max", "hr_max", "count/min"),
    ]:
        if data.get(field):
            values[metric] = (data[field], unit)
    start, end = at(row["startdate"], zone), at(row["enddate"], zone)
    moving_seconds = (end - start).total_seconds() - (data.get("pause_duration") or 0)
    values["workout_duration"] = (moving_seconds, "s")
    return SessionIn(
        kind="workout",
        start=start,
        end=end,
        source_key=f"workout:{row['id']}",
        activity_type=WORKOUT_CATEGORIES.get(row.get("category"), "other"),
        values=values,
        metadata={"source_type": row.get("category"), "steps": data.get("steps")},
    )


def sleep_stages(segments: list[dict], zone: tzinfo) -> tuple[StageIn, ...]:
    """High-frequency sleep segments (`action=get`) -> stages, in time order."""
    stages = [
        StageIn(SLEEP_STATES[segment["state"]], at(segment["startdate"], zone), at(segment["enddate"], zone))
        for segment in segments
        if segment.get("state") in SLEEP_STATES
    ]
    return tuple(sorted(stages, key=lambda stage: stage.start))


SLEEP_VALUES = [
    ("time_in_bed", "total_timeinbed", "s"),
    ("time_asleep", "total_sleep_time", "s"),
    ("sleep_light", "lightsleepduration", "s"),
    ("sleep_deep", "deepsleepduration", "s"),
    ("sleep_rem", "remsleepduration", "s"),
    ("sleep_awake", "wakeupduration", "s"),
    ("sleep_efficiency", "sleep_efficiency", "fraction"),
    ("sleep_score", "sleep_score", "score"),
    ("heart_rate", "hr_average", "count/min"),
]


def sleep_records(row: dict) -> Iterator[RecordIn | SessionIn]:
    """One sleep summary (with the client's `segments` when fetched) -> the session and night values."""
    zone = zone_of(row)
    data = row.get("data") or {}
    start, end = at(row["startdate"], zone), at(row["enddate"], zone)
    values = {
        metric: (data[field], unit) for metric, field, unit in SLEEP_VALUES if data.get(field) is not None
    }
    kind = "other" if row.get("model") == 32 else "watch"  # 32: Sleep Analyzer mat, 16: tracker
    key = f"sleep:{row['id']}"
    yield SessionIn(
        kind="sleep",
        start=start,
        end=end,
        source_key=key,
        device_kind=kind,
        stages=sleep_stages(row.get("segments") or [], zone),
        values=values,
        metadata={"completed": row.get("completed")},
    )
    night = {"end": end, "device_kind": kind}
    if data.get("hr_min"):
        # Withings has no resting-heart-rate field; the night's minimum is the documented stand-in.
        yield RecordIn(
            "resting_heart_rate", start, data["hr_min"], "count/min", source_key=f"{key}:rhr", **night
        )
    rmssd = [data[field] for field in ("rmssd_start_avg", "rmssd_end_avg") if data.get(field) is not None]
    if rmssd:
        # RMSSD averaged over the first and the last part of the night; both kept in metadata.
        yield RecordIn(
            "hrv_rmssd",
            start,
            round(sum(rmssd) / len(rmssd), 2),
            "ms",
            source_key=f"{key}:hrv",
            metadata={"start_avg": data.get("rmssd_start_avg"), "end_avg": data.get("rmssd_end_avg")},
            **night,
        )
    if data.get("rr_average"):
        yield RecordIn(
            "respiratory_rate", start, data["rr_average"], "count/min", source_key=f"{key}:rr", **night
        )
