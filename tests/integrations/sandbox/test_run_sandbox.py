"""`manage.py run_sandbox` serves the simulators in a process of their own."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.integrations.sandbox import flows

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def test_run_sandbox_serves_the_providers_and_the_control_api_on_its_own_port():
    port = free_port()
    base = f"http://127.0.0.1:{port}/sandbox"
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "run_sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"{base}/_control/oura/counters", process)
        requests.post(f"{base}/_control/oura/consent", json={"auto": "approve"}, timeout=10)
        authorized = requests.get(
            f"{base}/oura/oauth/authorize",
            allow_redirects=False,
            timeout=10,
            params={
                "client_id": flows.client("oura")[0],
                "redirect_uri": flows.REDIRECT_URI,
                "state": "standalone",
            },
        )
        counters = requests.get(f"{base}/_control/oura/counters", timeout=10).json()
        elsewhere = requests.get(f"http://127.0.0.1:{port}/admin/", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert flows.redirect_params(authorized)["state"] == "standalone"
    assert counters == {"authorize": 1, "total": 1}
    assert elsewhere.status_code == 404
