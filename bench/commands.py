"""What one request costs the service that answers it, with the broker and PostgreSQL real.

    python -m bench.commands                  # CPU ms per request
    python -m bench.commands --instructions   # instructions per request, under callgrind

Three requests, each to its service started alone as a process (as ``bench.run`` starts it) on
a fresh PostgreSQL database and the embedded broker: a registration (``POST /api/v1/enterprises``
to the registry, with its outbox relay publishing the event), a bulk import of 1,000 enterprises
(``POST /api/v1/enterprises/bulk``, as the pipeline's import sends them, the relay publishing
its events) and a dashboard poll (``GET /api/v1/kpis/enterprises`` to reporting). ``--requests``
of each (a fiftieth as many bulk imports) are sent 8 at a time after a warm-up. The service's
CPU time per request (user and system, so the kernel's share of each round trip counts) drifts
with the machine's load; the instruction count (valgrind's callgrind, user space only, the
service's process only) does not, so a change of a few per cent shows in it.
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.generator import enterprises
from bench.run import (
    backends_of,
    callgrind_control,
    cpu_by_database,
    create_database,
    drop_databases,
    metric,
    process_cpu_seconds,
    service_settings,
    write_results,
)
from cli.catalog import entries
from shared import migrations
from shared.broker import EmbeddedBroker, free_port
from shared.settings import PlatformSettings

IN_FLIGHT = 8
BULK_ROWS = 1000  # as the pipeline's import sends them


@dataclass(frozen=True)
class Request:
    service: str
    rows: int  # enterprises each request carries
    fewer: int  # sends ``--requests`` ÷ this many: a bulk request carries a thousand rows
    send: Callable[[aiohttp.ClientSession, str, list[dict[str, Any]], int], Any]

    def count(self, requests: int) -> int:
        return max(requests // self.fewer, 2)


def _registration(client: aiohttp.ClientSession, url: str, rows: list[Any], i: int) -> Any:
    return client.post(f"{url}/api/v1/enterprises", json=rows[i])


def _bulk_import(client: aiohttp.ClientSession, url: str, rows: list[Any], i: int) -> Any:
    chunk = rows[i * BULK_ROWS : (i + 1) * BULK_ROWS]
    return client.post(f"{url}/api/v1/enterprises/bulk", json={"rows": chunk})


def _kpi_poll(client: aiohttp.ClientSession, url: str, rows: list[Any], i: int) -> Any:
    return client.get(f"{url}/api/v1/kpis/enterprises")


REQUESTS = {
    "registration": Request("registry", 1, 1, _registration),
    "bulk_import": Request("registry", BULK_ROWS, 50, _bulk_import),
    "kpi_poll": Request("reporting", 0, 1, _kpi_poll),
}


async def measure(name: str, count: int, callgrind: bool) -> dict[str, Any]:
    """Send ``count`` requests of one kind to its service; CPU ms (and instructions) each."""
    request = REQUESTS[name]
    service = request.service
    warm_up = request.count(50)
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
        rows = list(
            enterprises((warm_up + count) * request.rows, seed=11, first_nib=7_000_000_000_000)
        )
        send = functools.partial(request.send, rows=rows)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as client:
            await _wait_ready(client, url, process, work / f"{service}.log")
            await _send(client, url, send, range(warm_up))
            await _published(client, url, warm_up * request.rows)
            cpu_before = process_cpu_seconds(process.pid)
            backends = await backends_of({service: database})
            if callgrind:
                callgrind_control("on", process.pid)
            await _send(client, url, send, range(warm_up, warm_up + count))
            # the relay's publishing of the last ones counted too (under callgrind it lags)
            await _published(client, url, (warm_up + count) * request.rows)
            if callgrind:
                callgrind_control("off", process.pid)
            cpu_s = process_cpu_seconds(process.pid) - cpu_before
            spent = cpu_by_database(backends, await backends_of({service: database}))
        result: dict[str, Any] = {"service": service, "requests": count, "rows": request.rows}
        result["cpu_ms_per_request"] = round(1000 * cpu_s / count, 3)
        result["postgres_cpu_ms_per_request"] = round(1000 * spent[service] / count, 3)
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


async def _published(client: aiohttp.ClientSession, url: str, events: int) -> None:
    """Wait until the service's relay has published ``events`` in all, and a moment more."""
    for _ in range(900):  # under valgrind a bulk import's events take a minute or two
        async with client.get(f"{url}/metrics") as answer:
            if metric(await answer.text(), "ikm_messages_published_total") >= events:
                await asyncio.sleep(1)
                return
        await asyncio.sleep(1)
    raise TimeoutError(f"the relay did not publish {events} events")


async def _send(client: aiohttp.ClientSession, url: str, send: Any, numbers: range) -> None:
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots, send(client, url, i=i) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"{answer.status}: {await answer.text()}")

    await asyncio.gather(*(one(i) for i in numbers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    for name, request in REQUESTS.items():
        results[name] = asyncio.run(measure(name, request.count(args.requests), callgrind=False))
        if args.instructions:
            # fewer requests: callgrind runs some 50 times slower, and the count is exact anyway
            counted = request.count(min(args.requests, 300))
            instructions = asyncio.run(measure(name, counted, callgrind=True))
            results[name]["instructions_per_request"] = instructions["instructions_per_request"]
    when = datetime.now(UTC)
    print(f"\nIKM Platform requests, {when:%Y-%m-%d %H:%M}")
    for name, result in results.items():
        line = f"  {name:<13} {result['service']:<10} {result['cpu_ms_per_request']:8.2f} ms CPU"
        line += f", PostgreSQL {result['postgres_cpu_ms_per_request']:6.2f} ms"
        if "instructions_per_request" in result:
            line += f"   {result['instructions_per_request'] / 1e6:8.2f} M instructions"
        unit = f"request of {result['rows']:,} enterprises" if result["rows"] > 1 else "request"
        print(f"{line} per {unit} ({result['requests']:,} requests)")
    stem = f"commands-{when:%Y-%m-%dT%H%M%S%z}"
    path = write_results(stem, {"when": when.isoformat(), "requests": results})
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
