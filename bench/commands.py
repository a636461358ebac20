"""What one request costs the service that answers it, with the broker and PostgreSQL real.

    python -m bench.commands                  # CPU ms per request
    python -m bench.commands --instructions   # instructions per request, under callgrind

Two requests, each to its service started alone as a process (as ``bench.run`` starts it) on a
fresh PostgreSQL database and the embedded broker: a registration (``POST /api/v1/enterprises``
to the registry, with its outbox relay publishing the event) and a dashboard poll (``GET
/api/v1/kpis/enterprises`` to reporting). ``--requests`` of each are sent 8 at a time after a
warm-up. The service's CPU time per request (user and system, so the kernel's share of each
round trip counts) drifts with the machine's load; the instruction count (valgrind's callgrind,
user space only, the service's process only) does not, so a change of a few per cent shows in it.
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.generator import enterprises
from bench.run import (
    callgrind_control,
    create_database,
    drop_databases,
    process_cpu_seconds,
    service_settings,
    write_results,
)
from cli.catalog import entries
from shared import migrations
from shared.broker import EmbeddedBroker, free_port
from shared.settings import PlatformSettings

IN_FLIGHT = 8
WARM_UP = 50


def _registration(rows: list[dict[str, Any]]) -> Callable[[aiohttp.ClientSession, str, int], Any]:
    return lambda client, url, i: client.post(f"{url}/api/v1/enterprises", json=rows[i])


def _kpi_poll(client: aiohttp.ClientSession, url: str, _i: int) -> Any:
    return client.get(f"{url}/api/v1/kpis/enterprises")


REQUESTS = {"registration": "registry", "kpi_poll": "reporting"}


async def measure(request: str, count: int, callgrind: bool) -> dict[str, Any]:
    """Send ``count`` requests of one kind to its service; CPU ms (and instructions) each."""
    service = REQUESTS[request]
    (entry,) = entries([service])
    work = Path(tempfile.mkdtemp(prefix="ikm-bench-commands-"))
    broker = EmbeddedBroker(log_path=work / "broker.log")
    broker.start()
    database = await create_database(f"ikm_bench_{service}_{uuid.uuid4().hex[:8]}")
    out = work / "callgrind.out"
    process: subprocess.Popen[bytes] | None = None
    try:
        settings = service_settings(entry, database, PlatformSettings(data_dir=work))
        await asyncio.to_thread(migrations.upgrade, settings)
        port = free_port()
        prefix = service.upper()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "IKM_DATA_DIR": str(work),
            "IKM_LOG_LEVEL": "WARNING",
            "AUTH_REQUIRED": "false",
            f"{prefix}_DATABASE_URL": database,
            f"{prefix}_PORT": str(port),
        }
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command = [sys.executable, "-m", "uvicorn", "--factory", entry.app_factory]
        command += ["--port", str(port), "--no-access-log"]
        if callgrind:
            command = [*valgrind, f"--callgrind-out-file={out}", *command]
        process = _start(command, env, work / f"{service}.log")
        url = f"http://127.0.0.1:{port}"
        rows = list(enterprises(WARM_UP + count, seed=11, first_nib=7_000_000_000_000))
        send = _registration(rows) if request == "registration" else _kpi_poll
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as client:
            await _wait_ready(client, url, process, work / f"{service}.log")
            await _send(client, url, send, range(WARM_UP))
            await asyncio.sleep(2)  # the warm-up's events published
            cpu_before = process_cpu_seconds(process.pid)
            if callgrind:
                callgrind_control("on", process.pid)
            await _send(client, url, send, range(WARM_UP, WARM_UP + count))
            await asyncio.sleep(2)  # the relay's publishing of the last ones counted too
            if callgrind:
                callgrind_control("off", process.pid)
            cpu_s = process_cpu_seconds(process.pid) - cpu_before
        result: dict[str, Any] = {"service": service, "requests": count}
        result["cpu_ms_per_request"] = round(1000 * cpu_s / count, 3)
        process.terminate()
        process.wait(300)
        if callgrind:
            found = re.search(r"Collected : (\d+)", (work / f"{service}.log").read_text())
            if found is None:
                raise RuntimeError(f"no instruction count from valgrind; see {work}")
            result["instructions_per_request"] = int(found.group(1)) // count
        shutil.rmtree(work)  # kept, with the service's log, only if something failed
        return result
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        broker.stop()
        await drop_databases([database])


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


async def _wait_ready(
    client: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    for _ in range(600):  # under valgrind a service takes a minute or two to start
        if process.poll() is not None:
            raise RuntimeError(f"the service stopped; see {log}")
        try:
            async with client.get(f"{url}/readyz") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    raise TimeoutError(f"the service did not become ready; see {log}")


async def _send(client: aiohttp.ClientSession, url: str, send: Any, numbers: range) -> None:
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots, send(client, url, i) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"{answer.status}: {await answer.text()}")

    await asyncio.gather(*(one(i) for i in numbers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    for request in REQUESTS:
        results[request] = asyncio.run(measure(request, args.requests, callgrind=False))
        if args.instructions:
            # fewer requests: callgrind runs some 50 times slower, and the count is exact anyway
            counted = asyncio.run(measure(request, min(args.requests, 300), callgrind=True))
            results[request]["instructions_per_request"] = counted["instructions_per_request"]
    when = datetime.now(UTC)
    print(f"\nIKM Platform requests — {args.requests:,} of each, {when:%Y-%m-%d %H:%M}")
    for request, result in results.items():
        line = f"  {request:<13} {result['service']:<10} {result['cpu_ms_per_request']:6.2f} ms CPU"
        if "instructions_per_request" in result:
            line += f"   {result['instructions_per_request'] / 1e6:6.2f} M instructions"
        print(line + " per request")
    stem = f"commands-{when:%Y-%m-%dT%H%M%S%z}"
    path = write_results(stem, {"when": when.isoformat(), "requests": results})
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
