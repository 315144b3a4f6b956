from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from healthdata.ingest import ingest
from healthdata.models import DailyRollup, Goal, Record, Session
from healthdata.normalized import Origin, RecordIn, SessionIn
from tests.factories import PASSWORD

T0 = datetime(2025, 1, 14, 8, 0, tzinfo=UTC)


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.login(email=staff_user.email, password=PASSWORD)
    return client


@pytest.fixture
def data(user):
    steps = RecordIn(metric="steps", start=T0, end=T0 + timedelta(minutes=5), value=300, unit="count")
    run = SessionIn(kind="workout", start=T0, end=T0 + timedelta(minutes=30), activity_type="running")
    ingest(user=user, source="fitbit", records=[steps, run], origin=Origin(kind="sync", id=1))
    Goal.objects.create(user=user, metric="steps", target=8000)


@pytest.mark.parametrize("model", [Record, Session, DailyRollup, Goal])
def test_staff_can_list_search_and_open_each_data_model(admin_client, data, user, model):
    name = model._meta.model_name
    listed = admin_client.get(f"/admin/healthdata/{name}/", {"q": user.email})
    opened = admin_client.get(f"/admin/healthdata/{name}/{model.objects.first().pk}/change/")

    assert listed.status_code == 200
    assert user.email in listed.content.decode()
    assert opened.status_code == 200


def test_record_raw_data_is_read_only_in_the_admin(admin_client, data):
    record = Record.objects.get(metric="steps")

    page = admin_client.get(f"/admin/healthdata/record/{record.pk}/change/").content.decode()

    assert 'name="value"' not in page
    assert admin_client.get("/admin/healthdata/record/add/").status_code == 403
