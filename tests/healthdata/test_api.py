import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from healthdata.caching import CACHE_HITS, CACHE_MISSES
from healthdata.ingest import ingest
from healthdata.models import Goal, IdempotentRequest, Record, Session
from healthdata.normalized import Origin, RecordIn, SessionIn
from preferences.models import SourcePreference

SYNC = Origin(kind="sync", id=1)
MORNING = datetime(2025, 1, 14, 8, 0, tzinfo=UTC)


def hourly_steps(user, source, hours, per_hour=500, day=MORNING):
    records = [
        RecordIn(
            metric="steps",
            start=day + timedelta(hours=h),
            end=day + timedelta(hours=h, minutes=50),
            value=per_hour,
            unit="count",
            source_key=f"{source}-{day:%j}-{h}",
        )
        for h in range(hours)
    ]
    ingest(user=user, source=source, records=records, origin=SYNC)


def error_of(response, status_code):
    assert response.status_code == status_code, response.content
    return response.json()["error"]


def test_records_list_filters_by_metric_and_source_newest_first(user, user_api_client):
    hourly_steps(user, "fitbit", 3)
    hourly_steps(user, "oura", 2)

    response = user_api_client.get("/api/v1/records", {"metric": "steps", "source": "fitbit"})

    results = response.json()["results"]
    assert [r["source"] for r in results] == ["fitbit"] * 3
    assert results[0]["start"] > results[1]["start"]
    assert results[0]["unit"] == "count"


def test_records_list_filters_by_category_and_time_range(user, user_api_client):
    hourly_steps(user, "fitbit", 4)
    ingest(
        user=user,
        source="fitbit",
        records=[RecordIn(metric="heart_rate", start=MORNING, value=61, unit="bpm", source_key="hr")],
        origin=SYNC,
    )

    heart = user_api_client.get("/api/v1/records", {"category": "heart"}).json()["results"]
    window = user_api_client.get(
        "/api/v1/records",
        {"metric": "steps", "from": "2025-01-14T09:00:00Z", "to": "2025-01-14T11:00:00+00:00"},
    ).json()["results"]
    other_day = user_api_client.get("/api/v1/records", {"from": "2025-01-15", "to": "2025-01-16"}).json()

    assert [(r["metric"], r["value"]) for r in heart] == [("heart_rate", 61)]
    assert [r["start"] for r in window] == ["2025-01-14T10:00:00Z", "2025-01-14T09:00:00Z"]
    assert other_day["results"] == []


def test_records_are_cursor_paginated(user, user_api_client):
    hourly_steps(user, "fitbit", 5)

    first = user_api_client.get("/api/v1/records", {"page_size": 2}).json()
    second = user_api_client.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})


def test_merged_records_keep_only_each_days_winning_source(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "apple_health", 12)
    user_api_client.put("/api/v1/preferences/activity", {"sources": ["fitbit"]}, format="json")

    response = user_api_client.get(
        "/api/v1/records", {"metric": "steps", "merged": "true", "from": "2025-01-14", "to": "2025-01-14"}
    )

    assert {r["source"] for r in response.json()["results"]} == {"fitbit"}


@pytest.mark.parametrize(
    "query",
    [{"metric": "mood"}, {"from": "2025-01-14T08:00:00"}, {"merged": "true"}, {"source": "myspace"}],
)
def test_records_list_refuses_bad_filters(user_api_client, query):
    error = error_of(user_api_client.get("/api/v1/records", query), 400)
    assert error["code"] == "invalid"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/records",
        "/api/v1/sessions",
        "/api/v1/aggregate?metric=steps&from=2025-01-14&to=2025-01-14",
        "/api/v1/summary?date=2025-01-14",
        "/api/v1/metrics",
        "/api/v1/sources",
        "/api/v1/preferences",
        "/api/v1/preferences/sleep",
        "/api/v1/goals",
    ],
)
def test_reads_carry_an_etag_and_a_matching_if_none_match_gets_304(user, user_api_client, path):
    hourly_steps(user, "fitbit", 2)
    first = user_api_client.get(path)

    second = user_api_client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    hourly_steps(user, "fitbit", 3)
    user_api_client.put("/api/v1/preferences/sleep", {"sources": ["oura"]}, format="json")
    changed = user_api_client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200
    assert second.status_code == 304
    assert not second.content
    assert changed.status_code == (
        304 if path in ("/api/v1/metrics", "/api/v1/sessions", "/api/v1/goals") else 200
    )


@pytest.mark.parametrize("path", ["/api/v1/records/{id}", "/api/v1/sessions/{id}"])
def test_another_users_record_or_session_is_not_found(user, other_user, path):
    hourly_steps(other_user, "fitbit", 1)
    sleep = SessionIn(kind="sleep", start=MORNING - timedelta(hours=8), end=MORNING)
    ingest(user=other_user, source="oura", records=[sleep], origin=SYNC)
    object_id = (Record if "records" in path else Session).objects.filter(user=other_user).first().pk
    client = APIClient()
    client.force_authenticate(user)

    assert error_of(client.get(path.format(id=object_id)), 404)["code"] == "not_found"
    owner = APIClient()
    owner.force_authenticate(other_user)
    assert owner.get(path.format(id=object_id)).status_code == 200


def manual(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/records/manual", body, format="json", **headers)


WEIGHT = {"metric": "weight", "value": 165.0, "unit": "lb", "start": "2025-01-14T07:30:00+01:00"}
PRESSURE = {
    "metric": "blood_pressure",
    "value": 121,
    "secondary_value": 79,
    "unit": "mmHg",
    "start": "2025-01-14T07:35:00+01:00",
}


def test_manual_entry_stores_one_or_many_records_as_manual(user, user_api_client):
    one = manual(user_api_client, WEIGHT)
    many = manual(user_api_client, {"records": [WEIGHT, PRESSURE]})

    assert one.status_code == 201
    assert one.json()["records"][0]["value"] == pytest.approx(74.843, rel=1e-4)
    assert many.json()["created"] == 1 and many.json()["unchanged"] == 1
    assert set(Record.objects.for_user(user).values_list("source", flat=True)) == {"manual"}
    assert Record.objects.get(user=user, metric="blood_pressure").secondary_value == 79


def test_an_idempotency_key_replays_the_stored_answer(user, user_api_client):
    first = manual(user_api_client, WEIGHT, key="entry-1")
    Record.objects.for_user(user).delete()

    replay = manual(user_api_client, WEIGHT, key="entry-1")

    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert not Record.objects.exists()


def test_an_idempotency_key_reused_with_another_body_is_refused(user, user_api_client):
    manual(user_api_client, WEIGHT, key="entry-1")

    error = error_of(manual(user_api_client, PRESSURE, key="entry-1"), 422)

    assert error["code"] == "idempotency_key_reused"
    assert Record.objects.for_user(user).count() == 1


@pytest.mark.parametrize(
    "entry",
    [
        {**WEIGHT, "metric": "mood"},
        {**WEIGHT, "unit": "km"},
        {**WEIGHT, "value": 4000},
        {**WEIGHT, "end": "2025-01-14T07:00:00+01:00"},
        {**WEIGHT, "start": "2025-01-14T07:30:00"},
    ],
)
def test_bad_manual_entries_get_400_and_nothing_is_written(user_api_client, entry):
    response = manual(user_api_client, {"records": [PRESSURE, entry]}, key="k")

    assert error_of(response, 400)["code"] == "invalid"
    assert not Record.objects.exists()
    assert not IdempotentRequest.objects.exists()


def test_a_manual_entry_above_the_size_limit_is_refused(user_api_client):
    entries = [{**WEIGHT, "start": f"2025-01-14T07:{i % 60:02d}:{i // 60:02d}+01:00"} for i in range(501)]

    assert error_of(manual(user_api_client, {"records": entries}), 400)["code"] == "invalid"
    assert not Record.objects.exists()


def test_daily_aggregate_sums_each_days_winning_source(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "fitbit", 9, day=MORNING + timedelta(days=1))
    hourly_steps(user, "apple_health", 12)

    response = user_api_client.get(
        "/api/v1/aggregate", {"metric": "steps", "bucket": "day", "from": "2025-01-14", "to": "2025-01-15"}
    )

    buckets = response.json()["buckets"]
    assert [(b["start"], b["value"], b["sources"]) for b in buckets] == [
        ("2025-01-14", 5000, ["fitbit"]),
        ("2025-01-15", 4500, ["fitbit"]),
    ]
    assert all(b["quality"] > 0 for b in buckets)


def test_weekly_aggregate_combines_days(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "fitbit", 10, day=MORNING + timedelta(days=1))

    response = user_api_client.get(
        "/api/v1/aggregate", {"metric": "steps", "bucket": "week", "from": "2025-01-13", "to": "2025-01-19"}
    )

    assert response.json()["buckets"] == [
        {"start": "2025-01-13", "value": 10000, "secondary_value": None, "sources": ["fitbit"],
         "quality": response.json()["buckets"][0]["quality"], "count": 2}
    ]  # fmt: skip


def test_hourly_aggregate_in_a_time_zone_reads_the_records(user, user_api_client):
    hourly_steps(user, "fitbit", 3)

    response = user_api_client.get(
        "/api/v1/aggregate",
        {"metric": "steps", "bucket": "hour", "from": "2025-01-14", "to": "2025-01-14", "tz": "Asia/Kolkata"},
    )

    buckets = response.json()["buckets"]
    assert response.json()["timezone"] == "Asia/Kolkata"
    # Kolkata is UTC+05:30: local hours start at half past in UTC, so each sample is split in two.
    assert [(b["start"], b["value"]) for b in buckets] == [
        ("2025-01-14T13:00:00+05:30", 300),
        ("2025-01-14T14:00:00+05:30", 500),
        ("2025-01-14T15:00:00+05:30", 500),
        ("2025-01-14T16:00:00+05:30", 200),
    ]


def test_five_minute_heart_rate_buckets_average_the_samples(user, user_api_client):
    rates = [
        RecordIn(
            metric="heart_rate",
            start=MORNING + timedelta(minutes=m),
            value=60 + m,
            unit="bpm",
            source_key=f"h{m}",
        )
        for m in range(10)
    ]
    ingest(user=user, source="apple_health", records=rates, origin=SYNC)

    response = user_api_client.get(
        "/api/v1/aggregate",
        {
            "metric": "heart_rate",
            "bucket": "5min",
            "from": "2025-01-14T08:00:00Z",
            "to": "2025-01-14T09:00:00Z",
        },
    )

    assert [b["value"] for b in response.json()["buckets"]] == [62, 67]


@pytest.mark.parametrize(
    "query",
    [
        {"metric": "mood", "from": "2025-01-01", "to": "2025-01-02"},
        {"metric": "steps", "bucket": "fortnight", "from": "2025-01-01", "to": "2025-01-02"},
        {"metric": "steps", "from": "2025-01-01T00:00:00", "to": "2025-01-02"},
        {"metric": "steps", "from": "2025-01-02", "to": "2025-01-01"},
        {"metric": "steps", "bucket": "5min", "from": "2024-01-01", "to": "2025-01-01"},
        {"metric": "steps", "from": "2025-01-01", "to": "2025-01-02", "tz": "Mars/Base"},
    ],
)
def test_aggregate_refuses_bad_queries(user_api_client, query):
    assert error_of(user_api_client.get("/api/v1/aggregate", query), 400)["code"] == "invalid"


def test_aggregates_are_cached_until_the_next_ingest(user, user_api_client):
    hourly_steps(user, "fitbit", 2)
    query = {"metric": "steps", "from": "2025-01-14", "to": "2025-01-14"}
    hits = CACHE_HITS.labels(view="aggregate")._value.get()

    user_api_client.get("/api/v1/aggregate", query)
    cached = user_api_client.get("/api/v1/aggregate", query)
    hourly_steps(user, "fitbit", 4)
    fresh = user_api_client.get("/api/v1/aggregate", query)

    assert CACHE_HITS.labels(view="aggregate")._value.get() == hits + 1
    assert cached.json()["buckets"][0]["value"] == 1000
    assert fresh.json()["buckets"][0]["value"] == 2000


def test_summaries_are_cached_and_hits_and_misses_are_counted_at_the_metrics_endpoint(
    user, user_api_client, client, staff_user
):
    hourly_steps(user, "fitbit", 2)
    hits = CACHE_HITS.labels(view="summary")._value.get()
    misses = CACHE_MISSES.labels(view="summary")._value.get()

    first = user_api_client.get("/api/v1/summary", {"date": "2025-01-14"})
    second = user_api_client.get("/api/v1/summary", {"date": "2025-01-14"})
    hourly_steps(user, "fitbit", 3)
    third = user_api_client.get("/api/v1/summary", {"date": "2025-01-14"})
    client.force_login(staff_user)
    exposed = client.get("/metrics").content.decode()

    assert CACHE_MISSES.labels(view="summary")._value.get() == misses + 2
    assert CACHE_HITS.labels(view="summary")._value.get() == hits + 1
    assert first.json() == second.json()
    assert third.json()["categories"]["activity"]["steps"]["value"] == 1500
    assert 'hfa_data_cache_hits_total{view="summary"}' in exposed
    assert 'hfa_data_cache_misses_total{view="summary"}' in exposed


def test_no_cache_computes_afresh_without_touching_the_cache(user, user_api_client):
    hourly_steps(user, "fitbit", 2)
    query = {"metric": "steps", "from": "2025-01-14", "to": "2025-01-14"}
    misses = CACHE_MISSES.labels(view="aggregate")._value.get()

    response = user_api_client.get("/api/v1/aggregate", query, HTTP_CACHE_CONTROL="no-cache")

    assert response.json()["buckets"][0]["value"] == 1000
    assert CACHE_MISSES.labels(view="aggregate")._value.get() == misses


def test_api_responses_are_gzipped_when_accepted_and_keep_their_etag(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    query = {"metric": "steps", "bucket": "hour", "from": "2025-01-14", "to": "2025-01-14"}

    zipped = user_api_client.get("/api/v1/aggregate", query, HTTP_ACCEPT_ENCODING="gzip")
    plain = user_api_client.get("/api/v1/aggregate", query)
    again = user_api_client.get(
        "/api/v1/aggregate", query, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=zipped["ETag"]
    )

    assert zipped["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.content)) == plain.json()
    assert len(zipped.content) < len(plain.content)
    assert not plain.has_header("Content-Encoding")
    assert again.status_code == 304


def test_an_explained_aggregate_gives_each_days_winner_candidates_and_reason(user, user_api_client):
    hourly_steps(user, "fitbit", 3)
    hourly_steps(user, "apple_health", 14)
    user_api_client.put(
        "/api/v1/preferences/activity", {"sources": ["fitbit", "apple_health"]}, format="json"
    )

    body = user_api_client.get(
        "/api/v1/aggregate",
        {"metric": "steps", "bucket": "day", "from": "2025-01-14", "to": "2025-01-14", "explain": "true"},
    ).json()

    (day,) = body["days"]
    assert (day["date"], day["source"], day["value"], day["rule"]) == (
        "2025-01-14",
        "apple_health",
        7000,
        "fallback",
    )
    assert [(c["source"], c["priority"], c["value"], c["coverage_minutes"]) for c in day["candidates"]] == [
        ("fitbit", 1, 1500, 180),
        ("apple_health", 2, 7000, 840),
    ]
    assert day["reason"].startswith("Preferred fitbit (19%) below 50% completeness")
    assert body["buckets"][0]["sources"] == ["apple_health"]


def test_sub_day_buckets_explain_which_source_each_day_was_read_from(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "oura", 10)
    user_api_client.put("/api/v1/preferences/activity", {"sources": ["oura"]}, format="json")

    body = user_api_client.get(
        "/api/v1/aggregate",
        {"metric": "steps", "bucket": "hour", "from": "2025-01-14", "to": "2025-01-14", "explain": "1"},
    ).json()

    assert [(day["date"], day["source"], day["rule"]) for day in body["days"]] == [
        ("2025-01-14", "oura", "preferred")
    ]
    assert {source for bucket in body["buckets"] for source in bucket["sources"]} == {"oura"}
    assert sum(bucket["value"] for bucket in body["buckets"]) == 5000


def test_an_aggregate_of_one_source_explains_it_was_asked_for(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "oura", 4)

    body = user_api_client.get(
        "/api/v1/aggregate",
        {"metric": "steps", "from": "2025-01-14", "to": "2025-01-14", "source": "oura", "explain": "true"},
    ).json()

    assert body["buckets"][0]["value"] == 2000
    assert [(day["source"], day["rule"], len(day["candidates"])) for day in body["days"]] == [
        ("oura", "asked_for", 1)
    ]


def test_daily_summary_explains_each_resolved_value(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "oura", 3)

    response = user_api_client.get("/api/v1/summary", {"date": "2025-01-14"})

    steps = response.json()["categories"]["activity"]["steps"]
    assert (steps["value"], steps["source"]) == (5000, "fitbit")
    assert {c["source"] for c in steps["candidates"]} == {"fitbit", "oura"}
    assert steps["reason"]


def test_metrics_lists_the_registry(user_api_client):
    body = user_api_client.get("/api/v1/metrics").json()

    steps = next(metric for metric in body["metrics"] if metric["code"] == "steps")
    assert (steps["unit"], steps["aggregation"], steps["loinc"]) == ("count", "sum", "55423-8")
    assert "other" in body["workout_types"]


def test_sources_lists_date_ranges_and_counts(user, user_api_client):
    hourly_steps(user, "fitbit", 3)
    hourly_steps(user, "fitbit", 2, day=MORNING + timedelta(days=2))

    sources = user_api_client.get("/api/v1/sources").json()["sources"]

    assert sources == [
        {"source": "fitbit", "first_day": "2025-01-14", "last_day": "2025-01-16", "days": 2, "records": 5,
         "metrics": ["steps"]}
    ]  # fmt: skip


def test_preferences_are_read_and_replaced_per_category(user, user_api_client):
    response = user_api_client.put("/api/v1/preferences/sleep", {"sources": ["whoop", "oura"]}, format="json")

    assert response.json()["sources"][:2] == ["whoop", "oura"]
    assert user_api_client.get("/api/v1/preferences").json()["categories"]["sleep"][:2] == ["whoop", "oura"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/preferences/sleep", {"sources": ["garmin"]}),
        ("/api/v1/preferences/sleep", {"sources": ["oura", "oura"]}),
        ("/api/v1/preferences/moods", {"sources": ["oura"]}),
    ],
)
def test_a_preference_naming_unknowns_gets_400_and_nothing_is_stored(user_api_client, path, body):
    assert error_of(user_api_client.put(path, body, format="json"), 400)["code"] == "invalid"
    assert not SourcePreference.objects.exists()


def test_goals_are_created_read_updated_and_deleted(user, user_api_client):
    created = user_api_client.post("/api/v1/goals", {"metric": "steps", "target": 8000}, format="json")
    goal_id = created.json()["id"]

    user_api_client.patch(f"/api/v1/goals/{goal_id}", {"target": 9000}, format="json")
    listed = user_api_client.get("/api/v1/goals").json()
    deleted = user_api_client.delete(f"/api/v1/goals/{goal_id}")

    assert created.status_code == 201
    assert listed[0]["target"] == 9000 and listed[0]["unit"] == "count"
    assert deleted.status_code == 204
    assert not Goal.objects.exists()


def test_goal_progress_compares_each_period_with_the_target(user, user_api_client):
    hourly_steps(user, "fitbit", 10)
    hourly_steps(user, "fitbit", 4, day=MORNING + timedelta(days=1))
    goal = Goal.objects.create(user=user, metric="steps", target=4000)

    body = user_api_client.get(
        f"/api/v1/goals/{goal.pk}/progress", {"from": "2025-01-14", "to": "2025-01-15"}
    ).json()

    assert [(p["start"], p["met"]) for p in body["periods"]] == [("2025-01-14", True), ("2025-01-15", False)]
    assert (body["met"], body["total"]) == (1, 2)


@pytest.mark.parametrize(
    "body",
    [
        {"metric": "blood_pressure", "target": 120},
        {"metric": "heart_rate_max", "target": 180},
        {"metric": "steps", "target": -5},
        {"metric": "steps", "target": 100, "period": "year"},
    ],
)
def test_a_goal_on_a_metric_that_cannot_aggregate_or_out_of_range_is_refused(user_api_client, body):
    assert error_of(user_api_client.post("/api/v1/goals", body, format="json"), 400)["code"] == "invalid"
    assert not Goal.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/goals/{id}"),
        ("patch", "/api/v1/goals/{id}"),
        ("put", "/api/v1/goals/{id}"),
        ("delete", "/api/v1/goals/{id}"),
        ("get", "/api/v1/goals/{id}/progress"),
    ],
)
def test_another_users_goal_is_not_found(user_api_client, other_user, method, path):
    goal = Goal.objects.create(user=other_user, metric="steps", target=5000)

    response = getattr(user_api_client, method)(path.format(id=goal.pk), {"target": 1}, format="json")

    assert error_of(response, 404)["code"] == "not_found"
    assert Goal.objects.get(pk=goal.pk).target == 5000


DATA_PATHS = (
    "/api/v1/records", "/api/v1/sessions", "/api/v1/aggregate", "/api/v1/summary", "/api/v1/metrics",
    "/api/v1/sources", "/api/v1/preferences", "/api/v1/goals",
)  # fmt: skip


def _has_example(operation: dict) -> bool:
    text = json.dumps(operation)
    return '"examples":' in text or '"example":' in text


def test_the_schema_documents_every_data_endpoint_with_examples(user_api_client):
    schema = user_api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    operations = {
        (method, path): operation
        for path, methods in schema["paths"].items()
        if path.startswith(DATA_PATHS)
        for method, operation in methods.items()
    }
    expected = [
        ("post", "/api/v1/records/manual"),
        ("get", "/api/v1/goals/{id}/progress"),
        ("put", "/api/v1/preferences/{category}"),
    ]
    assert all(key in operations for key in expected)
    # A DELETE answers 204 with no body: nothing to show by example.
    undocumented = [key for key, op in operations.items() if key[0] != "delete" and not _has_example(op)]
    assert undocumented == []
    assert all(operation.get("description") for operation in operations.values())


@pytest.mark.parametrize(
    ("day", "first_utc", "hours", "first_start", "last_start"),
    [
        ("2025-03-30", datetime(2025, 3, 30, 0, 0, tzinfo=UTC), 23, "00:00:00+00:00", "23:00:00+01:00"),
        ("2025-10-26", datetime(2025, 10, 25, 23, 0, tzinfo=UTC), 25, "00:00:00+01:00", "23:00:00+00:00"),
    ],
)
def test_hourly_buckets_of_a_dst_day_cover_its_23_or_25_hours_and_the_day_sums_them(
    user, user_api_client, day, first_utc, hours, first_start, last_start
):
    user.timezone = "Europe/London"
    user.save()
    hourly_steps(user, "fitbit", hours, per_hour=100, day=first_utc)

    hourly = user_api_client.get(
        "/api/v1/aggregate", {"metric": "steps", "bucket": "hour", "from": day, "to": day}
    ).json()["buckets"]
    daily = user_api_client.get(
        "/api/v1/aggregate", {"metric": "steps", "bucket": "day", "from": day, "to": day}
    ).json()["buckets"]

    assert len(hourly) == hours
    assert (hourly[0]["start"], hourly[-1]["start"]) == (f"{day}T{first_start}", f"{day}T{last_start}")
    assert len({bucket["start"] for bucket in hourly}) == hours
    assert all(bucket["value"] == 100 for bucket in hourly)
    assert [(bucket["start"], bucket["value"]) for bucket in daily] == [(day, 100 * hours)]


def test_five_minute_buckets_read_only_the_days_winning_source(user, user_api_client):
    for source, rate in (("oura", 50), ("fitbit", 90)):
        samples = [
            RecordIn(metric="heart_rate", start=MORNING + timedelta(minutes=m), value=rate, unit="bpm",
                     source_key=f"{source}{m}")
            for m in range(0, 60 * 10, 30)
        ]  # fmt: skip
        ingest(user=user, source=source, records=samples, origin=SYNC)
    user_api_client.put("/api/v1/preferences/heart", {"sources": ["oura", "fitbit"]}, format="json")
    query = {"metric": "heart_rate", "bucket": "5min", "from": "2025-01-14T08:00Z", "to": "2025-01-14T09:00Z"}

    resolved = user_api_client.get("/api/v1/aggregate", query).json()["buckets"]
    asked = user_api_client.get("/api/v1/aggregate", {**query, "source": "fitbit"}).json()["buckets"]

    assert {(tuple(b["sources"]), b["value"]) for b in resolved} == {(("oura",), 50)}
    assert {(tuple(b["sources"]), b["value"]) for b in asked} == {(("fitbit",), 90)}
    assert len(resolved) == 2
