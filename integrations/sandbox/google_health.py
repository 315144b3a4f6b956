"""Google Health API v4 data points for the `fitbit` sandbox: data types, filters, roll-ups, signing.

The views live in `integrations/providers/fitbit/sandbox.py`; this module holds the wire format of
the data itself (see ../shared/providers/google_health.md sections 4-6 and 8).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from integrations.sandbox import generator, state
from integrations.sandbox.catalog import Item
from integrations.sandbox.endpoints import iso_utc
from integrations.sandbox.generator import Day, stable_int

PROVIDER = "fitbit"
SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth"
ACTIVITY = f"{SCOPE_PREFIX}.activity_and_fitness.readonly"
METRICS = f"{SCOPE_PREFIX}.health_metrics_and_measurements.readonly"
SLEEP = f"{SCOPE_PREFIX}.sleep.readonly"
SETTINGS = f"{SCOPE_PREFIX}.settings.readonly"
PROFILE = f"{SCOPE_PREFIX}.profile.readonly"
DEVICE = {"displayName": "Charge 6", "formFactor": "FITNESS_BAND"}


class GoogleError(Exception):
    """A google.rpc.Status error: HTTP `code`, canonical `status`, ErrorInfo `reason`."""

    def __init__(self, code: int, status: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.reason = code, status, message, reason

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "health.googleapis.com",
                    "metadata": {"service": "health.googleapis.com"},
                }
            ]
        return {"error": error}


def invalid(reason: str, message: str = "Request contains an invalid argument.") -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message, reason)


# --- Time containers -----------------------------------------------------------------------------
def seconds_text(delta: timedelta | None) -> str:
    return f"{int((delta or timedelta(0)).total_seconds())}s"


def civil(moment: datetime) -> dict:
    """`{"date": {...}, "time": {...}}` with zero members omitted, as Google writes civil times."""
    clock = {}
    if moment.hour:
        clock["hours"] = moment.hour
    if moment.minute:
        clock["minutes"] = moment.minute
    if moment.second:
        clock["seconds"] = moment.second
    return {"date": {"year": moment.year, "month": moment.month, "day": moment.day}, "time": clock}


def civil_date(moment: datetime) -> dict:
    return {"year": moment.year, "month": moment.month, "day": moment.day}


def interval(
    start: datetime, end: datetime, zone, with_civil: bool = True, offset: timedelta | None = None
) -> dict:
    """An interval; `offset` (the zone's offset when it is fixed all day) spares the zone lookups."""
    if offset is None:
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    else:
        local_start, local_end = start + offset, end + offset  # wall-clock fields only
    body = {
        "startTime": iso_utc(start),
        "startUtcOffset": seconds_text(offset if offset is not None else local_start.utcoffset()),
        "endTime": iso_utc(end),
        "endUtcOffset": seconds_text(offset if offset is not None else local_end.utcoffset()),
    }
    if with_civil:
        body |= {"civilStartTime": civil(local_start), "civilEndTime": civil(local_end)}
    return body


def sample_time(moment: datetime, zone, offset: timedelta | None = None) -> dict:
    """A sample's time; `offset` (the zone's offset when it is fixed all day) spares a zone lookup."""
    if offset is None:
        local = moment.astimezone(zone)
        offset = local.utcoffset()
    else:
        local = moment + offset  # wall-clock fields only
    return {"physicalTime": iso_utc(moment), "utcOffset": seconds_text(offset), "civilTime": civil(local)}


def fixed_offset(d: Day) -> timedelta | None:
    """The day's UTC offset when it does not change that day (no DST switch)."""
    start, end = d.start.utcoffset(), d.end.utcoffset()
    return start if start == end else None


# Shared by every point (payloads are never mutated), which keeps millions of points cheap.
DATA_SOURCES = {
    method: {"recordingMethod": method, "device": DEVICE, "platform": "FITBIT"}
    for method in ("PASSIVELY_MEASURED", "DERIVED", "MANUAL")
}


def point(value_key: str, value: dict, *, name: str = "", method: str = "PASSIVELY_MEASURED") -> dict:
    if name:
        return {"name": name, "dataSource": DATA_SOURCES[method], value_key: value}
    return {"dataSource": DATA_SOURCES[method], value_key: value}


def point_name(d: Day, data_type: str, index: int = 0) -> str:
    number = stable_int(PROVIDER, d.account, data_type, d.day.isoformat(), index, digits=19)
    return f"users/{health_user_id(d.account)}/dataTypes/{data_type}/dataPoints/{number}"


def health_user_id(account: str) -> str:
    return str(stable_int(PROVIDER, account, digits=19))


# --- Data types ----------------------------------------------------------------------------------
def steps(d: Day) -> list[Item]:
    offset = fixed_offset(d)
    return [
        Item(start, partial(_interval_point, "steps", start, end, d.zone, offset, "count", str(count)))
        for start, end, count in generator.step_intervals(d)
    ]


def _interval_point(key: str, start: datetime, end: datetime, zone, offset, field: str, value: str) -> dict:
    return point(key, {"interval": interval(start, end, zone, offset=offset), field: value})


def distance(d: Day) -> list[Item]:
    total_mm = round(d.distance_m * 1000)
    items, written = [], 0
    intervals, offset = generator.step_intervals(d), fixed_offset(d)
    for index, (start, end, count) in enumerate(intervals):
        last = index == len(intervals) - 1
        millimeters = total_mm - written if last else total_mm * count // max(d.steps, 1)
        written += millimeters
        content = partial(
            _interval_point, "distance", start, end, d.zone, offset, "millimeters", str(millimeters)
        )
        items.append(Item(start, content))
    return items


def floors(d: Day) -> list[Item]:
    start, end = d.at(7).astimezone(UTC), d.at(22).astimezone(UTC)
    return [Item(start, point("floors", {"interval": interval(start, end, d.zone), "count": str(d.floors)}))]


def total_calories(d: Day) -> list[Item]:
    start, end = d.start.astimezone(UTC), d.end.astimezone(UTC)
    return [
        Item(start, point("totalCalories", {"interval": interval(start, end, d.zone), "kcal": d.total_kcal}))
    ]


def active_zone_minutes(d: Day) -> list[Item]:
    items = []
    for w in d.workouts:
        start = w.start.astimezone(UTC)
        value = {
            "interval": interval(start, w.end.astimezone(UTC), d.zone),
            "activeZoneMinutes": str(w.duration_seconds // 120),
            "heartRateZone": "CARDIO",
        }
        items.append(Item(start, point("activeZoneMinutes", value)))
    return items


def heart_rate(d: Day) -> list[Item]:
    offset = fixed_offset(d)
    return [
        Item(moment, partial(_heart_point, moment, d.zone, offset, bpm))
        for moment, bpm in generator.heart_samples(d)
    ]


def _heart_point(moment: datetime, zone, offset, bpm: int) -> dict:
    return point("heartRate", {"sampleTime": sample_time(moment, zone, offset), "beatsPerMinute": str(bpm)})


def heart_rate_variability(d: Day) -> list[Item]:
    night, items = d.sleep, []
    moment = night.start.astimezone(UTC)
    while moment < night.end:
        value = {
            "sampleTime": sample_time(moment, d.zone),
            "rootMeanSquareOfSuccessiveDifferencesMilliseconds": float(night.average_hrv),
            "standardDeviationMilliseconds": float(night.average_hrv + 8),
        }
        items.append(Item(moment, point("heartRateVariability", value)))
        moment += timedelta(minutes=30)
    return items


def _daily(value_key: str, build: Callable[[Day], dict]) -> Callable[[Day], list[Item]]:
    def items(d: Day) -> list[Item]:
        value = {"date": civil_date(d.start), **build(d)}
        return [Item(d.start, point(value_key, value, method="DERIVED"))]

    return items


def sleep(d: Day) -> list[Item]:
    night = d.sleep
    stages = [
        interval(s.start, s.end, d.zone, with_civil=False) | {"type": s.kind.upper()} for s in night.stages
    ]
    minutes = {kind: night.seconds_in(kind) // 60 for kind in ("awake", "light", "deep", "rem")}
    counts = {kind: sum(1 for s in night.stages if s.kind == kind) for kind in minutes}
    created = night.end.astimezone(UTC) + timedelta(minutes=20)
    value = {
        "interval": interval(night.start, night.end, d.zone, with_civil=False),
        "type": "STAGES",
        "stages": stages,
        "shortAwakenings": _short_awakenings(night, d.zone),
        "metadata": {"stagesStatus": "SUCCEEDED", "processed": True, "mainSleep": True},
        "summary": {
            "minutesInSleepPeriod": str(night.in_bed_seconds // 60),
            "minutesAsleep": str(night.asleep_seconds // 60),
            "minutesAwake": str(minutes["awake"]),
            "minutesToFallAsleep": str(night.latency_seconds // 60),
            "minutesAfterWakeUp": "0",
            "stagesSummary": [
                {"type": kind.upper(), "minutes": str(minutes[kind]), "count": str(counts[kind])}
                for kind in minutes
            ],
        },
        "createTime": created.isoformat().replace("+00:00", "Z"),
        "updateTime": (created + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
    }
    return [
        Item(night.end.astimezone(UTC), point("sleep", value, name=point_name(d, "sleep"), method="DERIVED"))
    ]


def _short_awakenings(night, zone) -> list[dict]:
    """A one-minute awakening inside each deep stage; they overlap the stages, as Google's do."""
    return [
        interval(s.start + timedelta(minutes=5), s.start + timedelta(minutes=6), zone, with_civil=False)
        | {"type": "AWAKE"}
        for s in night.stages
        if s.kind == "deep"
    ]


EXERCISE_TYPES = {
    "running": "RUNNING",
    "cycling": "BIKING",
    "walking": "WALKING",
    "strength": "STRENGTH_TRAINING",
    "yoga": "YOGA",
    "swimming": "SWIMMING_POOL",
    "hiking": "HIKING",
}


def exercise(d: Day) -> list[Item]:
    items = []
    for w in d.workouts:
        start, end = w.start.astimezone(UTC), w.end.astimezone(UTC)
        offset = seconds_text(w.start.utcoffset())
        value = {
            "interval": interval(start, end, d.zone, with_civil=False),
            "exerciseType": EXERCISE_TYPES[w.sport],
            "displayName": w.sport.title(),
            "activeDuration": f"{w.duration_seconds}s",
            "metricsSummary": {
                "caloriesKcal": w.kcal,
                "distanceMillimeters": w.distance_m * 1000,
                "averageHeartRateBeatsPerMinute": str(w.average_heart_rate),
                "activeZoneMinutes": str(w.duration_seconds // 120),
                "heartRateZoneDurations": _zone_durations(w.duration_seconds),
                **_moving_metrics(w),
            },
            "exerciseMetadata": {"hasGps": w.distance_m > 0},
            "exerciseEvents": [
                {"eventTime": iso_utc(start), "eventUtcOffset": offset, "exerciseEventType": "START"},
                {"eventTime": iso_utc(end), "eventUtcOffset": offset, "exerciseEventType": "STOP"},
            ],
            "createTime": iso_utc(end + timedelta(minutes=5)),
            "updateTime": iso_utc(end + timedelta(minutes=5)),
        }
        items.append(Item(start, point("exercise", value, name=point_name(d, "exercise", w.index))))
    return items


def _zone_durations(seconds: int) -> dict:
    shares = {"lightTime": 0.2, "moderateTime": 0.35, "vigorousTime": 0.35, "peakTime": 0.1}
    return {name: f"{int(seconds * share)}s" for name, share in shares.items()}


def _moving_metrics(w) -> dict:
    """Steps and pace for workouts on foot; distance-less workouts have neither."""
    if not w.distance_m:
        return {}
    metrics = {"averagePaceSecondsPerMeter": round(w.duration_seconds / w.distance_m, 4)}
    if w.sport in {"running", "walking", "hiking"}:
        metrics["steps"] = str(round(w.distance_m / 0.8))
    return metrics


def weight(d: Day) -> list[Item]:
    if d.weigh_in is None:
        return []
    moment = d.weigh_in.at.astimezone(UTC)
    value = {"sampleTime": sample_time(moment, d.zone), "weightGrams": round(d.weigh_in.weight_kg * 1000, 1)}
    return [Item(moment, point("weight", value, name=point_name(d, "weight")))]


def body_fat(d: Day) -> list[Item]:
    if d.weigh_in is None:
        return []
    moment = d.weigh_in.at.astimezone(UTC)
    value = {"sampleTime": sample_time(moment, d.zone), "percentage": d.weigh_in.fat_percent}
    return [Item(moment, point("bodyFat", value, name=point_name(d, "body-fat")))]


@dataclass(frozen=True)
class DataType:
    build: Callable[[Day], list[Item]]
    kind: str  # interval | sample | daily | session
    scope: str
    value_key: str
    listable: bool = True
    rollup_max_days: int = 90
    rollup: Callable[[list[Item]], dict] | None = None  # items of one window -> the rolled-up value


def _sum(field: str, out: str, *, as_text: bool = True) -> Callable[[list[Item]], dict]:
    def total(items: list[Item]) -> dict:
        value_key = next(iter(set(items[0].payload) - {"dataSource", "name"}))
        amount = sum(float(item.payload[value_key][field]) for item in items)
        return {out: str(round(amount)) if as_text else round(amount, 1)}

    return total


def _heart_rollup(items: list[Item]) -> dict:
    values = [int(item.payload["heartRate"]["beatsPerMinute"]) for item in items]
    return {
        "beatsPerMinuteMin": min(values),
        "beatsPerMinuteAvg": round(sum(values) / len(values), 1),
        "beatsPerMinuteMax": max(values),
    }


def _average(field: str, out: str) -> Callable[[list[Item]], dict]:
    def mean(items: list[Item]) -> dict:
        value_key = next(iter(set(items[0].payload) - {"dataSource", "name"}))
        return {out: round(sum(item.payload[value_key][field] for item in items) / len(items), 2)}

    return mean


DATA_TYPES: dict[str, DataType] = {
    "steps": DataType(steps, "interval", ACTIVITY, "steps", rollup=_sum("count", "countSum")),
    "distance": DataType(
        distance, "interval", ACTIVITY, "distance", rollup=_sum("millimeters", "millimetersSum")
    ),
    "floors": DataType(
        floors, "interval", ACTIVITY, "floors", listable=False, rollup=_sum("count", "countSum")
    ),
    "total-calories": DataType(
        total_calories,
        "interval",
        ACTIVITY,
        "totalCalories",
        listable=False,
        rollup_max_days=14,
        rollup=_sum("kcal", "kcalSum", as_text=False),
    ),
    "active-zone-minutes": DataType(
        active_zone_minutes,
        "interval",
        ACTIVITY,
        "activeZoneMinutes",
        rollup=_sum("activeZoneMinutes", "sumInCardioHeartZone"),
    ),
    "heart-rate": DataType(
        heart_rate, "sample", METRICS, "heartRate", rollup_max_days=14, rollup=_heart_rollup
    ),
    "heart-rate-variability": DataType(heart_rate_variability, "sample", METRICS, "heartRateVariability"),
    "daily-resting-heart-rate": DataType(
        _daily(
            "dailyRestingHeartRate",
            lambda d: {
                "beatsPerMinute": str(d.resting_heart_rate),
                "dailyRestingHeartRateMetadata": {"calculationMethod": "WITH_SLEEP"},
            },
        ),
        "daily",
        METRICS,
        "dailyRestingHeartRate",
    ),
    "daily-heart-rate-variability": DataType(
        _daily(
            "dailyHeartRateVariability",
            lambda d: {
                "averageHeartRateVariabilityMilliseconds": float(d.hrv_rmssd),
                "deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds": float(d.hrv_rmssd - 3),
                "nonRemHeartRateBeatsPerMinute": str(d.resting_heart_rate + 2),
                "entropy": 2.9,
            },
        ),
        "daily",
        METRICS,
        "dailyHeartRateVariability",
    ),
    "daily-oxygen-saturation": DataType(
        _daily(
            "dailyOxygenSaturation",
            lambda d: {
                "averagePercentage": d.spo2_percent,
                "lowerBoundPercentage": round(d.spo2_percent - 2.5, 1),
                "upperBoundPercentage": min(100.0, round(d.spo2_percent + 1.5, 1)),
            },
        ),
        "daily",
        METRICS,
        "dailyOxygenSaturation",
    ),
    "daily-respiratory-rate": DataType(
        _daily("dailyRespiratoryRate", lambda d: {"breathsPerMinute": d.respiratory_rate}),
        "daily",
        METRICS,
        "dailyRespiratoryRate",
    ),
    "daily-sleep-temperature-derivations": DataType(
        _daily(
            "dailySleepTemperatureDerivations",
            lambda d: {
                "nightlyTemperatureCelsius": round(33.6 + d.temperature_deviation, 2),
                "baselineTemperatureCelsius": 33.6,
                "relativeNightlyStddev30dCelsius": 0.3,
            },
        ),
        "daily",
        METRICS,
        "dailySleepTemperatureDerivations",
    ),
    "daily-vo2-max": DataType(
        _daily("dailyVo2Max", lambda d: {"vo2Max": 40.0 + d.hrv_rmssd % 8, "cardioFitnessLevel": "GOOD"}),
        "daily",
        ACTIVITY,
        "dailyVo2Max",
    ),
    "sleep": DataType(sleep, "session", SLEEP, "sleep"),
    "exercise": DataType(exercise, "session", ACTIVITY, "exercise"),
    "weight": DataType(weight, "sample", METRICS, "weight", rollup=_average("weightGrams", "weightGramsAvg")),
    "body-fat": DataType(
        body_fat, "sample", METRICS, "bodyFat", rollup=_average("percentage", "bodyFatPercentageAvg")
    ),
}


def page_limit(data_type: str) -> tuple[int, int]:
    """(default, maximum) pageSize of a list."""
    return (25, 25) if data_type in {"sleep", "exercise"} else (1440, 10000)


# --- Filters (AIP-160 subset) --------------------------------------------------------------------
CLAUSE = re.compile(r'^\s*([a-z0-9_.\-]+)\s*(>=|<=|<|>|=|!=)\s*"([^"]*)"\s*$')


def filter_fields(data_type: str, kind: str) -> dict[str, str]:
    """Filterable field -> "physical" or "civil" for one data type."""
    snake = data_type.replace("-", "_")
    if data_type == "sleep":
        return {"sleep.interval.end_time": "physical", "sleep.interval.civil_end_time": "civil"}
    if data_type == "exercise":
        return {"exercise.interval.civil_start_time": "civil"}
    if kind == "interval":
        return {f"{snake}.interval.start_time": "physical", f"{snake}.interval.civil_start_time": "civil"}
    if kind == "sample":
        return {f"{snake}.sample_time.physical_time": "physical", f"{snake}.sample_time.civil_time": "civil"}
    return {f"{snake}.date": "civil"}


def parse_filter(expression: str, data_type: str, kind: str, zone) -> tuple[datetime | None, datetime | None]:
    """The [lower, upper) instants of a filter; GoogleError with Google's reason when it is not valid."""
    if not expression.strip():
        return None, None
    fields = filter_fields(data_type, kind)
    lower = upper = None
    clocks = set()
    for clause in re.split(r"\s+AND\s+", expression.strip()):
        match = CLAUSE.match(clause)
        if not match:
            raise invalid("INVALID_DATA_POINT_FILTER_SYNTAX", f"Invalid filter expression: {clause!r}.")
        field, operator, literal = match.groups()
        if field not in fields:
            reason = (
                "INVALID_DATA_POINT_FILTER_DATA_TYPE_MEMBER"
                if field.startswith(data_type.replace("-", "_"))
                else "INVALID_DATA_POINT_FILTER"
            )
            raise invalid(reason, f"Field {field!r} cannot be filtered on for {data_type}.")
        if operator not in {">=", "<"}:
            raise invalid("INVALID_DATA_POINT_FILTER_RESTRICTION_COMPARATOR", "Only >= and < are supported.")
        clocks.add(fields[field])
        moment = _literal(literal, fields[field], zone)
        if operator == ">=":
            lower = moment
        else:
            upper = moment
    if len(clocks) > 1:
        raise invalid(
            "INVALID_DATA_POINT_FILTER_MIXED_TIME_RESTRICTIONS", "Physical and civil bounds are mixed."
        )
    if lower is not None and upper is not None and upper <= lower:
        raise invalid("INVALID_TIME_RANGE", "The upper bound must be after the lower bound.")
    return lower, upper


def _literal(literal: str, clock: str, zone) -> datetime:
    try:
        if clock == "physical":
            moment = datetime.fromisoformat(literal.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if len(literal) == 10:
            return datetime.combine(datetime.fromisoformat(literal).date(), time(0), zone)
        return datetime.fromisoformat(literal).replace(tzinfo=zone)
    except ValueError as error:
        raise invalid("INVALID_DATA_POINT_FILTER_SYNTAX", f"Invalid time literal {literal!r}.") from error


# --- Webhook signing (Tink ECDSA P-256, the documentation's dummy key) ----------------------------
SIGNING_KEY_ID = 1234567890
_SIGNING_KEY = ec.derive_private_key(int.from_bytes(b"\x1f" * 32, "big"), ec.SECP256R1())


def sign(body: bytes) -> str:
    """`GOOGLE-HEALTH-API-SIGNATURE`: base64(0x01 || key id || DER ECDSA-SHA256 signature)."""
    signature = _SIGNING_KEY.sign(body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return base64.b64encode(b"\x01" + struct.pack(">I", SIGNING_KEY_ID) + signature).decode()


def public_keyset() -> dict:
    """The Tink JSON keyset a receiver verifies `sign` with."""
    numbers = _SIGNING_KEY.public_key().public_numbers()
    x, y = b"\x00" + numbers.x.to_bytes(32, "big"), b"\x00" + numbers.y.to_bytes(32, "big")
    # EcdsaPublicKey proto: params {hash SHA256, curve NIST_P256, encoding DER}, x, y.
    proto = b"\x12\x06\x08\x03\x10\x02\x18\x02" + b"\x1a\x21" + x + b"\x22\x21" + y
    key_data = {
        "typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey",
        "value": base64.b64encode(proto).decode(),
        "keyMaterialType": "ASYMMETRIC_PUBLIC",
    }
    return {
        "primaryKeyId": SIGNING_KEY_ID,
        "key": [
            {"keyData": key_data, "status": "ENABLED", "keyId": SIGNING_KEY_ID, "outputPrefixType": "TINK"}
        ],
    }


def now_utc() -> datetime:
    return datetime.fromtimestamp(state.now(), UTC)
