"""Dead letters: listing them and sending them back to their topic once the cause is fixed.

Re-driving publishes the original value, key and headers (without the ``dlq_*`` ones) to the
original topic. Every consumer group sees it again; those that had applied it skip it by its
``ce_id`` (inbox), the one that failed gets another chance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.events.topics import ALL_TOPICS
from shared.kafka import admin_kwargs
from shared.settings import KafkaSettings

DLQ_HEADER_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return self.headers.get("dlq_reason", "")

    @property
    def original_topic(self) -> str:
        return self.headers.get("dlq_original_topic", self.topic.removesuffix(".dlq"))

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id", "")

    @property
    def event_type(self) -> str:
        return self.headers.get("ce_type", "")

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [
            (name, value.encode())
            for name, value in self.headers.items()
            if not name.startswith(DLQ_HEADER_PREFIX)
        ]


def _dead_letter(record: ConsumerRecord) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in record.headers or ()},
    )


def dead_letter_topics(only: str | None = None) -> list[str]:
    names = [t.dead_letter for t in ALL_TOPICS]
    if only is None:
        return names
    wanted = only if only.endswith(".dlq") else f"{only}.dlq"
    if wanted not in names:
        raise ValueError(f"unknown topic {only!r}; dead-letter topics: {', '.join(names)}")
    return [wanted]


async def read_dead_letters(
    settings: KafkaSettings, topics: Iterable[str], *, timeout_s: float = 30
) -> list[DeadLetter]:
    """Every dead letter on ``topics``, read from the start without a consumer group.

    Read until each partition's position reaches the highwater mark its fetches report (the
    broker's "latest" offsets are not to be trusted), not until a poll comes back empty: a
    large dead letter may take longer than one poll to arrive."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **admin_kwargs(settings))  # type: ignore[arg-type]
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[DeadLetter] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            letters += [_dead_letter(r) for records in batch.values() for r in records]
            if await _read_to_highwater(consumer, partitions):
                break
            if not batch and asyncio.get_running_loop().time() > deadline:
                break  # a partition that never answered: what was read is all there is
        return sorted(letters, key=lambda d: (d.topic, d.partition, d.offset))
    finally:
        await consumer.stop()


async def _read_to_highwater(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True


async def redrive(settings: KafkaSettings, letters: Iterable[DeadLetter]) -> int:
    producer = AIOKafkaProducer(acks="all", **admin_kwargs(settings))  # type: ignore[arg-type]
    await producer.start()
    sent = 0
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                letter.value,
                key=letter.key,
                headers=letter.original_headers(),
            )
            sent += 1
    finally:
        await producer.stop()
    return sent
