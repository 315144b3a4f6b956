"""Google Health API v4 data points (the Fitbit data source) -> normalized records.

Units are fixed whatever the user's display settings: distances in millimetres, weight in grams,
energy kcal, heart rate bpm, HRV (RMSSD) ms, percentages 0-100. int64 values arrive as JSON strings.
Instants are UTC with the record's own offset beside them (`"3600s"`); daily types carry a civil
date only, placed on the user's day with the time zone the client attaches as `timeZone` (noon UTC
when it is unknown, which lands on that date for offsets -12h..+11h).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthdata.normalized import RecordIn, SessionIn, StageIn

PHONE_STORES = {"HEALTH_CONNECT", "HEALTH_KIT"}  # round trips of data Apple Health imports bring directly

SLEEP_STAGES = {
    "AWAKE": "awake",
    "RESTLESS": "awake",
    "LIGHT": "light",
    "DEEP": "deep",
    "REM": "rem",
    "ASLEEP": "asleep",
}
STAGE_METRICS = {"AWAKE": "sleep_awake", "LIGHT": "sleep_light", "DEEP": "sleep_deep", "REM": "sleep_rem"}

EXERCISE_TYPES = {
    "WALKING": "walking",
    "RUNNING": "running",
    "TREADMILL": "running",
    "HIKING": "hiking",
    "BIKING": "cycling",
    "BIKING_STATIONARY": "cycling",
    "SPINNING": "cycling",
    "SWIMMING_POOL": "swimming",
    "SWIMMING_OPEN_WATER": "swimming",
    "STRENGTH_TRAINING": "strength_training",
    "WEIGHTLIFTING": "strength_training",
    "YOGA": "yoga",
    "PILATES": "pilates",
    "HIIT": "hiit",
    "ROWING_MACHINE": "rowing",
    "ROWING": "rowing",
    "ELLIPTICAL": "elliptical",
    "CROSSFIT": "functional_training",
    "MEDITATION": "mind_and_body",
    "STRETCHING": "mind_and_body",
}


def number(value: str | float | int | None) -> float | None:
    """int64 fields come as strings, doubles as numbers."""
    return None if value is None or value == "" else float(value)


def seconds(value: str | None) -> float:
    """Durations and offsets are strings like `"3600s"` or `"-14400s"`."""
    return float(value.rstrip("s")) if value else 0.0


def offset(value: str | None) -> timezone:
    return timezone(timedelta(seconds=seconds(value)))


def instant(value: str, utc_offset: str | None = None) -> datetime:
    return datetime.fromisoformat(value).astimezone(offset(utc_offset))


def zone_of(item: dict) -> tzinfo | None:
    try:
        return ZoneInfo(item["timeZone"]) if item.get("timeZone") else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def civil_date(value: dict) -> date:
    return date(value["year"], value["month"], value["day"])


def day_span(day: date, zone: tzinfo | None) -> tuple[datetime, datetime | None]:
    """A civil day -> [local midnight, next midnight), or noon UTC when the zone is unknown."""
    if zone is None:
        return datetime.combine(day, time(12), UTC), None
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def point_id(point: dict) -> str:
    """Identifiable points have `name` (`users/…/dataPoints/<id>`); its last segment is stable."""
    return (point.get("name") or point.get("dataPointName") or "").rsplit("/", 1)[-1]


def is_phone_store(point: dict) -> bool:
    return (point.get("dataSource") or {}).get("platform") in PHONE_STORES


def device_of(point: dict) -> dict:
    source = point.get("dataSource") or {}
    device = source.get("device") or {}
    if source.get("recordingMethod") == "MANUAL":
        return {"device": "", "device_kind": "manual"}
    kind = {"SCALE": "scale", "FITNESS_BAND": "band", "WATCH": "watch", "PHONE": "phone"}
    return {"device": device.get("displayName") or "", "device_kind": kind.get(device.get("formFactor"), "")}


# dailyRollUp results: data type -> (value key, field, metric, factor, unit)
DAILY_ROLLUPS = {
    "steps": ("steps", "countSum", "steps", 1, "count"),
    "distance": ("distance", "millimetersSum", "distance", 0.001, "m"),
    "floors": ("floors", "countSum", "floors_climbed", 1, "count"),
}
ZONE_SUMS = ("sumInFatBurnHeartZone", "sumInCardioHeartZone", "sumInPeakHeartZone")


def daily_rollup_records(data_type: str, point: dict) -> Iterator[RecordIn]:
    """One civil day of a dailyRollUp -> that day's total."""
    day = civil_date(point["civilStartTime"]["date"])
    start, end = day_span(day, zone_of(point))
    key = f"{data_type}:{day.isoformat()}"
    if data_type == "active-zone-minutes":
        sums = point.get("activeZoneMinutes") or {}
        minutes = sum(number(sums.get(field)) or 0 for field in ZONE_SUMS)
        yield RecordIn("active_minutes", start, minutes, "min", end=end, source_key=key)
        return
    value_key, field, metric, factor, unit = DAILY_ROLLUPS[data_type]
    value = number((point.get(value_key) or {}).get(field))
    if value is not None:
        yield RecordIn(metric, start, round(value * factor, 3), unit, end=end, source_key=key)


def heart_rate_rollup_records(point: dict) -> Iterator[RecordIn]:
    """An hourly heart-rate rollUp window -> its mean; windows without wear are absent."""
    average = number((point.get("heartRate") or {}).get("beatsPerMinuteAvg"))
    if average is None:
        return
    zone = zone_of(point) or UTC
    start = datetime.fromisoformat(point["startTime"]).astimezone(zone)
    end = datetime.fromisoformat(point["endTime"]).astimezone(zone)
    extremes = point["heartRate"]
    yield RecordIn(
        "heart_rate",
        start,
        round(average, 2),
        "count/min",
        end=end,
        source_key=f"heart-rate:{point['startTime']}",
        metadata={
            "min": number(extremes.get("beatsPerMinuteMin")),
            "max": number(extremes.get("beatsPerMinuteMax")),
        },
    )


# Daily list types: data type -> (value key, [(field, metric, unit)])
DAILY_TYPES = {
    "daily-resting-heart-rate": (
        "dailyRestingHeartRate",
        [("beatsPerMinute", "resting_heart_rate", "count/min")],
    ),
    "daily-heart-rate-variability": (
        "dailyHeartRateVariability",
        [("averageHeartRateVariabilityMilliseconds", "hrv_rmssd", "ms")],
    ),
    "daily-oxygen-saturation": ("dailyOxygenSaturation", [("averagePercentage", "spo2", "%")]),
    "daily-respiratory-rate": (
        "dailyRespiratoryRate",
        [("breathsPerMinute", "respiratory_rate", "count/min")],
    ),
}


def daily_records(data_type: str, point: dict) -> Iterator[RecordIn]:
    """A daily data point (a civil date, no time) -> the day's value."""
    if is_phone_store(point):
        return
    if data_type == "daily-sleep-temperature-derivations":
        yield from temperature_records(point)
        return
    value_key, fields = DAILY_TYPES[data_type]
    body = point.get(value_key) or {}
    day = civil_date(body["date"])
    start, _end = day_span(day, zone_of(point))
    for field, metric, unit in fields:
        value = number(body.get(field))
        if value is not None:
            yield RecordIn(
                metric, start, value, unit, source_key=f"{data_type}:{day.isoformat()}", **device_of(point)
            )


def temperature_records(point: dict) -> Iterator[RecordIn]:
    """Nightly skin temperature minus the personal baseline -> the deviation Oura and WHOOP also report."""
    body = point.get("dailySleepTemperatureDerivations") or {}
    nightly = number(body.get("nightlyTemperatureCelsius"))
    baseline = number(body.get("baselineTemperatureCelsius"))
    if nightly is None or baseline is None:
        return
    day = civil_date(body["date"])
    start, _end = day_span(day, zone_of(point))
    yield RecordIn(
        "skin_temperature_deviation",
        start,
        round(nightly - baseline, 3),
        "degC",
        source_key=f"daily-sleep-temperature-derivations:{day.isoformat()}",
        metadata={"nightly_celsius": nightly, "baseline_celsius": baseline},
        **device_of(point),
    )


SAMPLE_TYPES = {
    "weight": ("weight", "weightGrams", "weight", "g"),
    "body-fat": ("bodyFat", "percentage", "body_fat", "%"),
}


def sample_records(data_type: str, point: dict) -> Iterator[RecordIn]:
    """A weight or body-fat sample (identifiable: keyed by its name)."""
    if is_phone_store(point):
        return
    value_key, field, metric, unit = SAMPLE_TYPES[data_type]
    body = point.get(value_key) or {}
    value = number(body.get(field))
    if value is None:
        return
    sample_time = body["sampleTime"]
    when = instant(sample_time["physicalTime"], sample_time.get("utcOffset"))
    key = f"{data_type}:{point_id(point) or sample_time['physicalTime']}"
    yield RecordIn(metric, when, value, unit, source_key=key, **device_of(point))


def sleep_stages(sleep: dict) -> tuple[StageIn, ...]:
    return tuple(
        StageIn(
            SLEEP_STAGES[stage["type"]],
            instant(stage["startTime"], stage.get("startUtcOffset")),
            instant(stage["endTime"], stage.get("endUtcOffset")),
        )
        for stage in sleep.get("stages") or []
        if stage.get("type") in SLEEP_STAGES
    )


def sleep_records(point: dict) -> Iterator[SessionIn]:
    """A sleep session with stages; summary minutes become the night's values."""
    sleep = point.get("sleep") or {}
    interval = sleep["interval"]
    start = instant(interval["startTime"], interval.get("startUtcOffset"))
    end = instant(interval["endTime"], interval.get("endUtcOffset"))
    summary = sleep.get("summary") or {}
    values: dict[str, tuple[float, str]] = {}
    for metric, field in [
        ("time_in_bed", "minutesInSleepPeriod"),
        ("time_asleep", "minutesAsleep"),
        ("sleep_awake", "minutesAwake"),
    ]:
        if number(summary.get(field)) is not None:
            values[metric] = (number(summary[field]), "min")
    for stage in summary.get("stagesSummary") or []:
        if stage.get("type") in STAGE_METRICS and number(stage.get("minutes")) is not None:
            values[STAGE_METRICS[stage["type"]]] = (number(stage["minutes"]), "min")
    if values.get("time_asleep") and values.get("time_in_bed") and values["time_in_bed"][0] > 0:
        # The API has no efficiency field; Fitbit defined it as asleep / in the sleep period.
        values["sleep_efficiency"] = (
            round(values["time_asleep"][0] / values["time_in_bed"][0] * 100, 1),
            "%",
        )
    metadata = sleep.get("metadata") or {}
    yield SessionIn(
        kind="sleep",
        start=start,
        end=end,
        source_key=f"sleep:{point_id(point) or interval['startTime']}",
        stages=sleep_stages(sleep),
        values=values,
        metadata={
            "type": sleep.get("type"),
            "processed": metadata.get("processed"),
            "nap": metadata.get("nap"),
        },
        **device_of(point),
    )


def exercise_records(point: dict) -> Iterator[SessionIn]:
    exercise = point.get("exercise") or {}
    interval = exercise["interval"]
    start = instant(interval["startTime"], interval.get("startUtcOffset"))
    end = instant(interval["endTime"], interval.get("endUtcOffset"))
    summary = exercise.get("metricsSummary") or {}
    distance_mm = number(summary.get("distanceMillimeters", summary.get("distanceMillimiters")))
    values: dict[str, tuple[float, str]] = {}
    if exercise.get("activeDuration"):
        values["workout_duration"] = (seconds(exercise["activeDuration"]), "s")
    if number(summary.get("caloriesKcal")):
        values["active_energy"] = (number(summary["caloriesKcal"]), "kcal")
    if distance_mm:
        values["distance"] = (round(distance_mm / 1000, 3), "m")
    if number(summary.get("averageHeartRateBeatsPerMinute")):
        values["heart_rate"] = (number(summary["averageHeartRateBeatsPerMinute"]), "count/min")
    exercise_type = exercise.get("exerciseType") or ""
    yield SessionIn(
        kind="workout",
        start=start,
        end=end,
        source_key=f"exercise:{point_id(point) or interval['startTime']}",
        activity_type=EXERCISE_TYPES.get(exercise_type, "other"),
        values=values,
        metadata={"source_type": exercise_type, "name": exercise.get("displayName")},
        **device_of(point),
    )
