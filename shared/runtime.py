"""The running parts of one service, wired from its settings: database, broker, outbox relay,
consumers and telemetry. A service's ``app.py`` builds one and hands it its routes and handlers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from opentelemetry.sdk.trace import SpanProcessor
from pydantic import BaseModel
from sqlalchemy import MetaData, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import db, idempotency
from shared.auth import Authenticator
from shared.consumer import BatchConsumer, EventRoutes
from shared.errors import Busy, Conflict
from shared.events.topics import Topic, all_topic_names
from shared.idempotency import Command
from shared.inbox import Inbox, TableResolver
from shared.kafka import KafkaPublisher, ensure_topics, make_broker, make_producer
from shared.metrics import ServiceMetrics
from shared.outbox import PURGE_INTERVAL_S, Outbox, OutboxRelay
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
    idempotency: Table | None = None


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
        settings.auth.check_fit_for(settings.platform.environment)
        self.authenticator = Authenticator(settings.auth)
        self.metrics = ServiceMetrics(self.name)
        self.provider = tracer_provider(self.name, settings.telemetry, span_processors)
        self.tracer = self.provider.get_tracer(f"ikm.{self.name}")
        self.engine = db.create_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
        instrument_engine(self.engine, self.provider)
        self.sessions = db.session_factory(self.engine)
        self.relay_engine = self._relay_engine(settings.resolved_database_url, tables)
        self.broker = make_broker(settings.kafka, client_id=f"ikm-{self.name}")
        # aiokafka clients need a running event loop: the producer is made in start()
        self.publisher = KafkaPublisher(None, self.tracer, self.metrics)
        self.tables = tables
        self.outbox = Outbox(tables.outbox, settings.source) if tables.outbox is not None else None
        self.relay = (
            OutboxRelay(
                outbox=self.outbox,
                sessions=db.session_factory(self.relay_engine),
                publish=self.publisher,
                lock_name=f"ikm-{self.name}-outbox",
                tracer=self.tracer,
                batch_size=settings.relay_batch_size,
                poll_interval_s=settings.relay_poll_interval_s,
                on_failure=self.metrics.relay_failures.inc,
            )
            if self.outbox is not None
            else None
        )
        self._relay_task: asyncio.Task[None] | None = None
        self.consumers: list[BatchConsumer] = []
        self._periodic: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._periodic_tasks: list[asyncio.Task[None]] = []
        if self.relay is not None:
            self.every(PURGE_INTERVAL_S, "outbox-purge", self.relay.purge_expired)

    def _relay_engine(self, url: str, tables: ServiceTables) -> AsyncEngine:
        """The outbox relay's own few connections, planned without bitmap scans (the service's
        engine when it has no outbox, or on SQLite).

        The relay reads the unpublished-rows index in id order and stops at a batch. That index
        keeps an entry for every row published since the table was last vacuumed, which the
        planner cannot see: it chose a bitmap scan, which visits every such entry and its table
        page again on each claim (56 ms a claim with 150,000 rows published behind the relay's
        floor, against 5 ms). An index scan marks each one dead on its first visit and steps
        over it after. A pool of its own also keeps the relay publishing while requests hold
        every connection of the service's pool."""
        # SQLite has one writer at a time: a second pool would only wait on the first
        if tables.outbox is None or db.is_sqlite(url):
            return self.engine
        engine = db.create_engine(
            url, pool_size=2, max_overflow=1, server_settings={"enable_bitmapscan": "off"}
        )
        instrument_engine(engine, self.provider)
        return engine

    def every(self, seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        """Run ``job`` every ``seconds`` while the service runs (state lives in the database,
        so a restart simply resumes the schedule)."""
        self._periodic.append((name, seconds, job))

    async def _repeat(
        self, name: str, seconds: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "%s: scheduled job %s failed; next run in %.0fs", self.name, name, seconds
                )
            await asyncio.sleep(seconds)

    def consume(
        self, routes: EventRoutes, *topics: Topic, inbox: Table | TableResolver | None = None
    ) -> BatchConsumer:
        inbox = inbox if inbox is not None else self.tables.inbox
        if inbox is None:
            raise RuntimeError(f"{self.name} has no inbox table")
        consumer = BatchConsumer(
            routes=routes,
            settings=self.settings,
            broker=self.broker,
            sessions=self.sessions,
            inbox=Inbox(inbox, routes.name),
            outbox=self.outbox,
            tracer=self.tracer,
            metrics=self.metrics,
        )
        consumer.subscribe(*topics)
        self.consumers.append(consumer)
        return consumer

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with db.transaction(self.sessions) as session:
            yield UnitOfWork(session, self.outbox)

    @contextlib.asynccontextmanager
    async def command(self, request: Request, body: BaseModel | None) -> AsyncIterator[Command]:
        """A POST command's transaction, honouring its ``Idempotency-Key`` header if any."""
        key = request.headers.get("idempotency-key")
        table = self.tables.idempotency
        if key is None or table is None:
            async with self.unit_of_work() as uow:
                yield Command(uow)
            return
        scope = f"{request.method} {request.url.path}"
        print_ = idempotency.fingerprint(body)
        async with db.transaction(self.sessions) as session:
            previous = await idempotency.replay(session, table, scope, key, print_)
        if previous is not None:
            yield Command(UnitOfWork(session, None), replayed=previous)
            return
        async with self.unit_of_work() as uow:
            try:
                async with uow.session.begin_nested():
                    await idempotency.claim(uow.session, table, scope, key, print_)
            except IntegrityError as exc:  # the same key, sent twice at once
                raise Conflict("a request with this Idempotency-Key is in progress; retry") from exc
            yield Command(uow, _table=table, _scope=scope, _key=key)

    async def outbox_room(self) -> None:
        """Wait until the outbox backlog is within ``relay_max_backlog``; Busy if it stays over
        for ``relay_max_wait_s`` (the broker is away, or the import outruns the relay)."""
        if self.relay is None:
            return
        limit = self.settings.relay_max_backlog
        deadline = asyncio.get_running_loop().time() + self.settings.relay_max_wait_s
        while await self.relay.backlog_exceeds(limit):
            if asyncio.get_running_loop().time() > deadline:
                raise Busy(
                    f"more than {limit} events are still waiting to be published; "
                    "nothing was changed, retry later"
                )
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        await ensure_topics(self.settings.kafka, all_topic_names())
        await self.broker.start()
        if self.relay is not None:
            self.publisher.producer = make_producer(
                self.settings.kafka, client_id=f"ikm-{self.name}-relay"
            )
            await self.publisher.producer.start()
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        self._periodic_tasks = [
            asyncio.create_task(self._repeat(*job), name=f"{self.name}-{job[0]}")
            for job in self._periodic
        ]
        tune_garbage_collector()
        log.info("%s started", self.name)

    async def stop(self) -> None:
        for task in self._periodic_tasks:
            task.cancel()
        await asyncio.gather(*self._periodic_tasks, return_exceptions=True)
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            await self._relay_task
            if self.publisher.producer is not None:
                await self.publisher.producer.stop()
        await self.broker.stop()
        await self.engine.dispose()
        if self.relay_engine is not self.engine:
            await self.relay_engine.dispose()
        self.provider.shutdown()
        log.info("%s stopped", self.name)

    async def refresh_gauges(self) -> None:
        """Figures that are read, not counted: set them just before they are scraped."""
        if self.relay is not None:
            backlog, oldest = await self.relay.backlog()
            self.metrics.outbox_backlog.set(backlog)
            self.metrics.outbox_oldest_age.set(oldest or 0)
        pool = self.engine.pool
        self.metrics.db_pool_checked_out.set(getattr(pool, "checkedout", lambda: 0)())
        checks = await self.readiness()
        self.metrics.ready.set(1 if all(v == "ok" for v in checks.values()) else 0)

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


def tune_garbage_collector() -> None:
    """Once per process, when the service has started: keep what it built to start out of the
    collector's passes, and collect young objects less often.

    What a service builds to start (modules, the SQLAlchemy and pydantic machinery, the app)
    lives as long as the process, yet each full collection walked all of it, about 150,000
    objects: in the bench, 2.5–3 s of each service's 8–10 s of CPU in a 40,000-enterprise
    import. A consumer batch keeps some thousands of objects alive while it runs, which the
    default threshold (700 allocations) had the collector traverse several times per batch: a
    consumer's young collections took 0.45–0.5 s in the same import, and 0.2 s at 10,000.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(10_000, older, oldest)
