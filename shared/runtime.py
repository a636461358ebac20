"""The running parts of one service, wired from its settings: database, broker, outbox relay,
consumers and telemetry. A service's ``app.py`` builds one and hands it its routes and handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from opentelemetry.sdk.trace import SpanProcessor
from sqlalchemy import MetaData, Table

from shared import db
from shared.consumer import BatchConsumer, EventRoutes
from shared.events.topics import Topic, all_topic_names
from shared.inbox import Inbox
from shared.kafka import KafkaPublisher, ensure_topics, make_broker
from shared.outbox import Outbox, OutboxRelay
from shared.settings import ServiceSettings
from shared.telemetry import instrument_engine, tracer_provider
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceTables:
    """The kernel tables inside a service's own metadata (its migrations create them)."""

    metadata: MetaData
    outbox: Table | None
    inbox: Table | None


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        tables: ServiceTables,
        *,
        span_processors: tuple[SpanProcessor, ...] = (),
    ) -> None:
        self.settings = settings
        self.name = settings.service
        self.provider = tracer_provider(self.name, settings.telemetry, span_processors)
        self.tracer = self.provider.get_tracer(f"ikm.{self.name}")
        self.engine = db.create_engine(settings.resolved_database_url)
        instrument_engine(self.engine, self.provider)
        self.sessions = db.session_factory(self.engine)
        self.broker = make_broker(
            settings.kafka, client_id=f"ikm-{self.name}", provider=self.provider
        )
        self.tables = tables
        self.outbox = Outbox(tables.outbox, settings.source) if tables.outbox is not None else None
        self.relay = (
            OutboxRelay(
                outbox=self.outbox,
                sessions=self.sessions,
                publish=KafkaPublisher(self.broker, self.tracer),
                lock_name=f"ikm-{self.name}-outbox",
                tracer=self.tracer,
                batch_size=settings.relay_batch_size,
                poll_interval_s=settings.relay_poll_interval_s,
            )
            if self.outbox is not None
            else None
        )
        self._relay_task: asyncio.Task[None] | None = None

    def consume(self, routes: EventRoutes, *topics: Topic) -> BatchConsumer:
        if self.tables.inbox is None:
            raise RuntimeError(f"{self.name} has no inbox table")
        consumer = BatchConsumer(
            routes=routes,
            settings=self.settings,
            broker=self.broker,
            sessions=self.sessions,
            inbox=Inbox(self.tables.inbox, routes.name),
            outbox=self.outbox,
            tracer=self.tracer,
        )
        consumer.subscribe(*topics)
        return consumer

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with db.transaction(self.sessions) as session:
            yield UnitOfWork(session, self.outbox)

    async def start(self) -> None:
        await ensure_topics(self.settings.kafka, all_topic_names())
        await self.broker.start()
        if self.relay is not None:
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        log.info("%s started", self.name)

    async def stop(self) -> None:
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            await self._relay_task
        await self.broker.stop()
        await self.engine.dispose()
        self.provider.shutdown()
        log.info("%s stopped", self.name)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(db.ping(self.engine), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            reachable = await self.broker.ping(timeout=2.0)
            checks["broker"] = "ok" if reachable else "unreachable"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        return checks
