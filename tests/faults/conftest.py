"""Dependencies the fault tests may break: a Redis server of their own, on a free loopback port."""

import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

# The scripted test provider ("acme", rotating refresh tokens) and fast retry settings of the
# integration tests, reused as they are.
from tests.integrations.conftest import _fast_http, acme, connection, scripted_server  # noqa: F401

START_TIMEOUT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server process that a test may stop and start again on the same port and folder."""

    def __init__(self, directory: Path, *, appendonly: bool) -> None:
        self.directory = directory
        self.appendonly = appendonly
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always"]
        command += ["--dir", str(self.directory), "--protected-mode", "yes"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.is_up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down the way an operator's restart or a crash-free stop does."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
        self.process.wait(timeout=START_TIMEOUT_SECONDS)

    def is_up(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.ConnectionError:
            return False

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_connect_timeout=1)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis only this test uses (never the shared one), without persistence, like a cache."""
    server = RedisServer(tmp_path, appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path):
    """A Redis only this test uses, with append-only persistence as docker-compose.yml runs it."""
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    yield server
    server.stop()


needs_redis_server = pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
    reason="redis-server is not installed",
)


def pytest_collection_modifyitems(items) -> None:
    """Mark every test in this folder `faults` (`-m "not faults"` leaves them out)."""
    folder = Path(__file__).parent
    for item in items:
        if folder in item.path.parents:
            item.add_marker(pytest.mark.faults)
