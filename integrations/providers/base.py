"""What every data source implements, and the small types the sync engine and webhooks exchange.

A provider folder's `source.py` names its class `Source` (as Django names `Command`):

    class Source(DataSource):
        slug = "acme"                      # the `source` on records and the allauth provider id
        name = "Acme"
        data_types = ("sleep", "activity")
        history_days = 365                 # how far back the provider serves data; None: no limit
        scopes = ("read:sleep", "read:activity")
        client_class = AcmeClient          # an integrations.http.ApiClient subclass

        def fetch(self, data_type, start, end): ...      # paging and date windows
        def to_records(self, data_type, item): ...       # pure mapping

Hosts come from settings named after the slug: `ACME_API_BASE_URL`, `ACME_TOKEN_URL`,
`ACME_AUTHORIZE_URL` (override the `*_url` class methods when a provider differs). Client id
and secret come from allauth's SocialApp (database or `SOCIALACCOUNT_PROVIDERS[slug]["APP"]`).

A provider's `webhook.py` (only when `pushes_webhooks`) provides two functions:

    def verify_handshake(request: HttpRequest) -> HttpResponse | None
        The answer to a subscription check (a GET challenge, a HEAD probe), or None when the
        request is a delivery.
    def parse(request: HttpRequest) -> list[Notification]
        Check the signature (raise WebhookRejected when it is wrong) and list what changed.
    ACK_STATUS = 204   (optional: the status the provider expects for a delivery; default 200)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import MultipleObjectsReturned

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import ApiClient, AuthRevoked, ProviderError


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What a token endpoint returned; `refresh_token` None means "keep the one you have"."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    external_user_id: str = ""

    def __repr__(self) -> str:  # tokens never reach a log line or a traceback
        return f"TokenSet(expires_at={self.expires_at!r}, scopes={self.scopes!r})"


@dataclass(frozen=True, slots=True)
class Notification:
    """One change a provider pushed: whose data, which data types, which time span."""

    external_user_id: str  # matched against Connection.external_user_id
    data_types: tuple[str, ...] = ()  # empty: every data type of the source
    start: datetime | None = None
    end: datetime | None = None
    delivery_id: str = ""  # the provider's id for this event; "" dedupes on a hash of the body
    deauthorized: bool = False  # the user withdrew access at the provider
    metadata: dict[str, Any] = field(default_factory=dict)


class WebhookRejected(Exception):
    """A delivery whose signature, secret or shape is wrong; answered 401 and ignored."""


class DataSource:
    """Everything the sync engine needs to know about one provider."""

    slug: ClassVar[str]  # the `source` stored on records, and the allauth provider id
    name: ClassVar[str]  # shown to people: "Oura", "Fitbit (Google Health)"
    data_types: ClassVar[tuple[str, ...]]
    history_days: ClassVar[int | None] = None  # how far back the provider serves data
    scopes: ClassVar[tuple[str, ...]] = ()  # the minimal scopes the connect flow asks for
    metrics: ClassVar[tuple[str, ...]] = ()  # metric codes it produces (shown as capabilities)
    pushes_webhooks: ClassVar[bool] = False
    supports_pkce: ClassVar[bool] = False
    can_revoke: ClassVar[bool] = True
    import_only: ClassVar[bool] = False  # data arrives through export files, not an API
    import_presets: ClassVar[tuple[str, ...]] = ()  # the imports app's presets for its files
    retention_days: ClassVar[int | None] = None  # provider terms: default days data may be kept
    client_class: ClassVar[type[ApiClient]] = ApiClient
    do_not_call_in_templates: ClassVar[bool] = True  # templates read the class's attributes

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    # -- configuration -------------------------------------------------------------------------
    @classmethod
    def setting(cls, name: str, default: str = "") -> str:
        return getattr(settings, f"{cls.slug.upper()}_{name}", default)

    @classmethod
    def api_base_url(cls) -> str:
        return cls.setting("API_BASE_URL")

    @classmethod
    def token_url(cls) -> str:
        return cls.setting("TOKEN_URL")

    @classmethod
    def authorize_url(cls) -> str:
        return cls.setting("AUTHORIZE_URL")

    @classmethod
    def app_credentials(cls) -> tuple[str, str]:
        """(client id, client secret): the allauth SocialApp's, else `<SLUG>_CLIENT_ID` / `_SECRET`."""
        from allauth.socialaccount.adapter import get_adapter
        from allauth.socialaccount.models import SocialApp

        try:
            app = get_adapter().get_app(None, provider=cls.slug)
        except SocialApp.DoesNotExist:
            if cls.setting("CLIENT_ID"):
                return cls.setting("CLIENT_ID"), cls.setting("CLIENT_SECRET")
            raise
        return app.client_id, app.secret

    @classmethod
    def is_configured(cls) -> bool:
        """Offered to users only with a SocialApp (credentials) for it."""
        if cls.import_only:
            return True
        from allauth.socialaccount.models import SocialApp

        try:
            return bool(cls.app_credentials()[0])
        except (SocialApp.DoesNotExist, MultipleObjectsReturned):
            return False

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        return {
            "slug": cls.slug,
            "name": cls.name,
            "data_types": list(cls.data_types),
            "metrics": list(cls.metrics),
            "history_days": cls.history_days,
            "pushes_webhooks": cls.pushes_webhooks,
            "supports_pkce": cls.supports_pkce,
            "import_only": cls.import_only,
            "import_presets": list(cls.import_presets),
        }

    # -- data ----------------------------------------------------------------------------------
    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        """Yield raw items for [start, end); paging and date windows are handled here."""
        raise NotImplementedError

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        """Map one raw item to unified records. Pure: no I/O, no database."""
        raise NotImplementedError

    # -- tokens (through self.client, so they count, retry and respect the circuit) ------------
    def refresh_token(self, refresh_token: str) -> TokenSet:
        """Exchange a refresh token (RFC 6749 §6); raise AuthRevoked on `invalid_grant`."""
        client_id, client_secret = self.app_credentials()
        response = self.client.request(
            "POST",
            self.token_url(),
            authenticated=False,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        return self.parse_token_response(response.json())

    def parse_token_response(self, body: dict[str, Any]) -> TokenSet:
        """A standard token response; providers with envelopes or other fields override this."""
        if not isinstance(body, dict) or "access_token" not in body:
            if isinstance(body, dict) and body.get("error") == "invalid_grant":
                raise AuthRevoked(f"{self.slug} refused the refresh token")
            raise ProviderError(f"{self.slug} token endpoint answered without an access token")
        return TokenSet(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_at=_expiry(body),
            scopes=tuple(_split_scopes(body.get("scope", ""))),
            external_user_id=str(body.get("user_id") or body.get("userid") or ""),
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Withdraw the grant at the provider; True when the provider confirmed it."""
        return False


def _expiry(body: dict[str, Any]) -> datetime | None:
    if body.get("expires_at"):
        return datetime.fromtimestamp(int(body["expires_at"]), tz=UTC)
    if body.get("expires_in"):
        return datetime.now(tz=UTC) + timedelta(seconds=int(body["expires_in"]))
    return None


def _split_scopes(scope: str | list[str]) -> list[str]:
    if isinstance(scope, list):
        return scope
    return [part for part in scope.replace(",", " ").split() if part]


def date_windows(start: datetime, end: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
    """Split [start, end) into consecutive windows of at most `days` days, oldest first."""
    step = timedelta(days=days)
    cursor = start
    while cursor < end:
        stop = min(cursor + step, end)
        yield cursor, stop
        cursor = stop
