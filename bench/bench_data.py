"""Data benchmark: ingestion rate, then aggregate API latency with the records table at 20 million rows.

Run with `make bench-data` and DATABASE_URL pointing at PostgreSQL (REDIS_URL optional). It
1. ingests synthetic heart-rate and step records for one user through `healthdata.ingest.ingest`
   in batches like a streaming importer (rollups refreshed once at the end) and prints records/s;
2. fills the records table to BENCH_TOTAL_ROWS (default 20,000,000) with a year of data per
   synthetic user, generated inside PostgreSQL (kept between runs: loading is skipped when done);
3. starts the app under gunicorn and times the aggregate API over HTTP with the response cache
   bypassed (`Cache-Control: no-cache`): daily steps over a year and 5-minute heart-rate buckets
   over a day, printing p50 and p95.
Wall-clock figures depend on what else runs on the machine, so each phase also prints the CPU time
it cost (this process, its PostgreSQL backend, the gunicorn worker: read from /proc when the
database and the server run on this host) and the load average.
"""

import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

INGEST_RECORDS = int(os.environ.get("BENCH_INGEST_RECORDS", "500000"))
BATCH_SIZE = int(os.environ.get("BENCH_BATCH_SIZE", "50000"))
TOTAL_ROWS = int(os.environ.get("BENCH_TOTAL_ROWS", "20000000"))
ROWS_PER_USER = 1_051_200  # a year of heart rate every 30 seconds
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
YEAR_START = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))
TARGETS = {"ingest": 60_000, "p50": 20.0, "p95": 40.0}


def main() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit(
            "bench-data needs DATABASE_URL pointing at PostgreSQL, e.g. postgres://postgres@127.0.0.1/hfa"
        )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)
    print_header()
    bench_ingest()
    user = fill_table()
    bench_api(user)


def print_header() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print(f"database: {version}; cpus: {os.cpu_count()}")


def bench_ingest() -> None:
    from healthdata import rollups
    from healthdata.ingest import IngestResult, ingest
    from healthdata.normalized import Origin
    from users.models import User

    user, _ = User.objects.get_or_create(email="bench-ingest@example.com")
    user.delete()  # a fresh start: every run measures inserting new rows
    vacuum_deleted_rows()
    user = User.objects.create(email="bench-ingest@example.com", timezone="Europe/Paris")
    batches = [
        synthetic_batch(first, min(BATCH_SIZE, INGEST_RECORDS - first))
        for first in range(0, INGEST_RECORDS, BATCH_SIZE)
    ]
    origin, total = Origin(kind="import", id=1), IngestResult()
    backend = database_backend_pid()
    started, app_cpu, database_cpu = time.perf_counter(), time.process_time(), cpu_seconds(backend)
    for batch in batches:
        total.add(
            ingest(user=user, source="apple_health", records=batch, origin=origin, refresh_rollups=False)
        )
    ingest_seconds = time.perf_counter() - started
    app_cpu, database_cpu = time.process_time() - app_cpu, cpu_seconds(backend) - database_cpu
    started = time.perf_counter()
    rollups.refresh(user=user, days=total.days)
    refresh_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = ingest(user=user, source="apple_health", records=batches[0], origin=origin, refresh_rollups=False)
    unchanged_seconds = time.perf_counter() - started
    rate = total.created / ingest_seconds
    print(
        f"ingest: {total.created:,} records in {len(batches)} batches of {BATCH_SIZE:,}: "
        f"{ingest_seconds:.1f} s, "
        f"{rate:,.0f} records/s (target {TARGETS['ingest']:,}) {verdict(rate >= TARGETS['ingest'])}"
    )
    print(
        f"ingest: rollup refresh of {len(total.days):,} days: {refresh_seconds:.1f} s; "
        f"with it {total.created / (ingest_seconds + refresh_seconds):,.0f} records/s"
    )
    print(f"ingest: re-ingesting one batch unchanged: {again.unchanged / unchanged_seconds:,.0f} records/s")
    print_ingest_cpu(total.created, app_cpu, database_cpu)


def vacuum_deleted_rows() -> None:
    """Clear the previous run's deleted rows out of the tables and their indexes.

    Left there, they sit at the end of each index, exactly where this run's rows go (the new user
    has the highest id), and made every insert several times dearer: 9,000-11,000 records/s against
    60,000-75,000 once vacuumed, which a first run on a fresh table also gets.
    """
    from django.db import connection

    from healthdata.models import DailyRollup, Record

    with connection.cursor() as cursor:
        for model in (Record, DailyRollup):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def print_ingest_cpu(records: int, app_cpu: float, database_cpu: float | None) -> None:
    """CPU per record: what the rate would be with the cores to ourselves, whatever else runs."""
    app = app_cpu / records * 1e6
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    if database_cpu is None:
        print(f"ingest: cpu per record: app {app:.1f} us (database not on this host); load average {load}")
        return
    database = database_cpu / records * 1e6
    print(
        f"ingest: cpu per record: app {app:.1f} us, database {database:.1f} us; "
        f"{1e6 / (app + database):,.0f} records/s of cpu work with no overlap; load average {load}"
    )


def database_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of a process on this host, None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def synthetic_batch(first: int, count: int) -> list:
    """Heart rate every 30 s and steps every 10 minutes from a watch, as an export would hold them."""
    from healthdata.normalized import RecordIn

    records = []
    for index in range(first, first + count):
        moment = YEAR_START + timedelta(seconds=30 * index)
        watch = {"device": "Apple Watch", "device_kind": "watch"}
        if index % 20 == 0:
            end = moment + timedelta(minutes=10)
            value, key = 100 + index % 400, f"s{index}"
            records.append(RecordIn("steps", moment, value, "count", end=end, source_key=key, **watch))
        else:
            value, key = 55 + index % 50, f"h{index}"
            records.append(RecordIn("heart_rate", moment, value, "count/min", source_key=key, **watch))
    return records


def fill_table():
    """Synthetic users with a year of data each until the table holds TOTAL_ROWS; returns the measured one."""
    from healthdata import rollups
    from healthdata.models import Record
    from users.models import User

    restore_indexes()  # after an interrupted load
    users = [
        User.objects.get_or_create(
            email=f"bench-{number}@example.com", defaults={"timezone": "Europe/Paris"}
        )[0]
        for number in range(max(1, TOTAL_ROWS // ROWS_PER_USER))
    ]
    pending = [user for user in users if not Record.objects.filter(user=user, source_key="b0").exists()]
    started = time.perf_counter()
    loaded = load_years(pending) if pending else 0
    total = Record.objects.count()  # exact: a second or two at 20 million rows
    print(f"table: {total:,} records ({loaded:,} loaded in {time.perf_counter() - started:.0f} s)")
    measured = users[0]
    days = {
        (metric, YEAR_START.date() + timedelta(days=day))
        for metric in ("steps", "heart_rate")
        for day in range(366)
    }
    started = time.perf_counter()
    rollups.refresh(user=measured, days=days)
    print(f"table: rollups of one user's year refreshed in {time.perf_counter() - started:.1f} s")
    return measured


def load_years(users: list) -> int:
    """The fast path for a bulk load: drop the secondary indexes, insert in the database, build them again."""
    from django.db import connection

    from healthdata.models import Record

    with connection.schema_editor() as editor:
        for index in Record._meta.indexes:
            editor.remove_index(Record, index)
        for constraint in Record._meta.constraints:
            editor.remove_constraint(Record, constraint)
    loaded = 0
    with connection.cursor() as cursor:
        for user in users:
            cursor.execute(GENERATE_YEAR, [user.pk, ROWS_PER_USER])
            loaded += cursor.rowcount
    restore_indexes()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE healthdata_record")
    return loaded


def restore_indexes() -> None:
    from django.db import connection

    from healthdata.models import Record

    with connection.cursor() as cursor:
        present = set(connection.introspection.get_constraints(cursor, Record._meta.db_table))
        cursor.execute("SET maintenance_work_mem = '512MB'")
    with connection.schema_editor() as editor:
        for index in Record._meta.indexes:
            if index.name not in present:
                editor.add_index(Record, index)
        for constraint in Record._meta.constraints:
            if constraint.name not in present:
                editor.add_constraint(Record, constraint)


# One year per user, generated in the database: heart rate every 30 s, steps every 10 minutes.
GENERATE_YEAR = """
INSERT INTO healthdata_record (user_id, metric, source, source_key, device, device_kind, start, "end",
    utc_offset_minutes, local_date, value, secondary_value, quality, flags, origin_kind, origin_id, metadata,
    created, updated)
SELECT %s, CASE WHEN i %% 20 = 0 THEN 'steps' ELSE 'heart_rate' END, 'apple_health', 'b' || i, 'Apple Watch',
    'watch', t, CASE WHEN i %% 20 = 0 THEN t + interval '10 minutes' ELSE t END, 60,
    ((t AT TIME ZONE 'UTC') + interval '60 minutes')::date,
    CASE WHEN i %% 20 = 0 THEN 100 + i %% 400 ELSE 55 + i %% 50 END, NULL, 85, 0, 'import', NULL, '{}',
    now(), now()
FROM generate_series(0, %s - 1) AS i,
    LATERAL (SELECT timestamptz '2024-01-01 00:00+01' + i * interval '30 seconds' AS t) AS moment
"""


def bench_api(user) -> None:
    from importlib import import_module

    import requests
    from django.conf import settings

    session = import_module(settings.SESSION_ENGINE).SessionStore()  # as signing in makes it
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    port = free_port()
    server = start_server(port)
    try:
        client = requests.Session()
        client.cookies.set(settings.SESSION_COOKIE_NAME, session.session_key)
        client.headers.update({"Cache-Control": "no-cache", "Accept-Encoding": "identity"})
        base = f"http://127.0.0.1:{port}/api/v1/aggregate"
        queries = {
            "daily steps over a year": {
                "metric": "steps", "bucket": "day", "from": "2024-01-01", "to": "2024-12-31",
            },
            "5-minute heart rate over a day": {
                "metric": "heart_rate", "bucket": "5min", "from": "2024-06-15", "to": "2024-06-15",
            },
        }  # fmt: skip
        worker = gunicorn_worker(server.pid)
        for name, query in queries.items():
            time_query(client, base, name, query, worker)
        time_baseline(client, f"http://127.0.0.1:{port}/api/v1/me", worker)
    finally:
        server.terminate()
        server.wait(timeout=10)
        session.delete()


def time_query(client, base: str, name: str, query: dict, worker: int | None) -> None:
    response = client.get(base, params=query, timeout=30)
    response.raise_for_status()
    buckets = len(response.json()["buckets"])
    for _ in range(10):
        client.get(base, params=query, timeout=30)
    durations = []
    worker_cpu = cpu_seconds(worker)
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(base, params=query, timeout=30).raise_for_status()
        durations.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(durations)
    p95 = statistics.quantiles(durations, n=20)[18]
    ok = p50 <= TARGETS["p50"] and p95 <= TARGETS["p95"]
    spent = cpu_seconds(worker)
    cpu = "" if spent is None else f"; server cpu {(spent - worker_cpu) / REQUESTS * 1000:.1f} ms per request"
    print(
        f"api: {name} ({buckets} buckets, {REQUESTS} requests, cache off): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms (targets {TARGETS['p50']:.0f}/{TARGETS['p95']:.0f} ms) {verdict(ok)}{cpu}"
    )


def gunicorn_worker(master: int) -> int | None:
    """The pid of the one worker gunicorn forked, when /proc lists it."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def time_baseline(client, url: str, worker: int | None) -> None:
    """The same stack answering the smallest authenticated request, to read the figures above against."""
    durations = []
    worker_cpu = cpu_seconds(worker)
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(url, timeout=30).raise_for_status()
        durations.append((time.perf_counter() - started) * 1000)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    spent = cpu_seconds(worker)
    cpu = "" if spent is None else f", server cpu {(spent - worker_cpu) / REQUESTS * 1000:.1f} ms per request"
    p50 = statistics.median(durations)
    print(f"api: baseline GET /api/v1/me: p50 {p50:.1f} ms{cpu}; load average {load}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    environment = {**os.environ, "API_RATE_LIMIT_USER": "100000/m", "API_RATE_LIMIT_IP": "100000/m",
                   "LOG_LEVEL": "WARNING"}  # fmt: skip
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    server.terminate()
    sys.exit("the app server did not start")


def verdict(met: bool) -> str:
    return "OK" if met else "BELOW TARGET"


if __name__ == "__main__":
    main()
    print(f"done at {datetime.now(UTC):%H:%M:%S} UTC")
