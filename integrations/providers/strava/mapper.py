"""Strava activities -> workout sessions.

Strava writes `start_date` in UTC and `start_date_local` as local wall-clock time with a misleading
`Z`; the true offset is `utc_offset` (seconds, daylight saving included), so the session starts at
`start_date` shown in that offset. Distances are metres, times seconds. `kilojoules` on rides is
mechanical work, not energy burned, so it is kept as metadata; `calories` (detailed activities
only) is the energy value. Strava has no sleep, HRV, weight or daily steps.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from healthdata.normalized import SessionIn

SPORT_TYPES = {
    "Run": "running",
    "TrailRun": "running",
    "VirtualRun": "running",
    "Ride": "cycling",
    "GravelRide": "cycling",
    "MountainBikeRide": "cycling",
    "EBikeRide": "cycling",
    "EMountainBikeRide": "cycling",
    "VirtualRide": "cycling",
    "Velomobile": "cycling",
    "Swim": "swimming",
    "Walk": "walking",
    "Hike": "hiking",
    "WeightTraining": "strength_training",
    "Crossfit": "functional_training",
    "HighIntensityIntervalTraining": "hiit",
    "Yoga": "yoga",
    "Pilates": "pilates",
    "Rowing": "rowing",
    "VirtualRow": "rowing",
    "Elliptical": "elliptical",
    "Workout": "functional_training",
}


def start_of(activity: dict) -> datetime:
    """`start_date` (true UTC) shown in the activity's own `utc_offset`; `start_date_local` is ignored."""
    utc = datetime.fromisoformat(activity["start_date"])
    offset = timezone(timedelta(seconds=int(activity.get("utc_offset") or 0)))
    return utc.astimezone(offset)


def activity_session(activity: dict) -> SessionIn:
    start = start_of(activity)
    end = start + timedelta(seconds=activity.get("elapsed_time") or 0)
    values: dict[str, tuple[float, str]] = {}
    for metric, field, unit in [
        ("distance", "distance", "m"),
        ("workout_duration", "moving_time", "s"),
        ("heart_rate", "average_heartrate", "count/min"),
        ("heart_rate_max", "max_heartrate", "count/min"),
        ("active_energy", "calories", "kcal"),
    ]:
        if activity.get(field):
            values[metric] = (activity[field], unit)
    sport = activity.get("sport_type") or activity.get("type") or ""
    return SessionIn(
        kind="workout",
        start=start,
        end=end,
        source_key=f"activity:{activity['id']}",
        activity_type=SPORT_TYPES.get(sport, "other"),
        device=activity.get("device_name") or "",
        device_kind="manual" if activity.get("manual") else "",
        values=values,
        metadata={
            "source_type": sport,
            "name": activity.get("name"),
            "kilojoules": activity.get("kilojoules"),
            "elevation_gain_m": activity.get("total_elevation_gain"),
            "timezone": activity.get("timezone"),
        },
    )


def activity_records(activity: dict) -> Iterator[SessionIn]:
    yield activity_session(activity)
