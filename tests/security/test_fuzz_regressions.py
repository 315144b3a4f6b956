"""Inputs the schema fuzzer (test_fuzz.py, seed 20261203) once broke on, kept as plain tests."""

import pytest

from tests.factories import ImportJobFactory
from users.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api_client):
    return api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_a_key_made_without_a_scope_is_read_only(user_api_client, user):
    response = user_api_client.post("/api/v1/api-keys", {"name": "0"}, format="json")

    assert response.status_code == 201
    assert response.json()["scope"] == "read"
    assert ApiKey.objects.get(user=user).scope == "read"


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not {"400", "401", "403", "404", "429"} <= operation["responses"].keys()
    ]

    assert not undocumented
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]


def test_manual_entry_documents_the_object_it_answers(schema, user_api_client):
    documented = schema["paths"]["/api/v1/records/manual"]["post"]["responses"]["201"]
    weight = {"metric": "weight", "value": 72.4, "unit": "kg", "start": "2025-01-14T07:30:00+01:00"}
    answer = user_api_client.post("/api/v1/records/manual", {"records": [weight]}, format="json")

    reference = documented["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][reference]["properties"]
    assert answer.status_code == 201
    assert set(answer.json()) == set(properties) == {"created", "updated", "unchanged", "records"}


def test_a_staged_csv_upload_documents_its_201(schema):
    assert "201" in schema["paths"]["/api/v1/imports/csv/uploads"]["post"]["responses"]


def test_a_number_for_a_name_is_refused_not_turned_into_text(user_api_client, user):
    response = user_api_client.patch("/api/v1/me", {"last_name": 1.7976931348623157e308}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"]["last_name"]
    user.refresh_from_db()
    assert user.last_name == ""


def test_a_blank_summary_date_is_refused_in_the_error_shape(user_api_client):
    response = user_api_client.get("/api/v1/summary?date=")

    assert response.status_code == 400
    assert response.json()["error"]["details"]["date"]


def test_an_import_that_has_not_started_documents_its_null_duration(schema, user_api_client, user):
    job = ImportJobFactory(user=user, status="queued", started_at=None)
    documented = schema["components"]["schemas"]["ImportJob"]["properties"]["duration_seconds"]

    answer = user_api_client.get(f"/api/v1/imports/{job.pk}")

    assert answer.json()["duration_seconds"] is None
    assert documented.get("nullable") is True
