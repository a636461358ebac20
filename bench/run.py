"""Benchmarks of the whole platform on the embedded broker, beside the raw Kafka client.

    python -m bench.run --enterprises 100000

1. raw baseline: aiokafka produce and consume of as many same-size messages on the same broker;
2. pipeline: bulk import of N enterprises until registry, programs' replica, partnerships'
   replica and reporting have all applied every event (events/s end to end, ratio to raw);
3. command latency: commands at a steady rate, from the HTTP 2xx to the KPI reflecting them;
4. memory: peak RSS of each service process during the pipeline;
5. where the CPU goes: CPU milliseconds per enterprise of each service, the broker,
   PostgreSQL and this benchmark's own process (it shares the machine) during the pipeline (on
   2 cores, the sum is what bounds the pipeline), and per command during 3. The latter includes
   what the platform spends idle (the broker's fetch polls above all) and the KPI polls that
   measure the latency, so it is larger at a lower rate.
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.generator import enterprises
from bench.trace_sink import TraceSink
from cli.catalog import SERVICES, ServiceEntry
from shared import migrations
from shared.broker import EmbeddedBroker, free_port
from shared.events.topics import all_topic_names
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, PlatformSettings, ServiceSettings

RESULTS = Path(__file__).parent / "results"
POSTGRES = os.environ.get("IKM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REGISTERED = "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1"
RAW_TOPIC = "bench.raw"
POLL_INTERVAL_S = 0.02


# --- 1. the raw client -----------------------------------------------------------------------


async def raw_baseline(bootstrap: str, count: int, size: int) -> dict[str, float]:
    payload = b"x" * size
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    futures = [
        await producer.send(RAW_TOPIC, payload, key=f"{i:013d}".encode()) for i in range(count)
    ]
    await asyncio.gather(*futures)
    produce_s = time.perf_counter() - started
    await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(RAW_TOPIC, p) for p in consumer.partitions_for_topic(RAW_TOPIC)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    seen = 0
    started = time.perf_counter()
    while seen < count:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
        seen += sum(len(records) for records in batch.values())
    consume_s = time.perf_counter() - started
    await consumer.stop()
    return {
        "messages": count,
        "message_bytes": size,
        "produce_per_s": round(count / produce_s),
        "consume_per_s": round(count / consume_s),
    }


# --- the platform as processes ---------------------------------------------------------------


def service_settings(
    entry: ServiceEntry, database_url: str, platform: PlatformSettings
) -> ServiceSettings:
    return entry.settings().model_copy(update={"database_url": database_url, "platform": platform})


async def create_database(name: str) -> str:
    """An empty PostgreSQL database; its SQLAlchemy URL."""
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_databases(urls: Iterable[str]) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        for url in urls:
            await connection.execute(
                f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'
            )
    finally:
        await connection.close()


def write_results(stem: str, result: dict[str, Any]) -> Path:
    """``result`` as JSON in bench/results/``stem``.json; every benchmark writes through here."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def callgrind_control(state: str, pid: int) -> None:
    """Switch callgrind's counting on or off in process ``pid`` (run with --instr-atstart=no)."""
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True, capture_output=True)
    time.sleep(0.2)  # valgrind takes the request at its next check


class Platform:
    def __init__(self, bootstrap: str, work: Path) -> None:
        self.bootstrap = bootstrap
        self.work = work
        self.ports = {s.name: free_port() for s in SERVICES}
        self.databases: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.trace_sink: TraceSink | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def create_databases(self) -> None:
        for entry in SERVICES:
            url = await create_database(f"ikm_bench_{entry.name}_{uuid.uuid4().hex[:8]}")
            self.databases[entry.name] = url
            settings = service_settings(entry, url, PlatformSettings(data_dir=self.work))
            await asyncio.to_thread(migrations.upgrade, settings)

    async def drop_databases(self) -> None:
        await drop_databases(self.databases.values())

    def start(self) -> None:
        for entry in SERVICES:
            prefix = entry.name.upper()
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "IKM_DATA_DIR": str(self.work),
                "IKM_LOG_LEVEL": "WARNING",
                "AUTH_REQUIRED": "false",
                f"{prefix}_DATABASE_URL": self.databases[entry.name],
                f"{prefix}_PORT": str(self.ports[entry.name]),
            }
            if self.trace_sink is not None:
                env["OTEL_TRACES_EXPORTER"] = "otlp"
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.trace_sink.endpoint
            log = (self.work / f"{entry.name}.log").open("ab")
            self.processes[entry.name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    entry.app_factory,
                    "--port",
                    str(self.ports[entry.name]),
                    "--no-access-log",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
            for service in self.ports:
                while True:
                    try:
                        async with client.get(f"{self.url(service)}/readyz") as answer:
                            if answer.status == 200:
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} not ready; see {self.work}/{service}.log")
                    await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # consumer groups joined (about half the session timeout each)

    def peak_rss_mb(self) -> dict[str, float]:
        peaks = {}
        for service, process in self.processes.items():
            status = Path(f"/proc/{process.pid}/status").read_text()
            kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
            peaks[service] = round(kb / 1024, 1)
        return peaks

    def cpu_seconds(self, broker: EmbeddedBroker) -> dict[str, float]:
        seconds = {
            name: process_cpu_seconds(process.pid) for name, process in self.processes.items()
        }
        seconds["broker"] = process_cpu_seconds(broker.pid) if broker.pid else 0.0
        seconds["postgres"] = _postgres_cpu_seconds()
        if self.trace_sink is not None and self.trace_sink.process is not None:
            seconds["trace_sink"] = process_cpu_seconds(self.trace_sink.process.pid)
        # the load generator itself (HTTP requests, KPI polls) shares the same two cores
        seconds["bench"] = time.process_time()
        return seconds

    async def backends(self) -> Backends:
        """Each PostgreSQL backend serving a service's database: its service and CPU so far."""
        return await backends_of(self.databases)

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def process_cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User plus system CPU time of a process, from /proc; with ``reaped_children``, also that
    of its children that have exited and been waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


Backends = dict[int, tuple[str, float]]


async def backends_of(databases: Mapping[str, str]) -> Backends:
    """Each PostgreSQL backend serving one of ``databases`` (a name for each SQLAlchemy URL):
    that name and the backend's CPU so far."""
    names = {url.rsplit("/", 1)[1]: name for name, url in databases.items()}
    connection = await asyncpg.connect(POSTGRES)
    try:
        rows = await connection.fetch(
            "SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            list(names),
        )
    finally:
        await connection.close()
    backends: Backends = {}
    for pid, database in rows:
        with contextlib.suppress(OSError):  # exited since
            backends[pid] = (names[database], process_cpu_seconds(pid))
    return backends


def cpu_by_database(before: Backends, after: Backends) -> dict[str, float]:
    """PostgreSQL CPU seconds spent on each service's database between two readings, by the
    backends alive at the second (one that exited in between is not counted here; the
    ``postgres`` total counts it)."""
    spent = dict.fromkeys(sorted({service for service, _ in after.values()}), 0.0)
    for pid, (service, seconds) in after.items():
        earlier = before.get(pid)
        spent[service] += seconds - (earlier[1] if earlier and earlier[0] == service else 0.0)
    return spent


def _postgres_cpu_seconds() -> float:
    """All PostgreSQL processes together (the bench's databases are most of what it does),
    with the backends that have exited: their CPU moves to the postmaster that reaps them, so
    the total does not fall when connections close between two readings."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += process_cpu_seconds(int(entry.name), reaped_children=True)
            except (OSError, IndexError):
                continue
    return total


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("} ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def applied(client: aiohttp.ClientSession, url: str) -> float:
    async with client.get(f"{url}/metrics") as answer:
        text = await answer.text()
    return metric(text, "ikm_messages_consumed_total", event_type=REGISTERED, outcome="applied")


async def reporting_total(client: aiohttp.ClientSession, url: str) -> int:
    async with client.get(f"{url}/api/v1/kpis/enterprises") as answer:
        answer.raise_for_status()
        return int((await answer.json())["total"]["enterprises"])


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


# --- 2. the pipeline -------------------------------------------------------------------------


async def pipeline(p: Platform, count: int, batch: int, senders: int) -> dict[str, Any]:
    # Generated as they are sent: a national register held in memory would take gigabytes.
    chunks = _chunks(enterprises(count), batch)
    done_at: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as client:
        started = time.perf_counter()

        async def send() -> None:
            for chunk in chunks:  # the senders take turns on one generator
                while True:  # a 503 (the relay is behind) wrote nothing: send it again
                    async with client.post(
                        f"{p.url('registry')}/api/v1/enterprises/bulk", json={"rows": chunk}
                    ) as answer:
                        if answer.status == 503:
                            await asyncio.sleep(float(answer.headers.get("Retry-After", "5")))
                            continue
                        answer.raise_for_status()
                        rejected = (await answer.json())["rejected"]
                        break
                if rejected:
                    raise RuntimeError(rejected[:3])

        await asyncio.gather(*(send() for _ in range(senders)))
        done_at["registry_api"] = time.perf_counter() - started
        while len(done_at) < 5:
            async with client.get(f"{p.url('registry')}/status") as answer:
                status = await answer.json()
            if "registry_outbox" not in done_at and status["outbox"]["backlog"] == 0:
                done_at["registry_outbox"] = time.perf_counter() - started
            for service in ("programs", "partnerships"):
                if service not in done_at and await applied(client, p.url(service)) >= count:
                    done_at[service] = time.perf_counter() - started
            if (
                "reporting" not in done_at
                and await reporting_total(client, p.url("reporting")) >= count
            ):
                done_at["reporting"] = time.perf_counter() - started
            await asyncio.sleep(0.25)
    elapsed = max(done_at.values())
    return {
        "enterprises": count,
        "seconds": round(elapsed, 2),
        "events_per_s": round(count / elapsed),
        "done_after_s": {k: round(v, 2) for k, v in done_at.items()},
    }


# --- 3. command latency ----------------------------------------------------------------------


async def command_latency(p: Platform, rate: float, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    rows = list(enterprises(count, seed=7, first_nib=8_000_000_000_000))
    # At most this many requests in flight: a load generator that outruns the system must not
    # become the bottleneck it measures (the rate actually achieved is reported).
    in_flight = 64
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=in_flight),
            timeout=aiohttp.ClientTimeout(total=60),
        ) as client,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as watcher,
    ):
        base = await reporting_total(watcher, p.url("reporting"))
        accepted_at: list[float] = [0.0] * count
        seen_at: list[float] = [0.0] * count
        failures = 0
        slots = asyncio.Semaphore(in_flight)
        started = time.perf_counter()

        async def command(i: int) -> None:
            nonlocal failures
            try:
                async with client.post(
                    f"{p.url('registry')}/api/v1/enterprises", json=rows[i]
                ) as answer:
                    answer.raise_for_status()
                    accepted_at[i] = time.perf_counter()
            except (aiohttp.ClientError, TimeoutError):
                failures += 1
            finally:
                slots.release()

        async def send_at_rate() -> None:
            tasks = []
            for i in range(count):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                tasks.append(asyncio.create_task(command(i)))
            await asyncio.gather(*tasks)

        async def watch() -> None:
            reflected = 0
            deadline = time.perf_counter() + seconds * 4 + 30
            while reflected < count and time.perf_counter() < deadline:
                total = await reporting_total(watcher, p.url("reporting")) - base
                now = time.perf_counter()
                for k in range(reflected, min(total, count)):
                    seen_at[k] = now
                reflected = max(reflected, total)
                # A dashboard polling hard: each poll costs the platform a KPI query, so faster
                # polling loads what it measures; a command is seen at the end of the poll
                # that first counts it, so latencies include up to one interval.
                await asyncio.sleep(POLL_INTERVAL_S)

        await asyncio.gather(watch(), send_at_rate())
        sent_s = max(accepted_at) - started
    # the KPI counts commands, not which ones: the k-th reflected pairs with the k-th accepted
    accepted = sorted(a for a in accepted_at if a)
    pairs = [(s, a) for s, a in zip(seen_at, accepted, strict=False) if s and a]
    latencies = sorted(s - a for s, a in pairs)
    if len(latencies) < 2:
        raise RuntimeError(f"only {len(latencies)} of {count} commands reached the KPI in time")
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "commands": count,
        "failed": failures,
        "reflected": len(pairs),
        "rate_per_s": rate,
        "achieved_rate_per_s": round(count / sent_s, 1) if sent_s > 0 else None,
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p95_ms": round(quantiles[94] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
    }


# --- main ------------------------------------------------------------------------------------


async def measure(
    p: Platform, broker: EmbeddedBroker, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """The pipeline (with each process's peak memory during it), then the command latency."""
    flow, spent, by_database = await _with_cpu(
        p, broker, pipeline(p, args.enterprises, args.batch, args.senders)
    )
    flow["cpu_ms_per_enterprise"] = _per(spent, args.enterprises, 3)
    flow["postgres_cpu_ms_per_enterprise_by_database"] = _per(by_database, args.enterprises, 3)
    print(f"  pipeline: {flow}", flush=True)
    memory = p.peak_rss_mb()
    latency, spent, by_database = await _with_cpu(
        p, broker, command_latency(p, args.rate, args.latency_seconds)
    )
    latency["cpu_ms_per_command"] = _per(spent, latency["commands"], 2)
    latency["postgres_cpu_ms_per_command_by_database"] = _per(by_database, latency["commands"], 2)
    return flow, memory, latency


async def _with_cpu(
    p: Platform, broker: EmbeddedBroker, phase: Awaitable[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    """A phase's result, the CPU seconds each process spent during it, and PostgreSQL's by
    database."""
    backends, before = await p.backends(), p.cpu_seconds(broker)
    result = await phase
    after = p.cpu_seconds(broker)
    spent = {name: after[name] - before[name] for name in after}
    return result, spent, cpu_by_database(backends, await p.backends())


def _per(seconds: dict[str, float], units: int, digits: int) -> dict[str, float]:
    """CPU milliseconds per unit of work."""
    return {name: round(s * 1000 / units, digits) for name, s in seconds.items()}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = (
        Path(os.environ.get("IKM_BENCH_WORKDIR", tempfile.gettempdir()))
        / f"ikm-bench-{uuid.uuid4().hex[:6]}"
    )
    work.mkdir(parents=True)
    # SIGTERM (a CI timeout, `kill`) stops a run as Ctrl-C does: the services are stopped and
    # the databases dropped on the way out.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        await ensure_topics(kafka, [*all_topic_names(), RAW_TOPIC])
        sample = next(enterprises(1))
        raw = await raw_baseline(
            broker.bootstrap_servers, args.raw_messages or args.enterprises, 1100
        )
        p = Platform(broker.bootstrap_servers, work)
        await p.create_databases()
        async with contextlib.AsyncExitStack() as stack:
            if args.export_traces:
                p.trace_sink = await stack.enter_async_context(
                    TraceSink(free_port(), work / "trace_sink.log")
                )
            try:
                p.start()
                await p.wait_ready()
                flow, memory, latency = await measure(p, broker, args)
            finally:
                p.stop()  # each service sends the spans it still holds as it stops
                await p.drop_databases()
            traces = await exported_traces(p.trace_sink) if p.trace_sink else None
    flow["ratio_to_raw_produce"] = round(flow["events_per_s"] / raw["produce_per_s"], 3)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sample_event": sample,
        "raw": raw,
        "pipeline": flow,
        "latency": latency,
        "peak_rss_mb": memory,
        **({"traces_exported": traces} if traces else {}),
    }


async def exported_traces(sink: TraceSink) -> dict[str, Any]:
    """What the services exported over the whole run; every service must have exported."""
    received = await sink.received()
    silent = [f"ikm-{s.name}" for s in SERVICES if not received["spans"].get(f"ikm-{s.name}")]
    if silent:
        raise RuntimeError(f"no spans reached the trace sink from {', '.join(silent)}")
    return {
        "sampler": os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        "sampler_arg": os.environ.get("OTEL_TRACES_SAMPLER_ARG"),
        **received,
    }


def _listed(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


def report(result: dict[str, Any]) -> None:
    raw, flow, latency = result["raw"], result["pipeline"], result["latency"]
    rows = [
        ("raw aiokafka produce", f"{raw['produce_per_s']:,} msg/s"),
        ("raw aiokafka consume", f"{raw['consume_per_s']:,} msg/s"),
        ("pipeline (import → 4 services)", f"{flow['events_per_s']:,} enterprises/s"),
        ("pipeline / raw produce", f"{flow['ratio_to_raw_produce']:.3f}"),
        ("done after (s)", _listed(flow["done_after_s"])),
        (
            f"command → KPI at {latency['rate_per_s']:.0f}/s",
            f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, p99 {latency['p99_ms']} ms"
            f" (sent at {latency['achieved_rate_per_s']}/s, {latency['failed']} failed)",
        ),
        ("CPU ms per command (with idle, KPI polls)", _listed(latency["cpu_ms_per_command"])),
        (
            "  of which PostgreSQL, by database",
            _listed(latency["postgres_cpu_ms_per_command_by_database"]),
        ),
        ("peak RSS (MB)", _listed(result["peak_rss_mb"])),
        ("CPU ms per enterprise", _listed(flow["cpu_ms_per_enterprise"])),
        (
            "  of which PostgreSQL, by database",
            _listed(flow["postgres_cpu_ms_per_enterprise_by_database"]),
        ),
    ]
    if traces := result.get("traces_exported"):
        sampler = traces["sampler"] + (f" {traces['sampler_arg']}" if traces["sampler_arg"] else "")
        rows.append(
            (
                f"spans exported ({sampler})",
                ", ".join(
                    f"{name.removeprefix('ikm-')} {n:,} ({traces['bytes'][name] / 1e6:.1f} MB)"
                    for name, n in sorted(traces["spans"].items())
                ),
            )
        )
    width = max(len(name) for name, _ in rows)
    print(f"\nIKM Platform benchmark — {flow['enterprises']:,} enterprises, {result['when']}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Benchmark the IKM Platform")
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument(
        "--raw-messages",
        type=int,
        default=None,
        help="messages for the raw baseline (default: as many as enterprises; the broker keeps "
        "them all in memory, so a national-size run may take fewer)",
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--latency-seconds", type=float, default=15)
    parser.add_argument(
        "--export-traces",
        action="store_true",
        help="export every span over OTLP/HTTP, as in production, to a stand-in collector "
        "(bench.trace_sink) whose CPU is counted apart; OTEL_TRACES_SAMPLER and "
        "OTEL_TRACES_SAMPLER_ARG choose the sampler",
    )
    arguments = parser.parse_args()
    try:
        outcome = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("bench stopped: services stopped, databases dropped, no result written")
    report(outcome)
    print(f"  written to {write_results(outcome['when'].replace(':', ''), outcome)}")
