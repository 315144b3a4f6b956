import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict

from config.renderers import FastJSONRenderer

BODIES = [
    {
        "metric": "steps",
        "buckets": [{"start": "2025-01-14", "value": 9120.0, "sources": ["oura"], "count": 1}],
    },
    [1, -2, 0.1, 0.1 + 0.2, 1e15, 1e16, 2.5e-300, 12345678901234567, True, False, None, "", []],
    {"text": 'quotes " and \\ slashes / tabs \t lines \n bells \x07', "unicode": "café ☕ 𝄞"},
    {"separators": "a\u2028b\u2029c"},
    {"moments": [datetime(2025, 1, 14, 8, 30, 15, 123456, tzinfo=UTC), datetime(2025, 1, 14, 9, 0)]},
    {"paris": datetime.fromisoformat("2025-01-14T09:00:00+01:00"), "day": date(2025, 1, 14)},
    {"time": time(7, 30), "duration": timedelta(minutes=90), "amount": Decimal("12.50")},
    {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("This field is required."),
    },
    {"detail": ErrorDetail("Not found.", code="not_found"), "list": (1, 2), "set": {3}},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
    ReturnDict({"serializer": "output"}, serializer=None),
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_are_written_byte_for_byte_as_drf_writes_them(body):
    assert FastJSONRenderer().render(body) == JSONRenderer().render(body)


def test_a_small_float_reads_back_the_same_though_its_exponent_is_not_padded():
    rendered = FastJSONRenderer().render([1e-7, 5e-324])

    assert rendered == b"[1e-7,5e-324]"
    assert json.loads(rendered) == json.loads(JSONRenderer().render([1e-7, 5e-324]))


def test_no_body_is_an_empty_response():
    assert FastJSONRenderer().render(None) == b""


def test_an_indent_asked_for_is_honoured_as_drf_honours_it():
    body = {"metric": "steps", "buckets": [{"value": 1.0}]}

    rendered = FastJSONRenderer().render(body, "application/json; indent=2")

    assert rendered == JSONRenderer().render(body, "application/json; indent=2")
    assert rendered.startswith(b'{\n  "metric"')


def test_a_float_that_json_cannot_hold_is_written_as_null():
    assert FastJSONRenderer().render({"value": math.nan, "other": math.inf}) == b'{"value":null,"other":null}'


def test_an_unknown_type_still_fails_as_it_does_with_drf():
    with pytest.raises(TypeError):
        FastJSONRenderer().render({"object": object()})


def test_the_api_answers_with_it_compact_or_indented(user_api_client):
    compact = user_api_client.get("/api/v1/me")
    indented = user_api_client.get("/api/v1/me", HTTP_ACCEPT="application/json; indent=4")

    assert compact["Content-Type"] == "application/json"
    assert b"\n" not in compact.content and compact.content.startswith(b'{"')
    assert indented.content.startswith(b'{\n    "')
    assert indented.json() == compact.json()
