import pytest

from healthdata.templatetags.display_units import format_value, from_display, source_name, to_display


@pytest.mark.parametrize(
    "metric,value,units,shown",
    [
        ("steps", 8432.4, "metric", "8,432"),
        ("weight", 75, "metric", "75.0 kg"),
        ("weight", 75, "imperial", "165.3 lb"),
        ("distance", 5234, "metric", "5.23 km"),
        ("distance", 5234, "imperial", "3.25 mi"),
        ("time_asleep", 432, "metric", "7 h 12 min"),
        ("time_asleep", 45, "imperial", "45 min"),
        ("body_temperature", 37, "imperial", "98.6 °F"),
        ("skin_temperature_deviation", 0.5, "imperial", "0.90 °F"),
        ("height", 1.8, "imperial", "71 in"),
        ("height", 1.8, "metric", "180 cm"),
        ("blood_glucose", 5.5, "imperial", "99 mg/dL"),
        ("resting_heart_rate", 55.2, "metric", "55 bpm"),
        ("weight", None, "metric", "\u2013"),
    ],
)
def test_values_are_shown_in_the_users_units(metric, value, units, shown):
    assert format_value(metric, value, units) == shown


@pytest.mark.parametrize(
    "metric,units,typed",
    [("weight", "imperial", 160.0), ("body_temperature", "imperial", 100.4), ("distance", "metric", 10.0)],
)
def test_a_number_typed_in_the_users_units_converts_back_to_the_canonical_unit(metric, units, typed):
    assert to_display(metric, from_display(metric, typed, units), units) == pytest.approx(typed)


def test_a_source_reads_by_its_name_and_an_unknown_one_by_its_slug():
    assert source_name("apple_health") == "Apple Health"
    assert source_name("acme") == "acme"
