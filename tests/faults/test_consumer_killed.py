"""A consumer process killed with SIGKILL in the middle of a batch, then restarted: the batch's
transaction never committed, its offsets were never committed either, so the restarted process
applies it again from the same offsets, and the inbox keeps anything that did commit from being
applied twice."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.faults.checks import applied_ids, consumed, recovery_after, verify, wait_caught_up
from tests.faults.harness import SERVICES, Report, Rig, writing_transactions
from tests.faults.load import Load

pytestmark = pytest.mark.faults
BULK_ROWS = 2000


async def test_consumer_killed_mid_batch_and_restarted(platform_rig: Rig, report: Report) -> None:
    rig = platform_rig
    for service in SERVICES:
        await rig.configure(service)
    await rig.start_processes()
    victim = rig.node("reporting")
    assert victim.process is not None
    async with asyncio.timeout(300), Load([rig.client("registry")], run_id=2) as load:
        await asyncio.sleep(3)
        # a backlog, so the consumer works through big batches when it is killed
        await load.bulk(rig.client("registry"), BULK_ROWS)
        deadline = time.monotonic() + 60
        while True:
            applied = len(await applied_ids(rig, "reporting"))
            if applied > 200 and await writing_transactions(rig, "reporting"):
                victim.process.signal(signal.SIGKILL)
                killed = time.monotonic()
                break
            assert time.monotonic() < deadline, "reporting never had a batch in progress"
            await asyncio.sleep(0.02)
        assert await victim.process.wait_exit(10) == -signal.SIGKILL
        # the open transaction died with its connection: rolled back, nothing half-applied
        await asyncio.sleep(1)
        assert await writing_transactions(rig, "reporting") == 0
        started = time.monotonic()
        victim.process.start()
        await victim.process.wait_ready()
        restarted = time.monotonic()
        stopping = asyncio.create_task(load.stop_in(5))
        recovery = await recovery_after(rig, restarted)
        await stopping
        await wait_caught_up(rig, timeout_s=120)
        after_restart = await consumed(victim)
        verdict = await verify(
            rig, load, whole_life=[rig.node("programs"), rig.node("partnerships")]
        )
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    print(f"reporting after its restart: {dict(after_restart)}")
    report(
        "consumer SIGKILL mid-batch",
        recovery,
        f"killed after {applied} events applied with a batch open; restarted "
        f"{started - killed:.1f}s later, ready {restarted - started:.1f}s after that; "
        f"then it skipped "
        f"{after_restart['duplicate']} already applied events and applied "
        f"{after_restart['applied']}",
    )
