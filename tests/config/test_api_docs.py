"""The OpenAPI schema and Swagger UI, served from local assets and within the CSP."""

import pytest

from tests.config.test_security import INLINE_SCRIPT


@pytest.mark.django_db
def test_schema_describes_the_v1_api(api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    schema = response.json()
    assert response.status_code == 200
    assert schema["info"]["title"] == "Health & Fitness Analytics API"
    assert "/api/v1/me" in schema["paths"]
    assert "sessionToken" in schema["components"]["securitySchemes"]


@pytest.mark.django_db
def test_swagger_ui_loads_its_assets_locally_and_no_inline_script(client):
    page = client.get("/api/v1/docs/").content.decode()
    script = client.get("/api/v1/docs/?script=")

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page
    assert not INLINE_SCRIPT.search(page)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v1/schema/" in script.content
