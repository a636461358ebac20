"""Raw Kafka access for assertions: what is really on a topic, and messages crafted by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_topic(bootstrap: str, topic: str, *, idle_s: float = 1.0) -> list[ConsumerRecord]:
    """Every record on ``topic`` from offset 0, read without a consumer group.

    Reads until nothing new arrives for ``idle_s`` (the embedded broker's end offsets are
    not reliable, so "until idle" is the honest end condition).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        records: list[ConsumerRecord] = []
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000))
            if not batch:
                return records
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()


async def wait_for_records(
    bootstrap: str, topic: str, count: int, *, timeout_s: float = 20.0
) -> list[ConsumerRecord]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        records = await read_topic(bootstrap, topic, idle_s=0.3)
        if len(records) >= count or asyncio.get_running_loop().time() > deadline:
            return records


async def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: Mapping[str, str | bytes] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            value,
            key=key,
            headers=[
                (k, v if isinstance(v, bytes) else v.encode()) for k, v in (headers or {}).items()
            ],
        )
    finally:
        await producer.stop()


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The offset ``group`` has committed on one partition (None: nothing committed yet)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(TopicPartition(topic, partition))
        return offset
    finally:
        await consumer.stop()
