"""`ikm up` as a user runs it: subprocesses, the embedded broker, SQLite files, Ctrl-C to stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.broker import free_port
from tests.support.platform import bearer

pytestmark = pytest.mark.integration


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "ikm up exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready")


def test_ikm_up_runs_the_platform_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("registry", "programs", "partnerships", "reporting")}
    broker_port = free_port()
    env = {
        **os.environ,
        "IKM_DATA_DIR": str(tmp_path / "data"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for name in ports:
        env.pop(f"{name.upper()}_DATABASE_URL", None)
    ikm = shutil.which("ikm", path=str(Path(sys.executable).parent)) or "ikm"
    process = subprocess.Popen(
        [ikm, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        registry = f"http://127.0.0.1:{ports['registry']}"
        reporting = f"http://127.0.0.1:{ports['reporting']}"
        for port in ports.values():  # Ctrl-C below stops a running platform, not a start
            wait_ready(f"http://127.0.0.1:{port}", process)
        body = {"nib": "9120009876543", "name": "CV Maju", "province_code": "35", "kbli": "24202"}
        response = httpx.post(f"{registry}/api/v1/enterprises", json=body, headers=bearer())
        assert response.status_code == 201, response.text
        assert httpx.post(f"{registry}/api/v1/enterprises", json=body).status_code == 401

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kpis = httpx.get(
                f"{reporting}/api/v1/kpis/enterprises", headers=bearer("viewer")
            ).json()
            if kpis["total"]["enterprises"] == 1:
                break
            time.sleep(0.3)
        assert kpis["rows"][0]["province_code"] == "35"
        assert kpis["total"]["enterprises"] == 1
        assert (tmp_path / "data" / "registry.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output.decode()
    for port in [*ports.values(), broker_port]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
