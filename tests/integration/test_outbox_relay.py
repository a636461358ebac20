"""The outbox relay: nothing lost, nothing published twice, per-key order kept, two replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import delete, event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.tables import TABLES
from services.registry.settings import RegistrySettings
from shared import db
from shared import outbox as outbox_module
from shared.db import DriverStatement, run_on_driver
from shared.envelope import OutgoingMessage
from shared.events.registry import EnterpriseProfile, EnterpriseUpdated
from shared.events.topics import ENTERPRISES
from shared.kafka import KafkaPublisher, ensure_topics, make_producer
from shared.outbox import Outbox, OutboxRelay, PendingMessage, Publisher
from shared.runtime import ServiceRuntime
from shared.settings import KafkaSettings
from tests.support.kafka import read_topic, wait_for_records
from tests.support.platform import Databases, service_settings

pytestmark = pytest.mark.integration

KEYS = [f"91200000000{i:02d}" for i in range(10)]
VERSIONS = 30


def updates(version: int) -> list[EnterpriseUpdated]:
    """One EnterpriseUpdated at ``version`` for each of KEYS."""
    profile = EnterpriseProfile(name="CV Uji", province_code="35", kbli="24202")
    return [
        EnterpriseUpdated(
            nib=key,
            version=version,
            changed_fields=["name"],
            profile=profile,
            updated_at=datetime.now(UTC),
        )
        for key in KEYS
    ]


class RegistryOutbox(NamedTuple):
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox


@pytest.fixture
async def registry_outbox(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[RegistryOutbox]:
    """The registry's outbox in a migrated database of its own."""
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    engine = db.create_engine(settings.resolved_database_url)
    try:
        yield RegistryOutbox(
            db.session_factory(engine),
            Outbox(TABLES.outbox, settings.source),  # type: ignore[arg-type]
        )
    finally:
        await engine.dispose()


def relay_of(registry: RegistryOutbox, publish: Publisher, **options: Any) -> OutboxRelay:
    return OutboxRelay(
        outbox=registry.outbox,
        sessions=registry.sessions,
        publish=publish,
        lock_name="ikm-registry-outbox",
        tracer=trace.get_tracer("test"),
        **options,
    )


async def test_two_relays_publish_each_event_once_in_order_per_key(
    kafka: KafkaSettings, registry_outbox: RegistryOutbox
) -> None:
    sessions, outbox = registry_outbox
    for version in range(1, VERSIONS + 1):
        async with db.transaction(sessions) as session:
            await outbox.add(session, updates(version))

    brokers = [make_producer(kafka, client_id=f"relay-{i}") for i in range(2)]
    relays = [
        relay_of(
            registry_outbox,
            KafkaPublisher(broker, trace.get_tracer("test")),
            batch_size=7,  # many small batches: the replicas interleave as much as they can
            poll_interval_s=0.05,
        )
        for broker in brokers
    ]
    for broker in brokers:
        await broker.start()
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        records = await wait_for_records(
            kafka.bootstrap_servers, ENTERPRISES.name, len(KEYS) * VERSIONS, timeout_s=60
        )
        await asyncio.sleep(1)
        records = await wait_for_records(
            kafka.bootstrap_servers, ENTERPRISES.name, len(KEYS) * VERSIONS + 1, timeout_s=2
        )
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
        for broker in brokers:
            await broker.stop()

    assert len(records) == len(KEYS) * VERSIONS
    assert len({dict(r.headers)["ce_id"] for r in records}) == len(records)
    for key in KEYS:
        versions = [json.loads(r.value)["version"] for r in records if r.key == key.encode()]
        assert versions == list(range(1, VERSIONS + 1)), key


async def test_republishing_a_window_sends_the_same_events_again(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> None:
    from services.registry.app import create_app
    from tests.support.platform import running

    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as registry:
        before = datetime.now(UTC)
        for nib in ("9120000000101", "9120000000102"):
            body = {"nib": nib, "name": "CV Ulang", "province_code": "35", "kbli": "24202"}
            assert (await registry.post("/api/v1/enterprises", json=body)).status_code == 201
        await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 2)
        answer = await registry.post(
            "/api/v1/admin/outbox/republish",
            params={"since": before.isoformat(), "until": datetime.now(UTC).isoformat()},
        )
        assert answer.json()["events"] == 2
        records = await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 4)
    assert len(records) == 4
    assert len({dict(r.headers)["ce_id"] for r in records}) == 2


async def test_a_batch_the_broker_refuses_stays_unpublished_and_goes_out_next_time(
    registry_outbox: RegistryOutbox,
) -> None:
    sessions, outbox = registry_outbox
    async with db.transaction(sessions) as session:
        await outbox.add(session, updates(1))
    sent: list[PendingMessage] = []
    refuse = True

    async def publish(batch: Sequence[PendingMessage]) -> None:
        if refuse:
            raise KafkaConnectionError("broker away")
        sent.extend(batch)

    relay = relay_of(registry_outbox, publish, batch_size=4)
    with pytest.raises(KafkaConnectionError):
        await relay.publish_pending()
    assert (await relay.backlog())[0] == len(KEYS)  # nothing marked published
    refuse = False
    while await relay.publish_pending():
        pass
    assert (await relay.backlog())[0] == 0
    assert [json.loads(p.message.value)["nib"] for p in sent] == KEYS
    assert [p.id for p in sent] == sorted(p.id for p in sent)


async def test_a_row_whose_transaction_outlasts_the_straggler_window_is_still_published(
    registry_outbox: RegistryOutbox,
) -> None:
    sessions, outbox = registry_outbox
    sent: list[PendingMessage] = []

    async def publish(batch: Sequence[PendingMessage]) -> None:
        sent.extend(batch)

    window_s = 1.0
    relay = relay_of(registry_outbox, publish, straggler_window_s=window_s)

    async def commit(version: int) -> None:
        async with db.transaction(sessions) as session:
            await outbox.add(session, updates(version)[:1])

    def published() -> list[int]:
        return [json.loads(p.message.value)["version"] for p in sent]

    async with sessions() as slow, slow.begin():
        await outbox.add(slow, updates(1)[:1])  # its id comes first, its commit last
        await commit(2)
        assert await relay.publish_pending() == 1
        await asyncio.sleep(window_s * 1.2)
        await commit(3)
        assert await relay.publish_pending() == 1  # the floor now passes version 1's id
    await commit(4)
    await asyncio.sleep(window_s * 1.2)  # the next full scan is due
    while await relay.publish_pending():
        pass
    assert (await relay.backlog())[0] == 0
    assert published()[:2] == [2, 3]
    assert sorted(published()) == [1, 2, 3, 4]


async def test_the_relay_sends_the_headers_an_event_was_written_with(
    registry_outbox: RegistryOutbox,
) -> None:
    """The outbox stores only the trace context; the CloudEvents headers the relay makes from
    each row's columns are the ones the event was encoded with. A row written when the outbox
    stored every header goes out the same."""
    sessions, outbox = registry_outbox
    with TracerProvider().get_tracer("test").start_as_current_span("command"):
        async with db.transaction(sessions) as session:
            written = await outbox.add(session, updates(1)[:2])
    async with db.transaction(sessions) as session:
        old_form = await outbox.add(session, updates(2)[:1])
        await session.execute(
            update(outbox.table)
            .where(outbox.table.c.event_id == old_form[0].event_id)
            .values(headers=json.dumps(old_form[0].headers))
        )
    sent: list[PendingMessage] = []

    async def publish(batch: Sequence[PendingMessage]) -> None:
        sent.extend(batch)

    assert await relay_of(registry_outbox, publish).publish_pending() == 3
    assert [p.message for p in sent] == [*written, *old_form]
    assert "traceparent" in sent[0].message.headers
    async with sessions() as session:
        first = select(outbox.table.c.headers).order_by(outbox.table.c.id).limit(1)
        assert set(json.loads(await session.scalar(first))) == {"traceparent"}


async def test_a_commit_that_wrote_events_wakes_the_relay_and_nothing_else_does(
    registry_outbox: RegistryOutbox,
) -> None:
    """The relay waits for a commit that wrote outbox rows (or its poll), not for one that
    wrote none, nor for a transaction rolled back."""
    sessions, outbox = registry_outbox
    with pytest.raises(RuntimeError):
        async with db.transaction(sessions) as session:
            await outbox.add(session, updates(1))
            raise RuntimeError("the command fails after recording its events")
    async with db.transaction(sessions) as session:
        await session.execute(text("SELECT 1"))
    assert not outbox.committed.is_set()

    async with db.transaction(sessions) as session:
        await outbox.add(session, updates(2))
        assert not outbox.committed.is_set()  # not before the commit
    assert outbox.committed.is_set()


async def test_rows_go_where_a_plain_send_puts_them_in_outbox_order_across_many_batches(
    kafka: KafkaSettings,
) -> None:
    """The publisher fills record batches itself: each key on the partition ``send`` would
    choose (Kafka's default partitioner), each partition in outbox order, however many
    batches a partition needs."""
    batched, plain = f"relay-batched-{uuid.uuid4().hex[:8]}", f"relay-plain-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [batched, plain])
    keys = [f"91200000{i:05d}" for i in range(40)]
    pending = [
        PendingMessage(
            id=n,
            message=OutgoingMessage(
                batched,
                keys[n % len(keys)],
                json.dumps({"n": n, "padding": "x" * 2000}).encode(),
                {"ce_id": f"id-{n}", "ce_type": "org.kemenperin.ikm.test.v1"},
            ),
            created_at=datetime.now(UTC),
        )
        for n in range(600)
    ]
    # 16 KiB batches: a partition's 150 rows of 2 KB need about twenty of them
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, max_batch_size=16384)
    await producer.start()
    try:
        await KafkaPublisher(producer, trace.get_tracer("test"))(pending)
        for key in keys:
            await producer.send_and_wait(plain, b"{}", key=key.encode())
    finally:
        await producer.stop()

    records = await wait_for_records(kafka.bootstrap_servers, batched, len(pending))
    assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted(
        f"id-{n}" for n in range(600)
    )
    partition_of = {r.key: r.partition for r in await read_topic(kafka.bootstrap_servers, plain)}
    assert len(set(partition_of.values())) > 1
    for record in records:
        assert record.partition == partition_of[record.key]
    for partition in set(partition_of.values()):
        order = [json.loads(r.value)["n"] for r in records if r.partition == partition]
        assert order == sorted(order)
    per_partition = len(records) / len(set(partition_of.values()))
    assert per_partition * 2000 > 16384 * 4, "the test must make each partition need many batches"


async def test_bulk_commands_waiting_for_the_relay_share_a_count_until_the_outbox_changes(
    registry_outbox: RegistryOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, outbox = registry_outbox
    async with db.transaction(sessions) as session:
        await outbox.add(session, updates(1))  # 10 rows waiting
    counted: list[str] = []

    def count_statements(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower():
            counted.append(statement)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count_statements)

    async def publish(pending: Sequence[PendingMessage]) -> None:
        pass

    relay = relay_of(registry_outbox, publish)
    monkeypatch.setattr(outbox_module, "BACKLOG_COUNT_REUSE_S", 60.0)
    try:
        # waiters that wake together (they sleep alike) wait for one count and share it
        assert await asyncio.gather(*(relay.backlog_exceeds(5) for _ in range(8))) == [True] * 8
        assert [await relay.backlog_exceeds(5) for _ in range(8)] == [True] * 8
        assert len(counted) == 1
        assert not await relay.backlog_exceeds(20)  # another limit: counted again
        assert len(counted) == 2

        assert await relay.publish_pending() == 10
        assert not await relay.backlog_exceeds(5)  # published since: counted again
        assert len(counted) == 3

        async with db.transaction(sessions) as session:
            await outbox.add(session, updates(2))
        assert await relay.backlog_exceeds(5)  # events written since: counted again
        assert len(counted) == 4

        monkeypatch.setattr(outbox_module, "BACKLOG_COUNT_REUSE_S", 0.0)
        assert await relay.backlog_exceeds(5)  # nothing changed here, but the count is old:
        assert len(counted) == 5  # another replica may have written since
    finally:
        event.remove(engine, "before_cursor_execute", count_statements)


async def test_the_relay_steps_over_rows_it_published_without_reading_them_again(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> None:
    """Until the relay's floor rises (``straggler_window_s``), each claim scans the pending
    list's index from the start, over every row published since the last vacuum. A service's
    relay must read each such entry's table page once, not on every claim."""
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    runtime = ServiceRuntime(settings, TABLES)
    assert runtime.relay is not None and runtime.outbox is not None
    published: list[PendingMessage] = []

    async def publish(batch: Sequence[PendingMessage]) -> None:
        published.extend(batch)

    runtime.relay.publish = publish
    try:
        for version in range(1, 301):
            async with db.transaction(runtime.sessions) as session:
                await runtime.outbox.add(session, updates(version))
        while await runtime.relay.publish_pending():  # one transaction per claim
            pass
        assert len(published) == 300 * len(KEYS)

        pages_read = await claim_pages(runtime.relay)
        table_pages = await outbox_pages(runtime)
    finally:
        await runtime.engine.dispose()
        await runtime.relay_engine.dispose()

    assert table_pages > 100
    assert pages_read < 20, (pages_read, table_pages)  # a bitmap scan read 385 of 749


async def claim_pages(relay: OutboxRelay) -> int:
    """Pages the relay's next claim reads (from the start of the index), rolled back."""
    async with relay.sessions() as session, session.begin():
        claim = DriverStatement.of(relay._build_claim(), session.get_bind().dialect)
        explain = dataclasses.replace(
            claim, sql=f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {claim.sql}"
        )
        [[plan]] = await run_on_driver(session, explain, {"floor": 0})
        await session.rollback()
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


async def outbox_pages(runtime: ServiceRuntime) -> int:
    async with runtime.sessions() as session:
        await session.execute(text("ANALYZE outbox"))
        return int(
            await session.scalar(text("SELECT relpages FROM pg_class WHERE relname = 'outbox'"))
        )


async def test_the_purge_deletes_published_rows_past_retention_a_chunk_at_a_time(
    registry_outbox: RegistryOutbox,
) -> None:
    """Published rows written before the retention window go, a few per transaction; rows
    still unpublished stay whatever their age, and so do rows inside the window."""
    sessions, outbox = registry_outbox
    for version in (1, 2, 3, 4):
        async with db.transaction(sessions) as session:
            await outbox.add(session, updates(version))  # ten rows each
    table = outbox.table
    async with db.transaction(sessions) as session:
        ids = sorted((await session.execute(select(table.c.id))).scalars())
        old, old_unpublished, recent = ids[:25], ids[25:30], ids[30:]
        written_long_ago = datetime.now(UTC) - timedelta(days=8)
        await session.execute(
            update(table)
            .where(table.c.id.in_(old + old_unpublished))
            .values(created_at=written_long_ago)
        )
        await session.execute(delete(outbox.pending).where(outbox.pending.c.id.in_(old + recent)))
    relay = relay_of(registry_outbox, publish=lambda batch: asyncio.sleep(0))
    deletes: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def count_delete(*args: Any) -> None:
        statement = args[2]
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    event.listen(engine, "before_cursor_execute", count_delete)
    try:
        assert await relay.purge_expired(chunk=7) == 25
    finally:
        event.remove(engine, "before_cursor_execute", count_delete)

    assert len(deletes) == 4  # 7 + 7 + 7 + 4: a short chunk means nothing is left
    async with sessions() as session:
        left = sorted((await session.execute(select(table.c.id))).scalars())
    assert left == old_unpublished + recent
    assert await relay.purge_expired(chunk=7) == 0


async def test_a_purge_under_way_does_not_hold_up_publishing(
    kafka: KafkaSettings,
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The purge runs beside the relay, not in its loop: while one is under way (here it
    never ends), a registration's event still reaches the topic."""
    from services.registry.app import create_app
    from tests.support.platform import running

    purging = asyncio.Event()

    async def endless_purge(self: OutboxRelay, chunk: int = 0) -> int:
        purging.set()
        await asyncio.Event().wait()
        return 0

    monkeypatch.setattr(OutboxRelay, "purge_expired", endless_purge)
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as registry:
        await asyncio.wait_for(purging.wait(), timeout=10)
        body = {"nib": "9120000000301", "name": "CV Purge", "province_code": "35", "kbli": "24202"}
        assert (await registry.post("/api/v1/enterprises", json=body)).status_code == 201
        records = await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 1)
    assert [json.loads(r.value)["nib"] for r in records] == ["9120000000301"]
