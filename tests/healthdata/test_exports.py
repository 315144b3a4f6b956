import csv
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

from healthdata.ingest import ingest
from healthdata.models import DailyRollup, Goal, Record, Session
from healthdata.normalized import Origin, RecordIn, SessionIn
from preferences.models import SourcePreference
from preferences.order import replace_order
from users.erasure import erase_account
from users.export import write_archive

EST = timezone(timedelta(hours=-5))
T0 = datetime(2025, 1, 14, 7, 0, tzinfo=EST)


def fill(user):
    weight = RecordIn(metric="weight", start=T0, value=72.5, unit="kg", source_key="w1")
    pressure = RecordIn(
        metric="blood_pressure", start=T0, value=120, secondary_value=80, unit="mmHg", source_key="b1"
    )
    run = SessionIn(kind="workout", start=T0, end=T0 + timedelta(minutes=30), activity_type="running")
    ingest(user=user, source="withings", records=[weight, pressure, run], origin=Origin(kind="sync", id=1))
    Goal.objects.create(user=user, metric="weight", target=70, comparison="at_most")
    replace_order(user, "body", ["withings"])


def test_the_export_holds_records_as_importable_csv_with_sessions_goals_and_source_order(user, tmp_path):
    fill(user)

    write_archive(user, tmp_path / "export.zip")

    with zipfile.ZipFile(tmp_path / "export.zip") as archive:
        rows = list(
            csv.DictReader(io.TextIOWrapper(archive.open("healthdata/records.csv"), encoding="utf-8"))
        )
        sessions = json.loads(archive.read("healthdata/sessions.json"))
        goals = json.loads(archive.read("healthdata/goals.json"))
        orders = json.loads(archive.read("preferences/source_order.json"))
    weight = next(row for row in rows if row["metric"] == "weight")
    assert (weight["timestamp"], weight["value"], weight["unit"], weight["source"]) == (
        "2025-01-14T07:00:00-05:00", "72.5", "kg", "withings",
    )  # fmt: skip
    assert next(row for row in rows if row["metric"] == "blood_pressure")["notes"] == "diastolic 80"
    assert sessions[0]["activity_type"] == "running"
    assert goals[0]["metric"] == "weight"
    assert orders[0]["sources"] == ["withings"]


def test_erasing_an_account_removes_all_its_health_data_and_preferences(user, other_user):
    fill(user)
    fill(other_user)

    erase_account(user.pk)

    for model in (Record, Session, DailyRollup, Goal, SourcePreference):
        assert not model.objects.filter(user_id=user.pk).exists()
        assert model.objects.filter(user=other_user).exists()
