"""Rebuilding the read models from the topics while the live ones keep serving.

The idle generation is emptied, every public topic is replayed into it from offset 0, and the
live consumer is paused only for the last catch-up and the switch. Events the live consumer
applies after the switch that the replay already applied are skipped by the new generation's
inbox, so the rebuilt models equal the incremental ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select

from services.reporting.adapters import read_models as store
from services.reporting.adapters.tables import GENERATIONS, MODELS, generation_pointer
from shared import db
from shared.consumer import BatchConsumer
from shared.events.topics import Topic
from shared.inbox import Inbox
from shared.kafka import admin_kwargs
from shared.runtime import ServiceRuntime


@dataclass
class RebuildStatus:
    state: str = "idle"  # idle | running | done | failed
    generation: str | None = None
    events_applied: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    error: str | None = None
    history: list[dict[str, object]] = field(default_factory=list)


async def rebuild(
    runtime: ServiceRuntime, consumer: BatchConsumer, topics: list[Topic], status: RebuildStatus
) -> None:
    started = time.monotonic()
    status.state, status.events_applied, status.error = "running", 0, None
    status.started_at, status.finished_at = datetime.now(UTC), None
    try:
        async with db.transaction(runtime.sessions) as session:
            live = await store.live_generation(session)
        target = next(g for g in GENERATIONS if g != live)
        status.generation = target
        async with db.transaction(runtime.sessions) as session:
            await store.empty(session, MODELS[target])

        reader = AIOKafkaConsumer(enable_auto_commit=False, **admin_kwargs(runtime.settings.kafka))  # type: ignore[arg-type]
        await reader.start()
        try:
            partitions = [
                TopicPartition(t.name, p)
                for t in topics
                for p in sorted(reader.partitions_for_topic(t.name) or ())
            ]
            reader.assign(partitions)
            await reader.seek_to_beginning(*partitions)
            inbox = Inbox(MODELS[target].inbox, consumer.routes.name)

            async def drain() -> None:
                while batches := await reader.getmany(timeout_ms=500, max_records=2000):
                    records = sorted(
                        (r for rs in batches.values() for r in rs),
                        key=lambda r: (r.topic, r.partition, r.offset),
                    )
                    async with runtime.sessions() as session, session.begin():
                        session.info[store.OVERRIDE] = target
                        status.events_applied += await consumer.apply(
                            session, records, inbox, dead_letters=False
                        )

            await drain()
            async with consumer.pause:
                if db.is_sqlite(runtime.settings.resolved_database_url):
                    await drain()  # one process writes SQLite: the pause is enough
                    async with db.transaction(runtime.sessions) as session:
                        await store.switch_to(session, target)
                else:
                    async with db.transaction(runtime.sessions) as session:
                        # waits for batches in flight in other replicas, holds off new ones
                        await session.execute(select(generation_pointer).with_for_update())
                        await drain()
                        await store.switch_to(session, target)
        finally:
            await reader.stop()
        status.state = "done"
    except Exception as exc:
        status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        status.finished_at = datetime.now(UTC)
        status.seconds = round(time.monotonic() - started, 3)
        status.history.append(
            {
                "generation": status.generation,
                "state": status.state,
                "events_applied": status.events_applied,
                "seconds": status.seconds,
            }
        )
