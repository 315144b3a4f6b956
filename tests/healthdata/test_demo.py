from datetime import date

from healthdata import demo
from healthdata.models import DailyRollup, Record, Session


def test_demo_data_covers_the_days_from_three_sources_and_seeding_again_changes_nothing(user):
    first = demo.seed(user, days=3, today=date(2025, 1, 15))
    again = demo.seed(user, days=3, today=date(2025, 1, 15))

    assert first.created > 300 and not first.rejected
    assert (again.created, again.updated) == (0, 0)
    assert set(Record.objects.for_user(user).values_list("source", flat=True)) == {
        "apple_health",
        "oura",
        "withings",
    }
    assert Session.objects.for_user(user).filter(kind="sleep").count() == 3
    steps = DailyRollup.objects.get(user=user, metric="steps", local_date=date(2025, 1, 14))
    assert 3_000 < steps.value < 20_000
