"""A scripted HTTP server on loopback, for testing the provider HTTP layer over real sockets."""

import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class ScriptedServer:
    """Answers each path with the next scripted response; the last one repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque] = defaultdict(deque)
        self.handlers: dict[str, object] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, path: str, *responses: tuple) -> None:
        """Each response: (status, headers dict, body dict|str[, delay seconds])."""
        self.scripts[path].extend(responses)

    def handle(self, path: str, function) -> None:
        """Answer `path` with function(request dict) -> (status, headers, body)."""
        self.handlers[path] = function

    def hits(self, path: str) -> list[dict]:
        return [request for request in self.requests if request["path"] == path]

    def _next(self, request: dict) -> tuple:
        if request["path"] in self.handlers:
            return self.handlers[request["path"]](request)
        with self.lock:
            queue = self.scripts[request["path"]]
            if not queue:
                return (404, {}, {"error": "not scripted"})
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = self.path.split("?", 1)[0]
                request = {
                    "path": path,
                    "method": self.command,
                    "query": self.path.partition("?")[2],
                    "headers": dict(self.headers),
                    "body": body,
                    "at": time.time(),
                }
                with server.lock:
                    server.requests.append(request)
                status, headers, payload, *delay = server._next(request)
                if delay:
                    time.sleep(delay[0])
                data = payload if isinstance(payload, str) else json.dumps(payload)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, str(value))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data.encode())))
                    self.end_headers()
                    self.wfile.write(data.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = do_HEAD = _answer

        return Handler

    def start(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted_server():
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fast_http(settings):
    """Tiny backoffs and cool-downs, so retry and circuit tests take milliseconds."""
    settings.PROVIDER_HTTP_BACKOFF_SECONDS = 0.001
    settings.PROVIDER_HTTP_BACKOFF_MAX_SECONDS = 0.01
    settings.PROVIDER_HTTP_CONNECT_TIMEOUT = 1.0
    settings.PROVIDER_HTTP_READ_TIMEOUT = 2.0
    settings.PROVIDER_CIRCUIT_COOLDOWN_SECONDS = 0.3
    settings.PROVIDER_CIRCUIT_FAILURE_THRESHOLD = 3
    settings.PROVIDER_RATE_MAX_WAIT_SECONDS = 5.0
    settings.PROVIDER_RATE_BUDGET_SHARE = 1.0


class AcmeProvider:
    """The test provider's server side: daily items, 30 per page, rotating refresh tokens."""

    PAGE_SIZE = 30

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.access_tokens = {"access-0"}
        self.refresh_token = "refresh-0"
        self.token_calls = 0
        self.client_secret = ""
        self.failing: set[str] = set()  # data types answering 500
        self.values: dict[str, float] = {"steps": 1000, "weight": 70.5}
        server.handle("/oauth/token", self._token)
        server.handle("/oauth/revoke", lambda request: (200, {}, {}))
        for data_type in ("steps", "weight"):
            server.handle(f"/v1/{data_type}", self._data(data_type))

    def _token(self, request: dict) -> tuple:
        from urllib.parse import parse_qs

        form = {key: values[0] for key, values in parse_qs(request["body"]).items()}
        with self.server.lock:
            self.token_calls += 1
            if (
                form.get("refresh_token") != self.refresh_token
                or form.get("client_secret") != self.client_secret
            ):
                return (400, {}, {"error": "invalid_grant"})
            self.refresh_token = f"refresh-{self.token_calls}"
            access = f"access-{self.token_calls}"
            self.access_tokens = {access}
        time.sleep(0.05)  # a real token endpoint takes a moment: concurrent callers overlap
        return (
            200,
            {},
            {
                "access_token": access,
                "refresh_token": self.refresh_token,
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "read",
            },
        )

    def _data(self, data_type: str):
        def answer(request: dict) -> tuple:
            from datetime import datetime, timedelta
            from urllib.parse import parse_qs

            if request["headers"].get("Authorization", "").removeprefix("Bearer ") not in self.access_tokens:
                return (401, {}, {"message": "Authorization Error"})
            if data_type in self.failing:
                return (500, {}, {"message": "oops"})
            query = {key: values[0] for key, values in parse_qs(request["query"]).items()}
            start, end = datetime.fromisoformat(query["start"]), datetime.fromisoformat(query["end"])
            day = start.replace(hour=0, minute=0, second=0, microsecond=0)
            if day < start:
                day += timedelta(days=1)
            items = []
            while day < end:
                items.append(
                    {"id": day.date().isoformat(), "time": day.isoformat(), "value": self.values[data_type]}
                )
                day += timedelta(days=1)
            offset = int(query.get("page", 0))
            page = items[offset : offset + self.PAGE_SIZE]
            more = offset + self.PAGE_SIZE < len(items)
            return (200, {}, {"items": page, "next": str(offset + self.PAGE_SIZE) if more else None})

        return answer


@pytest.fixture
def acme(settings, scripted_server, db):
    """The test provider registered as the only provider app, served over loopback."""
    from integrations import registry

    settings.PROVIDER_APPS = ["tests.integrations.acme"]
    settings.OURA_API_BASE_URL = scripted_server.url
    settings.OURA_TOKEN_URL = f"{scripted_server.url}/oauth/token"
    settings.OURA_CLIENT_ID = "acme-client"
    settings.OURA_CLIENT_SECRET = "acme-secret"
    registry.sources.cache_clear()
    registry.webhook_module.cache_clear()
    provider = AcmeProvider(scripted_server)
    provider.client_secret = registry.get_source("oura").app_credentials()[1]
    yield provider
    registry.sources.cache_clear()
    registry.webhook_module.cache_clear()


@pytest.fixture
def connection(user, acme):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import Connection

    made = Connection(user=user, provider="oura", external_user_id="acme-user-1", scopes=["read"])
    made.access_token = "access-0"
    made.refresh_token = "refresh-0"
    made.token_expires_at = timezone.now() + timedelta(hours=1)
    made.save()
    return made
