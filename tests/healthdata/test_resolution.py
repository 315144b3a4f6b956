from datetime import UTC, date, datetime, timedelta

from healthdata import resolution
from healthdata.ingest import ingest
from healthdata.metrics import METRICS
from healthdata.models import Session
from healthdata.normalized import Origin, RecordIn, SessionIn
from healthdata.resolution import link_duplicate_sessions, resolve
from preferences.order import replace_order

DAY = date(2025, 1, 14)
SYNC = Origin(kind="sync", id=1)


def hourly_steps(source, hours, per_hour=500):
    start = datetime(2025, 1, 14, 6, 0, tzinfo=UTC)
    records = [
        RecordIn(
            metric="steps",
            start=start + timedelta(hours=h),
            end=start + timedelta(hours=h, minutes=50),
            value=per_hour,
            unit="count",
            source_key=f"{source}{h}",
        )
        for h in range(hours)
    ]
    return records


def test_the_preferred_source_wins_when_its_day_is_complete_enough(user):
    replace_order(user, "activity", ["fitbit", "apple_health"])
    ingest(user=user, source="fitbit", records=hourly_steps("f", 10), origin=SYNC)
    ingest(user=user, source="apple_health", records=hourly_steps("a", 14, 600), origin=SYNC)

    resolved = resolve(user, METRICS["steps"], DAY, DAY)[DAY]
    assert (resolved.source, resolved.value) == ("fitbit", 5000)
    assert [candidate.source for candidate in resolved.candidates] == ["fitbit", "apple_health"]
    assert "preferred" in resolved.reason


def test_a_preferred_source_with_too_little_data_falls_back_to_the_next(user):
    replace_order(user, "activity", ["fitbit", "apple_health"])
    ingest(user=user, source="fitbit", records=hourly_steps("f", 3), origin=SYNC)
    ingest(user=user, source="apple_health", records=hourly_steps("a", 14, 600), origin=SYNC)

    resolved = resolve(user, METRICS["steps"], DAY, DAY)[DAY]
    assert (resolved.source, resolved.value) == ("apple_health", 8400)
    assert "fitbit (19%)" in resolved.reason


def test_when_no_source_is_complete_enough_the_most_complete_wins(user):
    replace_order(user, "activity", ["fitbit", "apple_health"])
    ingest(user=user, source="fitbit", records=hourly_steps("f", 2), origin=SYNC)
    ingest(user=user, source="apple_health", records=hourly_steps("a", 5), origin=SYNC)

    assert resolve(user, METRICS["steps"], DAY, DAY)[DAY].source == "apple_health"


def workout(source, start_minute, minutes, activity_type="running"):
    start = datetime(2025, 1, 14, 7, 0, tzinfo=UTC) + timedelta(minutes=start_minute)
    return SessionIn(
        kind="workout", start=start, end=start + timedelta(minutes=minutes), activity_type=activity_type
    )


def test_the_same_workout_from_two_providers_is_linked_as_one(user):
    ingest(user=user, source="strava", records=[workout("strava", 0, 34)], origin=SYNC)
    ingest(user=user, source="apple_health", records=[workout("apple_health", 1, 33)], origin=SYNC)

    apple = Session.objects.get(user=user, source="apple_health")
    assert apple.duplicate_of == Session.objects.get(user=user, source="strava")


def test_different_types_or_durations_are_not_linked(user):
    ingest(user=user, source="strava", records=[workout("strava", 0, 60)], origin=SYNC)
    ingest(user=user, source="fitbit", records=[workout("fitbit", 0, 60, "cycling")], origin=SYNC)
    ingest(user=user, source="apple_health", records=[workout("apple_health", 0, 20)], origin=SYNC)

    assert not Session.objects.filter(duplicate_of__isnull=False).exists()


def sleep(start_minute, minutes, stages=()):
    start = datetime(2025, 1, 13, 22, 0, tzinfo=UTC) + timedelta(minutes=start_minute)
    return SessionIn(kind="sleep", start=start, end=start + timedelta(minutes=minutes), stages=stages)


def test_the_same_night_from_two_providers_is_linked_and_its_time_asleep_counted_once(user):
    ingest(user=user, source="oura", records=[sleep(0, 480)], origin=SYNC)
    ingest(user=user, source="fitbit", records=[sleep(12, 455)], origin=SYNC)

    fitbit = Session.objects.get(user=user, source="fitbit")
    assert fitbit.duplicate_of == Session.objects.get(user=user, source="oura")
    resolved = resolve(user, METRICS["time_in_bed"], DAY, DAY)
    assert (resolved[DAY].source, resolved[DAY].value) == ("fitbit", 455)
    assert {c.source for c in resolved[DAY].candidates} == {"oura", "fitbit"}


def test_a_nap_inside_another_providers_night_is_not_linked(user):
    ingest(user=user, source="oura", records=[sleep(0, 480)], origin=SYNC)
    ingest(user=user, source="fitbit", records=[sleep(120, 45)], origin=SYNC)

    assert not Session.objects.filter(duplicate_of__isnull=False).exists()


def test_linking_is_kept_when_the_same_sessions_are_ingested_again(user):
    for _ in range(2):
        ingest(user=user, source="strava", records=[workout("strava", 0, 34)], origin=SYNC)
        ingest(user=user, source="apple_health", records=[workout("apple_health", 1, 33)], origin=SYNC)

    linked = Session.objects.filter(duplicate_of__isnull=False)
    assert list(linked.values_list("source", flat=True)) == ["apple_health"]


def test_a_batch_of_sessions_finds_each_its_own_twin_in_a_fixed_number_of_queries(
    user, django_assert_max_num_queries
):
    days = range(0, 10 * 24 * 60, 24 * 60)
    ingest(user=user, source="strava", records=[workout("strava", day, 34) for day in days], origin=SYNC)
    ingest(
        user=user, source="fitbit", records=[workout("fitbit", day + 600, 20) for day in days], origin=SYNC
    )
    ingest(
        user=user,
        source="apple_health",
        records=[workout("apple_health", day + 1, 33) for day in days],
        origin=SYNC,
    )
    apple = Session.objects.filter(user=user, source="apple_health")
    twins = {session.start: session.duplicate_of for session in apple}
    assert all(
        twin.source == "strava" and twin.start == start - timedelta(minutes=1)
        for start, twin in twins.items()
    )
    apple.update(duplicate_of=None)
    ids = list(apple.values_list("pk", flat=True))

    with django_assert_max_num_queries(3):  # the sessions, those near them, the links
        linked = link_duplicate_sessions(user, ids)

    assert linked == 10


def test_a_batch_of_one_sources_sessions_reads_only_other_sources_as_candidates(user, monkeypatch):
    """An import's earlier nights are no twins of its later ones: they are not even read."""
    days = range(0, 20 * 24 * 60, 24 * 60)
    ingest(
        user=user,
        source="apple_health",
        records=[workout("apple_health", day, 33) for day in days],
        origin=SYNC,
    )
    ingest(user=user, source="strava", records=[workout("strava", 0, 34)], origin=SYNC)
    read = []
    monkeypatch.setattr(resolution.Nearby, "__init__", _recording(resolution.Nearby.__init__, read))
    Session.objects.filter(user=user).update(duplicate_of=None)
    ids = list(Session.objects.filter(user=user, source="apple_health").values_list("pk", flat=True))

    assert link_duplicate_sessions(user, ids) == 1

    assert [session.source for session in read] == ["strava"]


def _recording(init, read: list):
    def recording(nearby, sessions):
        sessions = list(sessions)
        read.extend(sessions)
        init(nearby, sessions)

    return recording


def test_sessions_of_two_sources_linked_in_one_call_make_one_link_not_a_cycle(user):
    ingest(user=user, source="strava", records=[workout("strava", 0, 34)], origin=SYNC)
    ingest(user=user, source="fitbit", records=[workout("fitbit", 1, 33)], origin=SYNC)
    Session.objects.filter(user=user).update(duplicate_of=None)
    ids = list(Session.objects.filter(user=user).order_by("pk").values_list("pk", flat=True))

    assert link_duplicate_sessions(user, ids) == 1

    links = dict(Session.objects.filter(user=user).values_list("source", "duplicate_of__source"))
    assert links == {"strava": "fitbit", "fitbit": None}  # the first stored links to the other


def test_a_twin_is_found_among_many_sessions_of_other_lengths(user):
    """Twins are looked up in time order: a long session that began well before still overlaps."""
    ingest(user=user, source="oura", records=[sleep(-24 * 60, 30 * 60)], origin=SYNC)  # 30 hours
    naps = [sleep(minute, 20) for minute in range(-20 * 60, 6 * 60, 97)]
    ingest(user=user, source="withings", records=naps, origin=SYNC)
    ingest(user=user, source="fitbit", records=[sleep(-24 * 60 + 5, 30 * 60 - 10)], origin=SYNC)

    fitbit = Session.objects.get(user=user, source="fitbit")
    assert fitbit.duplicate_of == Session.objects.get(user=user, source="oura")
    assert not Session.objects.filter(source="withings", duplicate_of__isnull=False).exists()
