"""PostgreSQL unreachable for one service for 20 s under load (a proxy in front of it is cut).

The registry: commands get a 503 with Retry-After (or time out), are not accepted and leave
nothing half-written; the relay retries. A consumer (reporting): its batches fail as transient
and are retried from the same offsets, nothing is dead-lettered, and once the database is back
everything converges."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.checks import recovery_after, verify, wait_caught_up
from tests.faults.harness import CONSUMERS, SERVICES, Node, Report, Rig, postgres_proxy
from tests.faults.load import Load

pytestmark = pytest.mark.faults
OUTAGE_S = 20.0


async def batch_failures(node: Node) -> float:
    text = (await node.client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ikm_consumer_batch_failures_total{")
    )


@pytest.mark.parametrize("service", ["reporting", "registry"])
async def test_postgres_unreachable_for_20s_for_one_service(
    platform_rig: Rig, report: Report, service: str
) -> None:
    rig = platform_rig
    proxy = await postgres_proxy(rig.stack)
    for name in SERVICES:
        await rig.configure(name, postgres_proxy=proxy if name == service else None)
    await rig.start_processes()
    async with asyncio.timeout(240), Load([rig.client("registry")], run_id=4) as load:
        await asyncio.sleep(5)
        before = load.accepted
        proxy.cut()
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            proxy.restore()
        restored = time.monotonic()
        accepted_during = load.accepted - before
        api_back = await load.first_accepted_after(restored) - restored
        stopping = asyncio.create_task(load.stop_in(5))
        recovery = await recovery_after(rig, restored)
        await stopping
        await wait_caught_up(rig, timeout_s=60)
        verdict = await verify(rig, load, whole_life=[rig.node(s) for s in CONSUMERS])
        failures = await batch_failures(rig.node(service)) if service in CONSUMERS else None
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    refused = load.not_accepted
    if service == "registry":
        assert refused > 0, "the registry answered every command while its database was away"
        answered_500 = {k: n for k, n in load.outcomes.items() if k.endswith(" 500")}
        assert not answered_500, f"a database outage must answer 503, not 500: {answered_500}"
        detail = (
            f"{refused} commands refused or unanswered during the outage, none half-written; "
            f"the API accepted commands again {api_back:.1f}s after"
        )
    else:
        assert failures, "the consumer never noticed its database was away"
        assert accepted_during > OUTAGE_S * load.rate * 0.5
        detail = f"{failures:.0f} batches failed and were retried from the same offsets"
    report(f"PostgreSQL unreachable 20 s for {service}", recovery, detail)
