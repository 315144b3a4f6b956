"""Withings data-update notifications.

Withings probes the callback with HEAD and then POSTs a form-encoded body (`userid`, `appli`,
`startdate`, `enddate`). Notifications are not signed: they are hints, answered within 2 seconds,
and the data is always re-fetched with the user's token.
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from django.http import HttpRequest, HttpResponse

from integrations.providers.base import Notification, WebhookRejected

# `appli` -> the data types to re-fetch (notification categories of the Withings docs).
APPLI_DATA_TYPES = {
    1: ("measures",),
    2: ("measures",),
    4: ("measures",),
    16: ("activity", "workouts"),
    44: ("sleep",),
    52: ("measures",),
}
UNLINK_APPLI = 46
MARGIN = timedelta(days=1)


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    """Withings checks the callback URL with HEAD (and some tools with GET): both get a plain 200."""
    if request.method in {"HEAD", "GET"}:
        return HttpResponse(status=200)
    return None


def _epoch(value: list[str] | None, shift: timedelta) -> datetime | None:
    if not value or not value[0].isdigit():
        return None
    return datetime.fromtimestamp(int(value[0]), UTC) + shift


def parse(request: HttpRequest) -> list[Notification]:
    """The form body -> what to re-read; unsigned, so it is only ever a hint."""
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Notification]:
    form = parse_qs(body.decode("utf-8", errors="replace"))
    user_id = (form.get("userid") or [""])[0]
    appli = (form.get("appli") or [""])[0]
    if not user_id or not appli.isdigit():
        raise WebhookRejected("a Withings notification names a userid and an appli")
    if int(appli) == UNLINK_APPLI:
        return [
            Notification(external_user_id=user_id, deauthorized=(form.get("action") or [""])[0] != "update")
        ]
    data_types = APPLI_DATA_TYPES.get(int(appli))
    if not data_types:
        return []
    # Widened by a day: calls filter on local dates and on bounds Withings does not document.
    start, end = _epoch(form.get("startdate"), -MARGIN), _epoch(form.get("enddate"), MARGIN)
    return [Notification(external_user_id=user_id, data_types=data_types, start=start, end=end)]
