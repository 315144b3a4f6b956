import pytest

from preferences.models import SourcePreference
from preferences.order import InvalidOrder, default_order, replace_order, source_order


def test_default_order_ranks_by_device_kind_then_manual_and_files():
    order = default_order()

    assert order.index("strava") < order.index("fitbit") < order.index("oura") < order.index("apple_health")
    assert order.index("apple_health") < order.index("withings") < order.index("manual") < order.index("csv")


def test_a_stored_order_comes_first_and_the_rest_follow_by_default(user):
    replace_order(user, "activity", ["apple_health", "fitbit"])

    order = source_order(user, "activity")
    assert order[:2] == ["apple_health", "fitbit"]
    assert sorted(order) == sorted(default_order())
    assert source_order(user, "sleep") == default_order()


def test_replacing_an_order_overwrites_the_previous_one(user):
    replace_order(user, "sleep", ["oura"])
    replace_order(user, "sleep", ["whoop", "oura"])

    assert SourcePreference.objects.get(user=user, category="sleep").sources == ["whoop", "oura"]


@pytest.mark.parametrize(
    ("category", "sources"),
    [("activity", ["garmin"]), ("moods", ["oura"]), ("sleep", ["oura", "oura"])],
)
def test_an_order_naming_unknowns_or_repeats_is_refused_and_nothing_stored(user, category, sources):
    with pytest.raises(InvalidOrder):
        replace_order(user, category, sources)

    assert not SourcePreference.objects.exists()
