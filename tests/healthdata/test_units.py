import math

import pytest

from healthdata.metrics import AGGREGATIONS, CATEGORIES, METRICS, SHAPES, WORKOUT_TYPES
from healthdata.units import UnitError, accepted_units, convert

DOC_CODES = [
    "steps",
    "distance",
    "active_energy",
    "basal_energy",
    "floors_climbed",
    "active_minutes",
    "exercise_minutes",
    "stand_hours",
    "heart_rate",
    "heart_rate_max",
    "resting_heart_rate",
    "hrv_sdnn",
    "hrv_rmssd",
    "walking_heart_rate_avg",
    "time_in_bed",
    "time_asleep",
    "sleep_awake",
    "sleep_light",
    "sleep_deep",
    "sleep_rem",
    "sleep_efficiency",
    "sleep_score",
    "weight",
    "body_fat",
    "bmi",
    "lean_mass",
    "muscle_mass",
    "bone_mass",
    "body_water",
    "height",
    "blood_pressure",
    "spo2",
    "respiratory_rate",
    "body_temperature",
    "skin_temperature_deviation",
    "blood_glucose",
    "readiness_score",
    "recovery_score",
    "strain",
    "stress",
    "workout_duration",
    "energy_intake",
    "protein",
    "carbohydrates",
    "fat",
    "fiber",
    "sugar",
    "sodium",
    "caffeine",
    "water",
]


def test_registry_holds_every_documented_metric_with_a_valid_definition():
    assert set(DOC_CODES) == set(METRICS)
    for metric in METRICS.values():
        assert metric.category in CATEGORIES
        assert metric.shape in SHAPES
        assert metric.aggregation in AGGREGATIONS
        assert metric.plausible[0] < metric.plausible[1]
        assert metric.unit in accepted_units(metric.code)
        assert len(set(accepted_units(metric.code))) == len(accepted_units(metric.code))
    assert "other" in WORKOUT_TYPES


@pytest.mark.parametrize(
    ("code", "loinc", "healthkit"),
    [
        ("steps", "55423-8", "HKQuantityTypeIdentifierStepCount"),
        ("distance", "55430-3", "HKQuantityTypeIdentifierDistanceWalkingRunning"),
        ("active_energy", "41981-2", "HKQuantityTypeIdentifierActiveEnergyBurned"),
        ("basal_energy", "", "HKQuantityTypeIdentifierBasalEnergyBurned"),
        ("floors_climbed", "", "HKQuantityTypeIdentifierFlightsClimbed"),
        ("exercise_minutes", "", "HKQuantityTypeIdentifierAppleExerciseTime"),
        ("stand_hours", "", "HKCategoryTypeIdentifierAppleStandHour"),
        ("heart_rate", "8867-4", "HKQuantityTypeIdentifierHeartRate"),
        ("resting_heart_rate", "40443-4", "HKQuantityTypeIdentifierRestingHeartRate"),
        ("hrv_sdnn", "80404-7", "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"),
        ("walking_heart_rate_avg", "", "HKQuantityTypeIdentifierWalkingHeartRateAverage"),
        ("time_in_bed", "", "HKCategoryTypeIdentifierSleepAnalysis"),
        ("time_asleep", "", "HKCategoryTypeIdentifierSleepAnalysis"),
        ("weight", "29463-7", "HKQuantityTypeIdentifierBodyMass"),
        ("body_fat", "41982-0", "HKQuantityTypeIdentifierBodyFatPercentage"),
        ("bmi", "39156-5", "HKQuantityTypeIdentifierBodyMassIndex"),
        ("lean_mass", "", "HKQuantityTypeIdentifierLeanBodyMass"),
        ("height", "8302-2", "HKQuantityTypeIdentifierHeight"),
        ("blood_pressure", "85354-9", "HKCorrelationTypeIdentifierBloodPressure"),
        ("spo2", "59408-5", "HKQuantityTypeIdentifierOxygenSaturation"),
        ("respiratory_rate", "9279-1", "HKQuantityTypeIdentifierRespiratoryRate"),
        ("body_temperature", "8310-5", "HKQuantityTypeIdentifierBodyTemperature"),
        ("blood_glucose", "15074-8", "HKQuantityTypeIdentifierBloodGlucose"),
        ("workout_duration", "", "HKWorkoutTypeIdentifier"),
        ("energy_intake", "9052-2", "HKQuantityTypeIdentifierDietaryEnergyConsumed"),
        ("protein", "", "HKQuantityTypeIdentifierDietaryProtein"),
        ("carbohydrates", "", "HKQuantityTypeIdentifierDietaryCarbohydrates"),
        ("fat", "", "HKQuantityTypeIdentifierDietaryFatTotal"),
        ("fiber", "", "HKQuantityTypeIdentifierDietaryFiber"),
        ("sugar", "", "HKQuantityTypeIdentifierDietarySugar"),
        ("sodium", "", "HKQuantityTypeIdentifierDietarySodium"),
        ("caffeine", "", "HKQuantityTypeIdentifierDietaryCaffeine"),
        ("water", "", "HKQuantityTypeIdentifierDietaryWater"),
    ],
)
def test_metrics_carry_their_loinc_and_healthkit_identifiers(code, loinc, healthkit):
    metric = METRICS[code]

    assert (metric.loinc, metric.healthkit) == (loinc, healthkit)


def test_identifiers_are_unique_where_a_standard_gives_one_code_per_metric():
    loinc = [metric.loinc for metric in METRICS.values() if metric.loinc]
    quantities = [m.healthkit for m in METRICS.values() if m.healthkit.startswith("HKQuantityTypeIdentifier")]

    assert len(loinc) == len(set(loinc))
    assert len(quantities) == len(set(quantities))


@pytest.mark.parametrize(
    ("metric", "value", "unit", "expected"),
    [
        ("steps", 812, "count", 812),
        ("heart_rate", 71, "count/min", 71),
        ("heart_rate", 71, "bpm", 71),
        ("heart_rate", 1.2, "Hz", 72),
        ("weight", 162.6, "lb", 73.754),
        ("weight", 11, "st", 69.853),
        ("weight", 80450, "g", 80.45),
        ("lean_mass", 2, "oz", 0.0567),
        ("distance", 3.61, "mi", 5809.732),
        ("distance", 5.2, "km", 5200),
        ("distance", 1000, "ft", 304.8),
        ("distance", 100, "yd", 91.44),
        ("distance", 1_500_000, "mm", 1500),
        ("height", 70, "in", 1.778),
        ("height", 180, "cm", 1.8),
        ("active_energy", 358.412, "Cal", 358.412),
        ("active_energy", 9812.7, "kJ", 2345.29),
        ("active_energy", 4184, "J", 1),
        ("energy_intake", 2000, "kcal", 2000),
        ("body_temperature", 98.6, "degF", 37.0),
        ("body_temperature", 36.6, "degC", 36.6),
        ("body_temperature", 310.15, "K", 37.0),
        ("skin_temperature_deviation", 0.9, "degF", 0.5),
        ("skin_temperature_deviation", -0.3, "degC", -0.3),
        ("blood_glucose", 90.08, "mg/dL", 5.0),
        ("blood_glucose", 5.4, "mmol<180.1558800000541>/L", 5.4),
        ("blood_glucose", 5.4, "mmol/L", 5.4),
        ("body_fat", 0.241, "fraction", 24.1),
        ("spo2", 97, "%", 97),
        ("time_asleep", 1800, "s", 30),
        ("time_asleep", 7.5, "h", 450),
        ("time_in_bed", 28_800_000, "ms", 480),
        ("hrv_rmssd", 61.8, "ms", 61.8),
        ("water", 1.5, "L", 1500),
        ("water", 8, "fl_oz_us", 236.588),
        ("water", 250, "mL", 250),
        ("sodium", 2.3, "g", 2300),
        ("protein", 40_000, "mg", 40),
        ("blood_pressure", 120, "mmHg", 120),
        ("blood_pressure", 16, "kPa", 120.01),
        ("bmi", 23.4, "count", 23.4),
        ("bmi", 23.4, "kg/m2", 23.4),
        ("recovery_score", 64, "score", 64),
        ("sleep_score", 82, "score", 82),
        ("stand_hours", 11, "count", 11),
    ],
)
def test_values_convert_to_the_canonical_unit(metric, value, unit, expected):
    assert math.isclose(convert(metric, value, unit), expected, rel_tol=1e-3, abs_tol=1e-6)


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        ("steps", "kg"),
        ("weight", "km"),
        ("heart_rate", "ms"),
        ("blood_glucose", "mg"),
        ("body_temperature", "%"),
        ("steps", "furlongs"),
        ("not_a_metric", "count"),
        ("spo2", "count"),
    ],
)
def test_unconvertible_units_raise_a_unit_error(metric, unit):
    with pytest.raises(UnitError) as raised:
        convert(metric, 1.0, unit)
    assert raised.value.unit == unit


def test_fahrenheit_body_temperature_shifts_but_a_deviation_only_scales():
    assert math.isclose(convert("body_temperature", 32, "degF"), 0.0, abs_tol=1e-9)
    assert convert("skin_temperature_deviation", 0, "degF") == 0
