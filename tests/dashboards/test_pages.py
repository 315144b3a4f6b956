from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from healthdata.models import Goal
from integrations.models import Connection
from preferences.order import source_order
from tests.dashboards.data import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_a_visitor_sees_the_landing_page_and_pages_ask_to_sign_in(client):
    assert client.get("/").status_code == 200
    assert client.get("/goals/").status_code == 302
    assert client.get("/data/activity/").status_code == 302
    assert client.get("/preferences/").status_code == 302


def test_a_new_user_is_led_to_connect_a_source_or_import_a_file(signed_in):
    for url in ("/", "/data/activity/", "/preferences/", "/imports/"):
        page = signed_in.get(url).content.decode()
        assert reverse("integrations:connections") in page
        assert reverse("imports:new") in page


def test_the_overview_shows_each_number_with_its_source_and_quality(signed_in, user):
    seed(user, days=3)

    page = signed_in.get("/").content.decode()

    assert "Steps" in page and "Resting heart rate" in page
    assert "6,000" in page  # twelve hours of 500 steps from fitbit, a band, preferred by default
    assert "Fitbit" in page and "55 bpm" in page


def test_the_overview_shows_weight_in_the_users_units(signed_in, user):
    user.units = "imperial"
    user.save()
    seed(user, days=1)

    page = signed_in.get("/").content.decode()

    assert "165.3 lb" in page
    assert "75.0 kg" not in page


def test_a_category_page_charts_every_metric_with_data_and_compares_sources(signed_in, user):
    seed(user, days=5)

    response = signed_in.get("/data/activity/?range=week&compare=steps")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="chart-steps-data"' in page
    assert {entry["source"] for entry in response.context["comparison"]["sources"]} == {
        "apple_health",
        "fitbit",
    }
    assert len(response.context["charts"][0]["data"]["points"]) == 5


@pytest.mark.parametrize(("range_name", "days"), [("day", 1), ("week", 7), ("month", 30), ("year", 365)])
def test_every_range_of_a_category_page_spans_the_whole_range_in_the_users_time_zone(
    signed_in, user, range_name, days
):
    seed(user, days=2)

    response = signed_in.get(f"/data/activity/?range={range_name}")

    assert response.status_code == 200
    data = response.context["charts"][0]["data"]
    midnight = datetime.fromtimestamp(data["end"], user.zone)
    assert (midnight.hour, midnight.minute) == (0, 0)
    assert round((data["end"] - data["start"]) / 86_400) == days  # one point still gets the full axis
    assert data["start"] <= data["points"][0]["t"] <= data["points"][-1]["t"] < data["end"]
    assert response.context["comparison"]["data"]["start"] == data["start"]


def test_the_navigation_marks_the_section_of_a_sub_page(signed_in, user):
    connection = Connection.objects.create(user=user, provider="oura", last_success_at=timezone.now())

    page = signed_in.get(f"/connections/{connection.pk}/").content.decode()

    assert '<a href="/connections/" aria-current="page">Sources</a>' in page


@pytest.mark.parametrize(
    "url,status",
    [
        ("/data/nonsense/", 404),
        ("/data/activity/?range=decade", 400),
        ("/data/activity/?compare=weight", 400),
    ],
)
def test_a_category_page_refuses_bad_input(signed_in, url, status):
    assert signed_in.get(url).status_code == status


def test_a_goal_typed_in_pounds_is_stored_in_kilograms_and_shows_progress(signed_in, user):
    user.units = "imperial"
    user.save()
    seed(user, days=1)

    response = signed_in.post(
        "/goals/", {"metric": "weight", "target": "160", "period": "day", "comparison": "at_most"}
    )

    goal = Goal.objects.get(user=user)
    assert response.status_code == 302
    assert goal.target == pytest.approx(72.57, abs=0.01)
    page = signed_in.get("/goals/").content.decode()
    assert "at most 160.0 lb per day" in page
    assert "165.3 lb" in page


def test_an_implausible_goal_is_refused_and_nothing_is_written(signed_in, user):
    response = signed_in.post(
        "/goals/", {"metric": "steps", "target": "-5", "period": "day", "comparison": "at_least"}
    )

    assert response.status_code == 400
    assert "Choose a target between" in response.content.decode()
    assert not Goal.objects.exists()


def test_another_users_goal_cannot_be_deleted(signed_in, other_user):
    goal = Goal.objects.create(user=other_user, metric="steps", target=10_000)

    response = signed_in.post(f"/goals/{goal.pk}/delete/")

    assert response.status_code == 404
    assert Goal.objects.filter(pk=goal.pk).exists()


def test_deleting_a_goal(signed_in, user):
    goal = Goal.objects.create(user=user, metric="steps", target=10_000)

    assert signed_in.post(f"/goals/{goal.pk}/delete/").status_code == 302
    assert not Goal.objects.exists()


def test_moving_a_source_up_changes_which_value_counts(signed_in, user):
    seed(user, days=2)
    shown = ["fitbit", "apple_health"]
    before = signed_in.get("/preferences/")
    assert before.context["categories"][0]["sources"] == shown
    assert before.context["categories"][0]["winners"][-1][1].source == "fitbit"

    response = signed_in.post(
        "/preferences/move/",
        {"category": "activity", "source": "apple_health", "direction": "up", "shown": shown},
    )

    assert response.status_code == 302
    assert [source for source in source_order(user, "activity") if source in shown] == shown[::-1]
    after = signed_in.get("/preferences/")
    activity = next(c for c in after.context["categories"] if c["name"] == "activity")
    assert activity["winners"][-1][1].source == "apple_health"
    assert "8,400" in after.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"category": "nonsense", "source": "fitbit", "direction": "up", "shown": ["fitbit"]},
        {"category": "activity", "source": "fitbit", "direction": "sideways", "shown": ["fitbit"]},
        {"category": "activity", "source": "nope", "direction": "up", "shown": ["nope"]},
        {"category": "activity", "source": "fitbit", "direction": "up", "shown": ["oura"]},
    ],
)
def test_a_bad_move_is_refused_and_the_order_is_unchanged(signed_in, user, data):
    response = signed_in.post("/preferences/move/", data)

    assert response.status_code == 400
    assert not user.sourcepreference_set.exists()


def test_sources_leads_to_the_connections_page(signed_in):
    response = signed_in.get("/sources/")

    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:connections")


def test_a_connection_that_needs_the_user_is_flagged_on_every_page_until_fixed(signed_in, user):
    connection = Connection.objects.create(
        user=user, provider="fitbit", status=Connection.Status.NEEDS_REAUTH
    )

    for url in ("/", "/goals/", "/preferences/", "/account/"):
        assert "connection needs you to sign in to it again" in signed_in.get(url).content.decode()

    connection.status = Connection.Status.ACTIVE
    connection.last_success_at = timezone.now()
    connection.save()
    assert "needs you" not in signed_in.get("/").content.decode()


def test_a_connection_silent_for_days_is_flagged_as_stale(signed_in, user):
    Connection.objects.create(
        user=user,
        provider="oura",
        status=Connection.Status.ACTIVE,
        last_success_at=timezone.now() - timedelta(days=4),
    )

    assert "has not sent new data for several days" in signed_in.get("/").content.decode()


def test_another_users_connection_problem_is_not_shown(signed_in, other_user):
    Connection.objects.create(user=other_user, provider="fitbit", status=Connection.Status.ERROR)

    assert "keeps failing" not in signed_in.get("/").content.decode()


def test_the_csv_mapping_page_needs_a_signed_in_user(client, user):
    assert client.get("/imports/csv/").status_code == 302

    client.force_login(user)
    page = client.get("/imports/csv/").content.decode()

    assert reverse("api-v1:import-csv-upload") in page
    assert "js/csv-import.js" in page
