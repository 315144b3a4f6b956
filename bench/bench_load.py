"""Load benchmark: gunicorn with the production settings on PostgreSQL and Redis, 50 users, a year each.

Run with `make bench-load`, DATABASE_URL pointing at PostgreSQL and REDIS_URL at Redis. It
1. loads 50 users with a year of demo data each through the ingestion service (`healthdata.demo.seed`,
   several processes at once); users already filled by an earlier run are reused, and it says so;
2. signs every user in (a session cookie for the pages, a read-only API key for the API) and starts
   gunicorn on 127.0.0.1 with DJANGO_ENV=production. The benchmark speaks plain HTTP on loopback as
   the TLS-terminating proxy in front of the app would: it sends `X-Forwarded-Proto: https`, which the
   production settings trust (SECURE_PROXY_SSL_HEADER), and each simulated client's address in
   `X-Forwarded-For` with TRUSTED_PROXY_COUNT=1, so the per-user and per-IP API rate limits stay on;
3. (a) 50 concurrent users browse the dashboards and read the API with one second between requests,
   for 60 seconds (threads with keep-alive connections): target zero errors and p95 <= 200 ms;
4. (b) the daily-summary and aggregate endpoints at 16 open connections without pause, with wrk
   (installed with apt-get when missing): target >= 150 requests/s with zero errors.
Every cache starts cold: each user's data version is bumped before the run. Load generators connect to
127.0.0.1 only, run for a fixed time and are stopped if they overrun.
"""

import http.client
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

HOST = "127.0.0.1"  # loopback only: the generators never connect anywhere else
USERS = int(os.environ.get("BENCH_USERS", "50"))
DAYS = 365
LOAD_PROCESSES = int(os.environ.get("BENCH_LOAD_PROCESSES", "3"))
BROWSE_SECONDS = int(os.environ.get("BENCH_BROWSE_SECONDS", "60"))
THINK_SECONDS = 1.0
CONNECTIONS = 16
HAMMER_SECONDS = int(os.environ.get("BENCH_HAMMER_SECONDS", "30"))
# Two cores: two processes keep both busy; threads overlap each request's database and Redis waits.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
TARGETS = {"browse_p95_ms": 200.0, "hammer_rps": 150.0}
ZONES = ("Europe/Paris", "America/New_York", "Europe/London", "Asia/Tokyo", "UTC")
EMAIL = "bench-load-{number:02d}@example.com"
PRODUCTION_ENVIRONMENT = {
    "DJANGO_ENV": "production",
    "ALLOWED_HOSTS": HOST,
    "TRUSTED_PROXY_COUNT": "1",
    "SENTRY_DSN": "",
    "DEBUG": "false",
}


def main() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("bench-load needs DATABASE_URL on PostgreSQL, e.g. postgres://postgres@127.0.0.1/hfa_load")
    if not os.environ.get("REDIS_URL", "").startswith("redis://"):
        sys.exit("bench-load needs REDIS_URL, e.g. redis://127.0.0.1:6379/1")
    wrk = find_wrk()
    # One secret for this run, shared by the set-up (which signs the sessions) and the server.
    os.environ.update(PRODUCTION_ENVIRONMENT, SECRET_KEY=secrets.token_urlsafe(64))
    create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)
    call_command("collectstatic", interactive=False, verbosity=0)
    print_header()
    users = fill_users()
    clients = sign_in(users)
    port = free_port()
    server = start_server(port)
    try:
        warm_up(port, clients)
        before = server_cpu_seconds(server.pid)
        browse = run_browse(port, clients)
        between = server_cpu_seconds(server.pid)
        hammer = run_hammer(wrk, port, clients)
        after = server_cpu_seconds(server.pid)
    finally:
        stop_server(server)
        sign_out(clients)
    browse["server_cpu"], hammer["server_cpu"] = between - before, after - between
    print_browse(browse)
    print_hammer(hammer)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average after the run: {load} (other work on the machine skews every figure above)")


# --- Set-up ---------------------------------------------------------------------------------------


def find_wrk() -> str:
    """wrk's path, installing Debian's package first when it is missing (as root, like CI)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing the Debian package", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)  # noqa: S607 - the system's apt
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],  # noqa: S607
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def create_database(url: str) -> None:
    """Create the benchmark's database when it does not exist yet, so that it can be kept between runs."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def print_header() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"database: {version}; cpus: {os.cpu_count()}, load average {load}; "
        f"gunicorn: {WORKERS} gthread workers x {THREADS} threads"
    )


def fill_users() -> list:
    """USERS users with DAYS days of data each; users filled by an earlier run are kept as they are."""
    from django.db import connection

    from healthdata import caching
    from healthdata.models import Record
    from users.models import User

    users = [
        User.objects.get_or_create(
            email=EMAIL.format(number=number), defaults={"timezone": ZONES[number % len(ZONES)]}
        )[0]
        for number in range(USERS)
    ]
    # demo.seed ingests Withings last, so its records mean the user's year is complete.
    filled = set(Record.objects.filter(user__in=users, source="withings").values_list("user", flat=True))
    pending = [user.pk for user in users if user.pk not in filled]
    started = time.perf_counter()
    created = 0
    if pending:
        connection.close()
        with ProcessPoolExecutor(LOAD_PROCESSES, mp_context=get_context("spawn"), initializer=_setup) as pool:
            created = sum(pool.map(seed_year, pending))
    seconds = time.perf_counter() - started
    total = Record.objects.filter(user__in=users).count()
    print(
        f"data: {USERS} users, {total:,} records; reused {len(filled)} users filled by an earlier run, "
        f"loaded {len(pending)} ({created:,} records in {seconds:.0f} s, {LOAD_PROCESSES} processes)"
    )
    for user in users:
        caching.bump_version(user.pk)  # every run starts with cold caches
    return users


def _setup() -> None:
    import django

    django.setup()


def seed_year(user_id: int) -> int:
    """A year of demo data for one user through the ingestion service; the records created."""
    from healthdata import demo
    from users.models import User

    return demo.seed(User.objects.get(pk=user_id), days=DAYS).created


@dataclass
class Client:
    """One simulated person: a signed-in browser session, an API key and the address the proxy reports."""

    user_id: int
    zone: str
    session_key: str
    api_key: str
    address: str
    headers: dict = field(default_factory=dict)


def sign_in(users: list) -> list[Client]:
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from users.api_keys import create_api_key

    clients = []
    for number, user in enumerate(users):
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        key = create_api_key(user=user, name="bench-load", scope="read")
        # A distinct client address per person as the proxy would report it; nothing connects to it.
        address = f"127.0.10.{number + 1}"
        client = Client(user.pk, user.timezone, session.session_key, key.secret, address)
        client.headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": address}
        clients.append(client)
    return clients


def sign_out(clients: list[Client]) -> None:
    from django.contrib.sessions.models import Session

    from users.models import ApiKey

    Session.objects.filter(session_key__in=[client.session_key for client in clients]).delete()
    ApiKey.objects.filter(user__in=[client.user_id for client in clients], name="bench-load").delete()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it, with gthread workers sized for two cores."""
    log = open(Path(os.environ.get("DATA_DIR", ROOT / "var")) / "bench-load-server.log", "w")  # noqa: SIM115
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"{HOST}:{port}",
        "--worker-class", "gthread", "--workers", str(WORKERS), "--threads", str(THREADS),
        "--keep-alive", "5", "--timeout", "60", "--graceful-timeout", "30",
        "--max-requests", "2000", "--max-requests-jitter", "200",
        "--no-control-socket",  # its default path is per user: other servers on the machine share it
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = get(http.client.HTTPConnection(HOST, port, timeout=5), "/health/live", {})
            if status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    sys.exit(f"the app server did not start: see {log.name}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def server_cpu_seconds(pid: int) -> float:
    """CPU time of gunicorn's master and workers so far, those already replaced included (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    master = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(value) for value in master[11:15])  # utime, stime, and of reaped workers
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # a worker that has just been replaced
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / tick


def get(connection: http.client.HTTPConnection, path: str, headers: dict) -> tuple[int, int]:
    """GET `path` on a keep-alive connection; the status and the body's length."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, len(response.read())


# --- (a) browsing ---------------------------------------------------------------------------------


def browse_paths(client: Client) -> list[tuple[str, str, dict]]:
    """What one person opens in turn: (kind, path, headers), pages with the cookie, the API with the key."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    today = datetime.now(ZoneInfo(client.zone)).date()
    yesterday = today - timedelta(days=1)
    page = {**client.headers, "Cookie": f"{settings.SESSION_COOKIE_NAME}={client.session_key}"}
    api = {**client.headers, "Authorization": f"Api-Key {client.api_key}", "Accept": "application/json"}
    pages = [
        "/",
        "/data/activity/?range=week",
        "/data/sleep/?range=month",
        "/data/heart/?range=day",
        "/data/body/?range=year",
        "/goals/",
    ]
    reads = [
        "/api/v1/summary",
        f"/api/v1/summary?date={yesterday}",
        aggregate_path("steps", "day", today - timedelta(days=29), today),
        aggregate_path("heart_rate", "hour", yesterday, yesterday),
        aggregate_path("weight", "week", today - timedelta(days=DAYS - 1), today),
        f"/api/v1/records?{urlencode({'metric': 'heart_rate', 'from': yesterday, 'to': yesterday})}",
        "/api/v1/sessions?kind=sleep",
        "/api/v1/me",
    ]
    mixed = [("page", path, page) for path in pages] + [("api", path, api) for path in reads]
    random.Random(client.user_id).shuffle(mixed)  # noqa: S311 - an order, not a secret
    return mixed


def aggregate_path(metric: str, bucket: str, first: date, last: date) -> str:
    return "/api/v1/aggregate?" + urlencode({"metric": metric, "bucket": bucket, "from": first, "to": last})


@dataclass
class Sample:
    kind: str
    path: str
    status: int  # 0 when the request failed without an answer
    milliseconds: float


def warm_up(port: int, clients: list[Client]) -> None:
    """One pass over every path by one person: worker start-up, templates, database connections."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    for _kind, path, headers in browse_paths(clients[0]):
        get(connection, path, headers)
    connection.close()


def run_browse(port: int, clients: list[Client]) -> dict:
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + BROWSE_SECONDS
    cpu_before = time.process_time()
    threads = [
        threading.Thread(target=browse_as, args=(port, client, deadline, samples, lock), daemon=True)
        for client in clients
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BROWSE_SECONDS + 40)
    seconds = time.monotonic() - started
    return {"samples": samples, "seconds": seconds, "generator_cpu": time.process_time() - cpu_before}


def browse_as(port: int, client: Client, deadline: float, samples: list, lock: threading.Lock) -> None:
    """One person: a request, one second of reading, the next request, until the deadline."""
    paths = browse_paths(client)
    start = random.Random(client.user_id).random()  # noqa: S311 - people do not start in step
    time.sleep(start * THINK_SECONDS)
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    turn = 0
    while time.monotonic() < deadline:
        kind, path, headers = paths[turn % len(paths)]
        turn += 1
        started = time.perf_counter()
        try:
            status, _ = get(connection, path, headers)
        except (OSError, http.client.HTTPException):
            status = 0
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
        milliseconds = (time.perf_counter() - started) * 1000
        with lock:
            samples.append(Sample(kind, path, status, milliseconds))
        time.sleep(THINK_SECONDS)
    connection.close()


def print_browse(result: dict) -> None:
    samples, seconds = result["samples"], result["seconds"]
    errors = [sample for sample in samples if sample.status != 200]
    figures = percentiles([sample.milliseconds for sample in samples])
    met = not errors and figures["p95"] <= TARGETS["browse_p95_ms"]
    print(
        f"(a) browse: {USERS} users, {THINK_SECONDS:.0f} s between requests, {seconds:.0f} s: "
        f"{len(samples):,} requests, {len(samples) / seconds:.1f} requests/s, {format_figures(figures)}, "
        f"errors {len(errors)} (targets: 0 errors, p95 <= {TARGETS['browse_p95_ms']:.0f} ms) {verdict(met)}"
    )
    for kind in ("page", "api"):
        kind_figures = percentiles([sample.milliseconds for sample in samples if sample.kind == kind])
        print(f"    {kind}s: {format_figures(kind_figures)}")
    slowest = {}
    for sample in samples:
        route = sample.path.split("?")[0]
        slowest.setdefault(route, []).append(sample.milliseconds)
    worst = sorted(slowest.items(), key=lambda item: -percentiles(item[1])["p95"])[:3]
    print("    slowest routes by p95: " + "; ".join(f"{r} {percentiles(m)['p95']:.0f} ms" for r, m in worst))
    if errors:
        statuses = sorted({sample.status for sample in errors})
        print(f"    error statuses: {statuses} (0: no answer)")
    print(
        f"    CPU: app server {result['server_cpu']:.1f} s "
        f"({result['server_cpu'] * 1000 / max(1, len(samples)):.1f} ms a request), "
        f"load generator {result['generator_cpu']:.2f} s"
    )


# --- (b) summary and aggregates without pause -----------------------------------------------------

WRK_SCRIPT = """
local paths = {PATHS}
local headers = {HEADERS}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  requests = {}
  for i, entry in ipairs(paths) do
    requests[i] = wrk.format("GET", entry[1], headers[entry[2]])
  end
  turn = id * 7919
end

function request()
  turn = turn + 1
  return requests[turn % #requests + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def hammer_paths(client: Client) -> list[str]:
    """A person's summary for each of the last 14 days and a few aggregate shapes."""
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(client.zone)).date()
    days = [today - timedelta(days=offset) for offset in range(14)]
    return (
        ["/api/v1/summary"]
        + [f"/api/v1/summary?date={day}" for day in days[1:]]
        + [aggregate_path("steps", "day", today - timedelta(days=29), today)]
        + [aggregate_path("steps", "week", today - timedelta(days=DAYS - 1), today)]
        + [aggregate_path("heart_rate", "hour", day, day) for day in days[1:8]]
        + [aggregate_path("resting_heart_rate", "day", today - timedelta(days=89), today)]
        + [aggregate_path("weight", "month", today - timedelta(days=DAYS - 1), today)]
    )


def wrk_script(clients: list[Client]) -> str:
    entries = [(path, index + 1) for index, client in enumerate(clients) for path in hammer_paths(client)]
    random.Random(7).shuffle(entries)  # noqa: S311 - an order, not a secret
    paths = ",\n".join(f'{{"{path}", {index}}}' for path, index in entries)
    headers = ",\n".join(
        "{"
        + ", ".join(
            f'["{name}"] = "{value}"'
            for name, value in {
                **client.headers, "Authorization": f"Api-Key {client.api_key}", "Accept": "application/json"
            }.items()
        )
        + "}"
        for client in clients
    )  # fmt: skip
    return WRK_SCRIPT.replace("{PATHS}", "{" + paths + "}").replace("{HEADERS}", "{" + headers + "}")


def run_hammer(wrk: str, port: int, clients: list[Client]) -> dict:
    script = Path(os.environ.get("DATA_DIR", ROOT / "var")) / "bench-load.lua"
    script.touch(mode=0o600)  # it holds the run's API keys; removed right after
    script.write_text(wrk_script(clients))
    command = [
        wrk, "--threads", "2", "--connections", str(CONNECTIONS), "--duration", f"{HAMMER_SECONDS}s",
        "--timeout", "10s", "--script", str(script), f"http://{HOST}:{port}/",
    ]  # fmt: skip
    try:
        usage_before = os.times()
        finished = subprocess.run(  # noqa: S603 - wrk with our own arguments, on loopback
            command, capture_output=True, text=True, timeout=HAMMER_SECONDS + 60, check=True
        )
        usage_after = os.times()
    finally:
        script.unlink(missing_ok=True)
    line = next(line for line in finished.stdout.splitlines() if line.startswith("RESULT "))
    count, duration, p50, p95, p99, *errors = (int(value) for value in line.split()[1:])
    generator_cpu = (usage_after.children_user + usage_after.children_system) - (
        usage_before.children_user + usage_before.children_system
    )
    return {
        "requests": count,
        "seconds": duration / 1e6,
        "figures": {"p50": p50 / 1000, "p95": p95 / 1000, "p99": p99 / 1000},
        "errors": dict(zip(("connect", "read", "write", "status", "timeout"), errors, strict=True)),
        "generator_cpu": generator_cpu,
    }


def print_hammer(result: dict) -> None:
    rate = result["requests"] / result["seconds"]
    errors = sum(result["errors"].values())
    met = errors == 0 and rate >= TARGETS["hammer_rps"]
    print(
        f"(b) summary and aggregate: {CONNECTIONS} connections without pause, "
        f"{result['seconds']:.0f} s (wrk): "
        f"{result['requests']:,} requests, {rate:.1f} requests/s, {format_figures(result['figures'])}, "
        f"errors {errors} (targets: >= {TARGETS['hammer_rps']:.0f} requests/s, 0 errors) {verdict(met)}"
    )
    if errors:
        print(f"    errors by kind: {result['errors']} (status: answers other than 2xx or 3xx)")
    print(
        f"    CPU: app server {result['server_cpu']:.1f} s "
        f"({result['server_cpu'] * 1000 / max(1, result['requests']):.1f} ms a request), "
        f"wrk {result['generator_cpu']:.2f} s"
    )


# --- Figures --------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        value = values[0] if values else 0.0
        return {"p50": value, "p95": value, "p99": value}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p95": cuts[94], "p99": cuts[98]}


def format_figures(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f} ms" for name, value in figures.items())


def verdict(met: bool) -> str:
    return "OK" if met else "BELOW TARGET"


if __name__ == "__main__":
    main()
    print(f"done at {datetime.now(UTC):%H:%M:%S} UTC")
