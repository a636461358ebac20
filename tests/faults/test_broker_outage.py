"""The broker unreachable for 30 s under load: the registry keeps accepting commands (outbox),
the relay retries until the broker is back, consumers pick up where they were."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.checks import recovery_after, verify, wait_caught_up
from tests.faults.harness import CONSUMERS, SERVICES, Report, Rig
from tests.faults.load import Load

pytestmark = pytest.mark.faults
OUTAGE_S = 30.0


async def test_broker_unreachable_for_30s_under_load(platform_rig: Rig, report: Report) -> None:
    rig = platform_rig
    for service in SERVICES:
        await rig.configure(service)
    await rig.start_processes()
    async with asyncio.timeout(240), Load([rig.client("registry")], run_id=1) as load:
        await asyncio.sleep(5)
        before_cut = load.accepted
        rig.broker_proxy.cut()
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            rig.broker_proxy.restore()
        restored = time.monotonic()
        accepted_during = load.accepted - before_cut
        stopping = asyncio.create_task(load.stop_in(5))
        recovery = await recovery_after(rig, restored)
        await stopping
        await wait_caught_up(rig, timeout_s=60)
        verdict = await verify(rig, load, whole_life=[rig.node(s) for s in CONSUMERS])
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    assert accepted_during > OUTAGE_S * load.rate * 0.5, "the registry must accept during it"
    report(
        "broker unreachable 30 s",
        recovery,
        f"{accepted_during} commands accepted while the broker was unreachable; "
        f"{verdict.events} events, {verdict.redelivered} exact redeliveries",
    )
