"""A consumer-group rebalance under load: a second programs replica joins the group (taking over
partitions from the first) while a backlog is being worked through, consumes, then leaves with a
graceful stop (handing them back). Between them every event is applied exactly once."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from tests.faults.checks import consumed, recovery_after, verify, wait_caught_up
from tests.faults.harness import CONSUMERS, SERVICES, Report, Rig
from tests.faults.load import Load

pytestmark = pytest.mark.faults
BULK_ROWS = 2000
STAY_S = 10.0


async def test_second_replica_joins_then_leaves_under_load(
    platform_rig: Rig, report: Report
) -> None:
    rig = platform_rig
    for service in SERVICES:
        await rig.configure(service)
    await rig.start_processes()
    first = rig.node("programs")
    async with asyncio.timeout(240), Load([rig.client("registry")], run_id=3) as load:
        await asyncio.sleep(3)
        # a backlog, so batches are in flight when the group rebalances
        await load.bulk(rig.client("registry"), BULK_ROWS)
        async with AsyncExitStack() as replica_stack:
            second = await rig.start_in_process("programs", replica_stack)
            await asyncio.sleep(STAY_S)
            rig.nodes["programs"].remove(second)  # leaving, with a graceful stop
        left = time.monotonic()
        second_share = await consumed(second)
        stopping = asyncio.create_task(load.stop_in(5))
        recovery = await recovery_after(rig, left)
        await stopping
        await wait_caught_up(rig, timeout_s=60)
        verdict = await verify(rig, load, whole_life=[*(rig.node(s) for s in CONSUMERS), second])
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    programs = await consumed(first) + second_share
    print(f"programs replica 1: {dict(await consumed(first))}, replica 2: {dict(second_share)}")
    assert second_share["applied"] > 0, "the second replica never got partitions"
    report(
        "rebalance: a second replica joins, then leaves",
        recovery,
        f"replica 2 applied {second_share['applied']} events in its {STAY_S:.0f}s in the group; "
        f"{programs['duplicate']} re-delivered events skipped by the inbox",
    )
