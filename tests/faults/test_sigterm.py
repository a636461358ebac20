"""SIGTERM to every service under load, as an orchestrator stops them (``ikm serve``, as in the
containers): each drains and exits 0 within the grace period, with its consumer offsets
committed for exactly what it applied (nothing applied beyond them, so nothing is applied again
after the restart) and nothing half-done; once restarted everything converges."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events.topics import ENTERPRISES
from tests.faults.checks import (
    applied_ids,
    consumed,
    recovery_after,
    verify,
    wait_caught_up,
)
from tests.faults.harness import CONSUMERS, GRACE_PERIOD_S, SERVICES, Report, Rig
from tests.faults.harness import writing_transactions as open_writes
from tests.faults.load import Load
from tests.support.kafka import read_topic

pytestmark = pytest.mark.faults
BULK_ROWS = 2000


async def committed_offsets(rig: Rig, service: str) -> dict[int, int]:
    """The group's committed offset per partition of the enterprises topic (-1: none)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=rig.kafka.bootstrap_servers,
        group_id=rig.settings[service].resolved_consumer_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        return {
            p: (await consumer.committed(TopicPartition(ENTERPRISES.name, p))) or -1
            for p in range(rig.kafka.topic_partitions)
        }
    finally:
        await consumer.stop()


async def accepts_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def test_sigterm_under_load_drains_and_commits_what_was_done(
    platform_rig: Rig, report: Report
) -> None:
    rig = platform_rig
    for service in SERVICES:
        await rig.configure(service)
    processes = [n.process for n in await rig.start_processes() if n.process is not None]
    async with asyncio.timeout(300), Load([rig.client("registry")], run_id=8) as load:
        await asyncio.sleep(3)
        await load.bulk(rig.client("registry"), BULK_ROWS)
        deadline = time.monotonic() + 60
        while not (
            len(await applied_ids(rig, "reporting")) > 100 and await open_writes(rig, "reporting")
        ):
            assert time.monotonic() < deadline, "reporting never had a batch in progress"
            await asyncio.sleep(0.02)
        signalled = time.monotonic()
        for process in processes:
            process.signal(signal.SIGTERM)
        await asyncio.sleep(1)
        listening = [p.service for p in processes if await accepts_connections(p.port)]
        exits = await asyncio.gather(*(p.wait_exit(GRACE_PERIOD_S) for p in processes))
        exit_s = time.monotonic() - signalled
        served_after = sum(1 for t in load.accepted_at if t > signalled + 1)
        for process, code in zip(processes, exits, strict=True):
            assert code is not None, f"{process.service} still runs {GRACE_PERIOD_S}s after SIGTERM"
            log = process.log_text()
            assert f"{process.service} stopped" in log, process.tail()  # the lifespan ran
            assert "Application shutdown complete" in log, process.tail()

        # offsets committed for exactly what was done: no applied event at or past them
        records = await read_topic(rig.kafka.bootstrap_servers, ENTERPRISES.name)
        where = {dict(r.headers)["ce_id"].decode(): (r.partition, r.offset) for r in records}
        beyond = {}
        for service in CONSUMERS:
            offsets = await committed_offsets(rig, service)
            applied = await applied_ids(rig, service)
            beyond[service] = sorted(
                where[i] for i in applied if where[i][1] >= offsets[where[i][0]]
            )
            assert await open_writes(rig, service) == 0
        assert not any(beyond.values()), f"applied but not committed: {beyond}"

        for process in processes:
            process.start()
        await asyncio.gather(*(p.wait_ready() for p in processes))
        restarted = time.monotonic()
        stopping = asyncio.create_task(load.stop_in(5))
        recovery = await recovery_after(rig, restarted)
        await stopping
        await wait_caught_up(rig, timeout_s=120)
        again = {s: (await consumed(rig.node(s)))["duplicate"] for s in CONSUMERS}
        verdict = await verify(rig, load)
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    codes = {p.service: code for p, code in zip(processes, exits, strict=True)}
    print(
        f"exit codes {codes} {exit_s:.1f}s after SIGTERM; still accepting connections 1s "
        f"after it: {listening or 'none'}; {served_after} commands accepted later than 1s after it"
    )
    assert not any(again.values()), f"events delivered again after the restart: {again}"
    report(
        "SIGTERM to all four services under load",
        recovery,
        f"drained and stopped within {exit_s:.1f}s (grace {GRACE_PERIOD_S:.0f}s), exit codes "
        f"{sorted(set(codes.values()))}; no event applied beyond the committed offsets; "
        f"none re-delivered after the restart",
    )
    # last, so that the guarantees above are checked (and reported) either way
    assert set(codes.values()) == {0}, (
        f"exit codes {codes}: a clean drain must end with status 0 (-15 is uvicorn re-raising "
        "SIGTERM after its graceful shutdown: shell status 143, which docker and Kubernetes "
        "report as a non-zero exit)"
    )
