from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.broker import EmbeddedBroker
from shared.events.topics import all_topic_names
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support.platform import Databases, postgres_available


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A fresh, empty Kafka-protocol broker for each test (memory only, ~20 ms to start)."""
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture
async def kafka(embedded_broker: EmbeddedBroker) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=embedded_broker.bootstrap_servers)
    await ensure_topics(settings, all_topic_names())
    return settings


@pytest.fixture(scope="session")
def use_postgres() -> bool:
    available = asyncio.run(postgres_available())
    if not available and os.environ.get("IKM_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail("IKM_TEST_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable")
    return available


@pytest.fixture
async def databases(use_postgres: bool, tmp_path: object) -> AsyncIterator[Databases]:
    dbs = Databases(use_postgres, tmp_path)
    yield dbs
    await dbs.drop_all()
