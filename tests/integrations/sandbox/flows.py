"""Each provider's OAuth calls written the way its documentation says, for the sandbox tests."""

import base64
import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings

REDIRECT_URI = "http://127.0.0.1:9/callback"
AUTHORIZE_PATHS = {
    "withings": "/oauth2_user/authorize2",
    "oura": "/oauth/authorize",
    "fitbit": "/o/oauth2/v2/auth",
    "whoop": "/oauth/oauth2/auth",
    "strava": "/oauth/authorize",
}
TOKEN_PATHS = {
    "withings": "/v2/oauth2",
    "oura": "/oauth/token",
    "fitbit": "/token",
    "whoop": "/oauth/oauth2/token",
    "strava": "/oauth/token",
}
SCOPES = {
    "withings": "user.info,user.metrics,user.activity,user.sleepevents",
    "oura": "email personal daily heartrate workout spo2",
    "fitbit": " ".join(
        f"https://www.googleapis.com/auth/googlehealth.{name}.readonly"
        for name in ("activity_and_fitness", "health_metrics_and_measurements", "sleep", "settings")
    ),
    "whoop": "offline read:recovery read:cycles read:sleep read:workout read:profile read:body_measurement",
    "strava": "read,activity:read_all,profile:read_all",
}
VERIFIER = "a-code-verifier-long-enough-for-pkce-0123456789abcdef"


def client(provider: str) -> tuple[str, str]:
    prefix = provider.upper()
    return getattr(settings, f"{prefix}_CLIENT_ID"), getattr(settings, f"{prefix}_CLIENT_SECRET")


def authorize(
    sandbox, provider: str, *, state: str = "state-12345", scope: str = "", **extra
) -> requests.Response:
    client_id, _ = client(provider)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "scope": scope or SCOPES[provider],
        **extra,
    }
    return requests.get(
        sandbox.url(provider, AUTHORIZE_PATHS[provider]), params=params, allow_redirects=False, timeout=10
    )


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {
        name: values[0] for name, values in parse_qs(urlsplit(response.headers["Location"]).query).items()
    }


def code_for(sandbox, provider: str, **extra) -> str:
    sandbox.consent(provider, auto="approve", account=extra.pop("account", "demo"))
    return redirect_params(authorize(sandbox, provider, **extra))["code"]


def token_request(sandbox, provider: str, grant: dict, *, basic: bool = False) -> requests.Response:
    """POST the token endpoint with the provider's client authentication."""
    client_id, secret = client(provider)
    form = dict(grant)
    if provider == "withings":
        form["action"] = "requesttoken"
    auth = None
    if basic:
        auth = (client_id, secret)
    else:
        form |= {"client_id": client_id, "client_secret": secret}
    return requests.post(sandbox.url(provider, TOKEN_PATHS[provider]), data=form, auth=auth, timeout=10)


def tokens(response: requests.Response, provider: str) -> dict:
    """The token JSON, unwrapped from Withings' envelope."""
    assert response.status_code == 200, response.text
    body = response.json()
    if provider == "withings":
        assert body["status"] == 0, body
        return body["body"]
    return body


def exchange(sandbox, provider: str, code: str, **extra) -> dict:
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    return tokens(token_request(sandbox, provider, grant), provider)


def refresh(sandbox, provider: str, refresh_token: str) -> requests.Response:
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if provider == "whoop":
        grant["scope"] = "offline"
    return token_request(sandbox, provider, grant)


def connect(sandbox, provider: str, account: str = "demo") -> dict:
    extra = {}
    if provider == "fitbit":
        challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
        extra = {"code_challenge": challenge, "code_challenge_method": "S256", "access_type": "offline"}
    code = code_for(sandbox, provider, account=account, **extra)
    return exchange(sandbox, provider, code, **({"code_verifier": VERIFIER} if provider == "fitbit" else {}))


def withings_signature(secret: str, *values: str) -> str:
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


class Receiver:
    """A webhook endpoint on loopback that records requests and answers from a small script."""

    def __init__(self, respond=None) -> None:
        self.requests: list[dict] = []
        self.respond = respond or (lambda request: (200, b"{}"))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length) if length else b"",
                }
                receiver.requests.append(request)
                status, body = receiver.respond(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args) -> None:
                return

        return Handler
