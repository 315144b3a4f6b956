"""The metric registry: every kind of value the platform stores, as plain code any module may read.

A metric's `code` is what records store. `unit` is its canonical unit (UCUM spelling) that ingest
converts to; `shape` says how a value covers time and `aggregation` how values of one bucket
combine. Values outside `plausible` are rejected at ingest; `daily_hours` is how many hours of data
make a complete day (0: one reading completes it). Identifiers are given where a standard has one.
"""

from dataclasses import dataclass

CATEGORIES = ("activity", "heart", "sleep", "body", "vitals", "recovery", "workouts", "nutrition")
SHAPES = ("instant", "interval", "session", "daily")
AGGREGATIONS = ("sum", "mean", "min", "max", "last")
DEVICE_KINDS = ("watch", "band", "ring", "phone", "scale", "cuff", "meter", "manual", "file", "other")

# Every source slug a record may carry, with the kind of device its data usually comes from
# (used when a record names no device kind).
SOURCES = {
    "withings": "scale",
    "oura": "ring",
    "fitbit": "band",
    "whoop": "band",
    "strava": "watch",
    "apple_health": "phone",
    "myfitnesspal": "manual",
    "cronometer": "manual",
    "csv": "file",
    "manual": "manual",
}


@dataclass(frozen=True, slots=True)
class Metric:
    code: str
    label: str
    category: str
    unit: str
    shape: str
    aggregation: str
    plausible: tuple[float, float]
    daily_hours: float = 0.0
    loinc: str = ""
    healthkit: str = ""
    open_mhealth: str = ""

    @property
    def is_additive(self) -> bool:
        return self.aggregation == "sum"

    @property
    def can_have_goal(self) -> bool:
        """Goals need one number per period: a pair (blood pressure) or a maximum has none."""
        return self.aggregation in ("sum", "mean", "last") and self.code != "blood_pressure"

    @property
    def is_sparse(self) -> bool:
        """One reading is a complete day (weight, blood pressure): coverage does not grow with time."""
        return self.daily_hours == 0


def _hk(name: str) -> str:
    return f"HKQuantityTypeIdentifier{name}"


_ALL = (
    # activity: amounts over intervals, summed
    Metric("steps", "Steps", "activity", "count", "interval", "sum", (0, 150_000), 16, "55423-8",
           _hk("StepCount"), "omh:step-count"),
    Metric("distance", "Distance", "activity", "m", "interval", "sum", (0, 300_000), 16, "55430-3",
           _hk("DistanceWalkingRunning")),
    Metric("active_energy", "Active energy", "activity", "kcal", "interval", "sum", (0, 15_000), 16,
           "41981-2", _hk("ActiveEnergyBurned"), "omh:calories-burned"),
    Metric("basal_energy", "Resting energy", "activity", "kcal", "interval", "sum", (0, 6_000), 16,
           "", _hk("BasalEnergyBurned")),
    Metric("floors_climbed", "Floors climbed", "activity", "count", "interval", "sum", (0, 1_000), 16,
           "", _hk("FlightsClimbed")),
    Metric("active_minutes", "Active minutes", "activity", "min", "interval", "sum", (0, 1_440), 16),
    Metric("exercise_minutes", "Exercise minutes", "activity", "min", "interval", "sum", (0, 1_440), 16,
           "", _hk("AppleExerciseTime")),
    Metric("stand_hours", "Stand hours", "activity", "h", "interval", "sum", (0, 24), 16,
           "", "HKCategoryTypeIdentifierAppleStandHour"),
    # heart
    Metric("heart_rate", "Heart rate", "heart", "/min", "instant", "mean", (20, 250), 16, "8867-4",
           _hk("HeartRate"), "omh:heart-rate"),
    Metric("heart_rate_max", "Maximum heart rate", "heart", "/min", "instant", "max", (30, 250)),
    Metric("resting_heart_rate", "Resting heart rate", "heart", "/min", "daily", "mean", (20, 150),
           0, "40443-4", _hk("RestingHeartRate")),
    Metric("hrv_sdnn", "HRV (SDNN)", "heart", "ms", "instant", "mean", (1, 400), 0, "80404-7",
           _hk("HeartRateVariabilitySDNN")),
    Metric("hrv_rmssd", "HRV (RMSSD)", "heart", "ms", "instant", "mean", (1, 400)),
    Metric("walking_heart_rate_avg", "Walking heart rate", "heart", "/min", "daily", "mean", (30, 220),
           0, "", _hk("WalkingHeartRateAverage")),
    # sleep: derived from sleep sessions, placed on the day the sleep ends
    Metric("time_in_bed", "Time in bed", "sleep", "min", "session", "sum", (0, 1_440), 0, "",
           "HKCategoryTypeIdentifierSleepAnalysis", "omh:sleep-episode"),
    Metric("time_asleep", "Time asleep", "sleep", "min", "session", "sum", (0, 1_440), 0, "",
           "HKCategoryTypeIdentifierSleepAnalysis", "omh:sleep-duration"),
    Metric("sleep_awake", "Awake in bed", "sleep", "min", "session", "sum", (0, 1_440)),
    Metric("sleep_light", "Light sleep", "sleep", "min", "session", "sum", (0, 1_440)),
    Metric("sleep_deep", "Deep sleep", "sleep", "min", "session", "sum", (0, 1_440)),
    Metric("sleep_rem", "REM sleep", "sleep", "min", "session", "sum", (0, 1_440)),
    Metric("sleep_efficiency", "Sleep efficiency", "sleep", "%", "session", "mean", (0, 100)),
    Metric("sleep_score", "Sleep score", "sleep", "{score}", "daily", "mean", (0, 100)),
    # body
    Metric("weight", "Weight", "body", "kg", "instant", "last", (2, 400), 0, "29463-7",
           _hk("BodyMass"), "omh:body-weight"),
    Metric("body_fat", "Body fat", "body", "%", "instant", "last", (2, 75), 0, "41982-0",
           _hk("BodyFatPercentage"), "omh:body-fat-percentage"),
    Metric("bmi", "Body mass index", "body", "kg/m2", "instant", "last", (8, 90), 0, "39156-5",
           _hk("BodyMassIndex"), "omh:body-mass-index"),
    Metric("lean_mass", "Lean mass", "body", "kg", "instant", "last", (1, 250), 0, "",
           _hk("LeanBodyMass")),
    Metric("muscle_mass", "Muscle mass", "body", "kg", "instant", "last", (1, 250)),
    Metric("bone_mass", "Bone mass", "body", "kg", "instant", "last", (0.2, 20)),
    Metric("body_water", "Body water", "body", "%", "instant", "last", (20, 85)),
    Metric("height", "Height", "body", "m", "instant", "last", (0.4, 2.6), 0, "8302-2", _hk("Height"),
           "omh:body-height"),
    # vitals
    Metric("blood_pressure", "Blood pressure", "vitals", "mm[Hg]", "instant", "mean", (40, 300), 0,
           "85354-9", "HKCorrelationTypeIdentifierBloodPressure", "omh:blood-pressure"),
    Metric("spo2", "Blood oxygen", "vitals", "%", "instant", "mean", (50, 100), 0, "59408-5",
           _hk("OxygenSaturation"), "omh:oxygen-saturation"),
    Metric("respiratory_rate", "Respiratory rate", "vitals", "/min", "instant", "mean", (4, 70), 0,
           "9279-1", _hk("RespiratoryRate"), "omh:respiratory-rate"),
    Metric("body_temperature", "Body temperature", "vitals", "Cel", "instant", "mean", (30, 45), 0,
           "8310-5", _hk("BodyTemperature"), "omh:body-temperature"),
    Metric("skin_temperature_deviation", "Skin temperature deviation", "vitals", "Cel", "daily", "mean",
           (-6, 6)),
    Metric("blood_glucose", "Blood glucose", "vitals", "mmol/L", "instant", "mean", (0.5, 40), 0,
           "15074-8", _hk("BloodGlucose"), "omh:blood-glucose"),
    # recovery
    Metric("readiness_score", "Readiness score", "recovery", "{score}", "daily", "mean", (0, 100)),
    Metric("recovery_score", "Recovery score", "recovery", "%", "daily", "mean", (0, 100)),
    Metric("strain", "Strain", "recovery", "{score}", "daily", "mean", (0, 21)),
    Metric("stress", "Stress", "recovery", "{score}", "daily", "mean", (0, 100)),
    # workouts
    Metric("workout_duration", "Workout time", "workouts", "min", "session", "sum", (0, 1_440), 0, "",
           "HKWorkoutTypeIdentifier", "omh:physical-activity"),
    # nutrition: amounts logged per meal or day, summed
    Metric("energy_intake", "Energy intake", "nutrition", "kcal", "interval", "sum", (0, 20_000), 0,
           "9052-2", _hk("DietaryEnergyConsumed")),
    Metric("protein", "Protein", "nutrition", "g", "interval", "sum", (0, 1_000), 0, "",
           _hk("DietaryProtein")),
    Metric("carbohydrates", "Carbohydrates", "nutrition", "g", "interval", "sum", (0, 2_000), 0, "",
           _hk("DietaryCarbohydrates")),
    Metric("fat", "Fat", "nutrition", "g", "interval", "sum", (0, 1_000), 0, "", _hk("DietaryFatTotal")),
    Metric("fiber", "Fiber", "nutrition", "g", "interval", "sum", (0, 500), 0, "", _hk("DietaryFiber")),
    Metric("sugar", "Sugar", "nutrition", "g", "interval", "sum", (0, 1_500), 0, "", _hk("DietarySugar")),
    Metric("sodium", "Sodium", "nutrition", "mg", "interval", "sum", (0, 50_000), 0, "",
           _hk("DietarySodium")),
    Metric("caffeine", "Caffeine", "nutrition", "mg", "interval", "sum", (0, 5_000), 0, "",
           _hk("DietaryCaffeine")),
    Metric("water", "Water", "nutrition", "mL", "interval", "sum", (0, 20_000), 0, "", _hk("DietaryWater")),
)  # fmt: skip

METRICS: dict[str, Metric] = {metric.code: metric for metric in _ALL}

# Minutes per sleep stage, as the sleep metrics of a session are named.
SLEEP_STAGE_METRICS = {
    "awake": "sleep_awake",
    "light": "sleep_light",
    "deep": "sleep_deep",
    "rem": "sleep_rem",
}
SLEEP_STAGES = ("awake", "light", "deep", "rem", "asleep", "in_bed")
SESSION_KINDS = ("sleep", "workout")

WORKOUT_TYPES = (
    "walking",
    "running",
    "cycling",
    "swimming",
    "hiking",
    "rowing",
    "elliptical",
    "stair_climbing",
    "strength_training",
    "functional_training",
    "hiit",
    "yoga",
    "pilates",
    "dance",
    "martial_arts",
    "boxing",
    "climbing",
    "skiing",
    "snowboarding",
    "skating",
    "team_sport",
    "racket_sport",
    "golf",
    "mind_and_body",
    "other",
)


def get(code: str) -> Metric | None:
    return METRICS.get(code)


def in_category(category: str) -> list[Metric]:
    return [metric for metric in _ALL if metric.category == category]
