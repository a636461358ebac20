"""Poison messages produced straight to ``ikm.registry.enterprises`` while the load runs, keyed by
enterprises the load registered so they sit on the same partitions between good events:
malformed JSON, an unknown event type, schema-invalid data, a large (900 KB) one, and an
oversized (2 MB) one, which the broker accepts but the services' producer cannot dead-letter.
Each goes to ``ikm.registry.enterprises.dlq`` from every consumer group, with its reason and
original coordinates; the consumers move on and apply every good event."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from shared.events.registry import EnterpriseRegistered, EnterpriseUpdated
from shared.events.topics import ENTERPRISES
from tests.faults.checks import Poison, recovery_after, verify, wait_caught_up
from tests.faults.harness import CONSUMERS, SERVICES, Report, Rig
from tests.faults.load import Load

pytestmark = pytest.mark.faults
OVERSIZED_BYTES = 2 * 1024 * 1024  # the embedded broker accepts it (tested up to 10 MB)
# just under the 1 MiB max_request_size of the services' producer (aiokafka's default)
LARGE_BYTES = 900 * 1024


def poison_message(kind: str, nib: str) -> tuple[bytes, str, str]:
    """(value, ce_type, expected dlq_reason prefix) of one kind of poison about ``nib``."""
    registered, updated = EnterpriseRegistered.ce_type(), EnterpriseUpdated.ce_type()
    if kind == "malformed":
        return b'{"nib": "' + nib.encode() + b'", "profile": {', registered, "malformed:"
    if kind == "unknown-type":
        body = json.dumps({"nib": nib, "version": 99})
        return (
            body.encode(),
            "id.go.kemenperin.ikm.registry.EnterpriseTeleported.v1",
            ("unknown-type:"),
        )
    if kind == "schema-invalid":
        return json.dumps({"nib": nib, "version": 0}).encode(), updated, "schema-invalid:"
    if kind in ("large", "oversized"):
        size = LARGE_BYTES if kind == "large" else OVERSIZED_BYTES
        body = {"nib": nib, "version": 0, "padding": "x" * size}
        return json.dumps(body).encode(), updated, "schema-invalid:"
    raise ValueError(kind)


async def produce_poison(rig: Rig, load: Load, kinds: list[str], rounds: int) -> Poison:
    """``rounds`` times, one message of each kind, a second apart, between the load's events."""
    poison = Poison()
    pick = random.Random(7)
    producer = AIOKafkaProducer(
        bootstrap_servers=rig.kafka.bootstrap_servers,
        acks="all",
        max_request_size=OVERSIZED_BYTES + 1024 * 1024,
    )
    await producer.start()
    try:
        for round_ in range(rounds):
            for kind in kinds:
                nib = pick.choice(sorted(load.enterprises))
                ce_id = f"poison-{kind}-{round_}"
                value, ce_type, reason = poison_message(kind, nib)
                headers = {
                    "ce_specversion": "1.0",
                    "ce_id": ce_id,
                    "ce_source": "/ikm/registry",
                    "ce_type": ce_type,
                    "ce_subject": nib,
                    "ce_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "content-type": "application/json",
                }
                await producer.send_and_wait(
                    ENTERPRISES.name,
                    value,
                    key=nib.encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
                poison.reasons[ce_id] = reason
                await asyncio.sleep(1)
    finally:
        await producer.stop()
    return poison


async def run_with_poison(
    rig: Rig, run_id: int, kinds: list[str], rounds: int, *, timeout_s: float = 60
) -> tuple[Load, Poison, float, str]:
    for service in SERVICES:
        await rig.configure(service)
    await rig.start_processes()
    async with asyncio.timeout(200), Load([rig.client("registry")], run_id=run_id) as load:
        await asyncio.sleep(3)
        poison = await produce_poison(rig, load, kinds, rounds)
        last_poison = time.monotonic()
        stopping = asyncio.create_task(load.stop_in(3))
        recovery = await recovery_after(rig, last_poison, timeout_s=timeout_s)
        await stopping
        await wait_caught_up(rig, timeout_s=60)
        verdict = await verify(
            rig, load, poison=poison, whole_life=[rig.node(s) for s in CONSUMERS]
        )
    print(f"\n{load.summary()}\n" + "\n".join(verdict.notes))
    notes = f"{len(poison.reasons)} poison messages, {verdict.dead_letters} dead letters"
    return load, poison, recovery, notes


async def test_poison_messages_go_to_dead_letters_and_good_ones_apply(
    platform_rig: Rig, report: Report
) -> None:
    _, _, recovery, notes = await run_with_poison(
        platform_rig, 6, ["malformed", "unknown-type", "schema-invalid", "large"], rounds=3
    )
    report("poison: malformed, unknown type, schema-invalid, 900 KB", recovery, notes)


async def test_oversized_poison_message_goes_to_dead_letters(
    platform_rig: Rig, report: Report
) -> None:
    _, _, recovery, notes = await run_with_poison(
        platform_rig, 7, ["oversized"], rounds=1, timeout_s=40
    )
    report(f"poison: oversized ({OVERSIZED_BYTES // 1024 // 1024} MB)", recovery, notes)
