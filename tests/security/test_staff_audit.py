"""Every staff read of a person's health data in the admin leaves an audit event naming that person."""

import pytest
from django.test import Client

from tests.factories import ImportJobFactory, RecordFactory, SleepSessionFactory
from users.models import AuditEvent

VIEWED = "staff.viewed_health_data"


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_opening_an_import_job_with_rejected_rows_is_audited(staff_client, staff_user, user):
    job = ImportJobFactory(user=user, rejected_rows=[{"line": 3, "reason": "bad date", "raw": "x,72"}])

    response = staff_client.get(f"/admin/imports/importjob/{job.pk}/change/")

    assert response.status_code == 200
    event = AuditEvent.objects.get(action=VIEWED)
    assert (event.user_id, event.actor_id, event.target) == (user.pk, staff_user.pk, f"importjob:{job.pk}")


@pytest.mark.parametrize(("label", "make"), [("record", RecordFactory), ("session", SleepSessionFactory)])
def test_an_unfiltered_list_is_audited_for_each_person_it_shows(staff_client, user, other_user, label, make):
    make(user=user)
    make(user=other_user)

    response = staff_client.get(f"/admin/healthdata/{label}/")

    assert response.status_code == 200
    shown = AuditEvent.objects.filter(action=VIEWED, target=f"{label}:list")
    assert sorted(shown.values_list("user_id", flat=True)) == sorted([user.pk, other_user.pk])


def test_a_refused_page_records_no_read(client, user):
    record = RecordFactory(user=user)
    client.force_login(user)

    client.get(f"/admin/healthdata/record/{record.pk}/change/")
    client.get("/admin/healthdata/record/")

    assert not AuditEvent.objects.filter(action=VIEWED).exists()
