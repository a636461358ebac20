"""What one event costs each consumer, measured without the broker or the other services.

    python -m bench.consumers                  # CPU µs per event, real PostgreSQL
    python -m bench.consumers --instructions   # and instructions per event, under callgrind

Each consumer (programs, partnerships, reporting) is built as its service builds it, on a fresh
PostgreSQL database, and handed batches of ``EnterpriseRegistered`` records of the generated
register, as FastStream hands them over: its decoding, inbox, handlers and bulk writes, in one
transaction per batch. Its process's CPU time per event is what it costs on the machine as it
is at that moment; the instruction count (valgrind's callgrind, the client side only) is the
same from one run to the next whatever else the machine is doing, so a change of a few per
cent shows in it where the pipeline's figures drift with the hour.
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from bench.generator import enterprises
from bench.run import (
    backends_of,
    callgrind_control,
    cpu_by_database,
    create_database,
    drop_databases,
    service_settings,
    write_results,
)
from cli.catalog import entries
from shared import migrations
from shared.consumer import BatchConsumer
from shared.envelope import encode
from shared.events.registry import EnterpriseProfile, EnterpriseRegistered
from shared.events.topics import ENTERPRISES
from shared.events.vocabulary import SizeClass
from shared.runtime import ServiceRuntime, tune_garbage_collector
from shared.settings import PlatformSettings

CONSUMERS = ("programs", "partnerships", "reporting")
TRACEPARENT = "00-{:032x}-00f067aa0ba902b7-01"


def _records(count: int, batch: int) -> list[list[ConsumerRecord]]:
    """The register's first ``count`` enterprises as registry events, one trace per batch (as a
    bulk import writes them), in batches of ``batch`` records."""
    now = datetime.now(UTC)
    batches: list[list[ConsumerRecord]] = []
    for offset, row in enumerate(enterprises(count)):
        if offset % batch == 0:
            batches.append([])
        event = EnterpriseRegistered(
            nib=row["nib"],
            profile=EnterpriseProfile(
                name=row["name"],
                province_code=row["province_code"],
                regency_code=row["regency_code"],
                kbli=row["kbli"],
                workforce=row["workforce"],
                investment_idr=row["investment_idr"],
                annual_sales_idr=row["annual_sales_idr"],
                size_class=SizeClass.MICRO,
            ),
            registered_at=now,
        )
        trace = {"traceparent": TRACEPARENT.format(len(batches))}
        message = encode(event, source="/ikm/registry", extra_headers=trace)
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        key = message.key.encode()
        batches[-1].append(
            ConsumerRecord(
                topic=ENTERPRISES.name,
                partition=offset % 4,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=key,
                value=message.value,
                checksum=None,
                serialized_key_size=len(key),
                serialized_value_size=len(message.value),
                headers=headers,
            )
        )
    return batches


async def _consumer(service: str, database: str) -> tuple[ServiceRuntime, BatchConsumer]:
    """The service's own runtime and consumer, from its composition root, on ``database``."""
    (entry,) = entries([service])
    quiet = PlatformSettings(log_level="WARNING", log_format="text")
    settings = service_settings(entry, database, quiet)
    await asyncio.to_thread(migrations.upgrade, settings)
    app = entry.create_app(settings)
    runtime: ServiceRuntime = app.state.runtime
    return runtime, runtime.consumers[0]


async def measure(service: str, events: int, batch: int, callgrind: bool) -> dict[str, Any]:
    """Apply ``events`` in batches after one batch of warm-up; CPU µs per measured event, the
    consumer's and that of the PostgreSQL backends serving it."""
    database = await create_database(f"ikm_bench_consumer_{service}_{uuid.uuid4().hex[:8]}")
    runtime, consumer = await _consumer(service, database)
    try:
        batches = _records(events + batch, batch)
        tune_garbage_collector()  # as a started service does
        await consumer.handle(batches[0])
        if callgrind:
            callgrind_control("on", os.getpid())
        backends = await backends_of({service: database})
        started = time.process_time()
        for records in batches[1:]:
            await consumer.handle(records)
        cpu_s = time.process_time() - started
        if callgrind:
            callgrind_control("off", os.getpid())
        postgres_s = cpu_by_database(backends, await backends_of({service: database}))[service]
        measured = sum(len(records) for records in batches[1:])
        return {
            "events": measured,
            "batch": batch,
            "cpu_us_per_event": 1e6 * cpu_s / measured,
            "postgres_cpu_us_per_event": 1e6 * postgres_s / measured,
        }
    finally:
        await runtime.engine.dispose()
        await drop_databases([database])


def _instructions(service: str, events: int, batch: int) -> float:
    """Instructions per event, this script run once more under callgrind for ``service``."""
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.consumers", "--only", service,
        "--events", str(events), "--batch", str(batch), "--under-callgrind",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1)) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    parser.add_argument("--only", choices=CONSUMERS, help=argparse.SUPPRESS)
    parser.add_argument("--under-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:  # one consumer, as the child the instruction count runs under valgrind
        asyncio.run(measure(args.only, args.events, args.batch, args.under_callgrind))
        return
    results: dict[str, Any] = {}
    for service in CONSUMERS:
        result = asyncio.run(measure(service, args.events, args.batch, callgrind=False))
        if args.instructions:
            # fewer events: callgrind runs some 50 times slower, and the count is exact anyway
            counted = min(args.events, 4 * args.batch)
            result["instructions_per_event"] = _instructions(service, counted, args.batch)
        results[service] = result
    when = datetime.now(UTC)
    print(f"\nIKM Platform consumers — {args.events:,} events per consumer, {when:%Y-%m-%d %H:%M}")
    for service, result in results.items():
        line = f"  {service:<14} {result['cpu_us_per_event']:7.1f} µs CPU per event"
        line += f", PostgreSQL {result['postgres_cpu_us_per_event']:5.1f} µs"
        if "instructions_per_event" in result:
            line += f"   {result['instructions_per_event'] / 1000:7.0f} k instructions per event"
        print(line)
    stem = f"consumers-{when:%Y-%m-%dT%H%M%S%z}"
    path = write_results(stem, {"when": when.isoformat(), "consumers": results})
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
