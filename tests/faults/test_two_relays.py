"""Two registry replicas, so two outbox relays on one database, under load spread over both
APIs: only the holder of the advisory lock publishes, so each event reaches the topic exactly
once and per-key order holds."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.checks import verify, wait_caught_up
from tests.faults.harness import CONSUMERS, SERVICES, Node, Report, Rig
from tests.faults.load import Load

pytestmark = pytest.mark.faults
LOAD_S = 25.0


async def published(node: Node) -> int:
    text = (await node.client.get("/metrics")).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("ikm_messages_published_total{")
        )
    )


async def test_two_relays_publish_each_event_once_in_order(
    platform_rig: Rig, report: Report
) -> None:
    rig = platform_rig
    for service in SERVICES:
        # small relay batches: the two relays take turns as often as they can
        await rig.configure(service, relay_batch_size=5)
    await rig.start_processes("registry", "registry", *CONSUMERS)
    registries = rig.nodes["registry"]
    assert len(registries) == 2
    async with asyncio.timeout(180):
        async with Load([n.client for n in registries], run_id=5) as load:
            await asyncio.sleep(LOAD_S)
        stopped = time.monotonic()
        caught_up = await wait_caught_up(rig, timeout_s=60)
        verdict = await verify(
            rig, load, whole_life=[rig.node(s) for s in CONSUMERS], no_redelivery=True
        )
        shares = [await published(n) for n in registries]
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    print(f"events published by relay 1: {shares[0]}, relay 2: {shares[1]}")
    assert sum(shares) == verdict.events, shares
    assert all(shares), f"both relays must have published (took turns): {shares}"
    report(
        "two outbox relays at once",
        caught_up - stopped,
        f"relays published {shares[0]} + {shares[1]} = {verdict.events} events, none twice "
        "(time from the end of the load until everything was applied)",
    )
