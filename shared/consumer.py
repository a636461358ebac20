"""Batch consumption with exactly-once effect: envelope → inbox → handler → commit → offsets.

A batch is one database transaction; each message runs in a savepoint so one bad message goes to
the dead-letter topic without undoing its neighbours. Offsets are committed by FastStream only
after the handler returns, i.e. after the database commit. Infrastructure failures raise, the
batch is rewound (``NACK_ON_ERROR`` seeks back) and retried with backoff: the place is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.envelope import Envelope, EnvelopeError, decode, read_data
from shared.errors import is_transient, retry_delay
from shared.events import EVENTS_BY_CE_TYPE, Event
from shared.events.base import CE_TYPE_PREFIX, Upcast
from shared.events.topics import Topic
from shared.inbox import Inbox
from shared.kafka import publish_dead_letters
from shared.metrics import ServiceMetrics, observe_many
from shared.outbox import Outbox
from shared.settings import ServiceSettings
from shared.telemetry import context_from
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

EventHandler = Callable[[UnitOfWork, Any, Envelope], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, list[tuple[Any, Envelope]]], Awaitable[None]]


@dataclass
class EventRoutes:
    """Which handler applies which event type, for one consumer (one inbox name)."""

    name: str
    handlers: dict[str, _Route] = field(default_factory=dict)

    def on(self, *event_types: type[Event]) -> Callable[[EventHandler], EventHandler]:
        """Route ``event_types`` to the handler, and the older versions each can upcast from."""

        def register(handler: EventHandler) -> EventHandler:
            self._add(event_types, handler, batched=False)
            return handler

        return register

    def on_batch(self, *event_types: type[Event]) -> Callable[[BatchHandler], BatchHandler]:
        """Route ``event_types`` to a handler that takes a run of consecutive events at once
        (in offset order), for projections that gain from bulk reads and writes."""

        def register(handler: BatchHandler) -> BatchHandler:
            self._add(event_types, handler, batched=True)
            return handler

        return register

    def _add(self, event_types: tuple[type[Event], ...], handler: Any, *, batched: bool) -> None:
        for event_type in event_types:
            self.handlers[event_type.ce_type()] = _Route(event_type, handler, None, batched)
            for older, upcast in event_type.upcasts.items():
                self.handlers.setdefault(older, _Route(event_type, handler, upcast, batched))


def _known_event_name(ce_type: str) -> bool:
    """A type of ours in a version this build does not know (e.g. a newer ``.v2``)."""
    if not ce_type.startswith(CE_TYPE_PREFIX + "."):
        return False
    name = ce_type.rsplit(".", 1)[0]
    return any(known.rsplit(".", 1)[0] == name for known in EVENTS_BY_CE_TYPE)


@dataclass(frozen=True)
class _Route:
    event_type: type[Event]
    handler: Any
    upcast: Upcast | None
    batched: bool


class _Rejected(Exception):
    """A handler broke a rule in a batch run without per-message savepoints."""


@dataclass
class _Outcome:
    counts: list[tuple[ConsumerRecord, str, str | None]] = field(default_factory=list)
    dead: list[tuple[ConsumerRecord, str]] = field(default_factory=list)
    # (event type, seconds each, how many events): the events of one run share its time
    timings: list[tuple[str, float, int]] = field(default_factory=list)


@dataclass
class _Decoded:
    record: ConsumerRecord
    envelope: Envelope
    event: Event
    handler: Any
    batched: bool = False


class BatchConsumer:
    def __init__(
        self,
        *,
        routes: EventRoutes,
        settings: ServiceSettings,
        broker: KafkaBroker,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Inbox,
        outbox: Outbox | None,
        tracer: trace.Tracer,
        metrics: ServiceMetrics,
    ) -> None:
        self.routes = routes
        self.metrics = metrics
        self.settings = settings
        self.broker = broker
        self.sessions = sessions
        self.inbox = inbox
        self.outbox = outbox
        self.tracer = tracer
        self.group = settings.resolved_consumer_group
        self._failures = 0
        # Held while a batch is applied: a read-model rebuild takes it to swap tables in between.
        self.pause = asyncio.Lock()
        self.highwater: dict[tuple[str, int], int] = {}
        self.position: dict[tuple[str, int], int] = {}

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages not yet applied per partition, from the consumer's own highwater marks."""
        return {
            tp: max(hw - self.position.get(tp, 0), 0) for tp, hw in sorted(self.highwater.items())
        }

    def subscribe(self, *topics: Topic) -> None:
        kafka = self.settings.kafka
        self.broker.subscriber(
            *(t.name for t in topics),
            group_id=self.group,
            batch=True,
            max_records=self.settings.consumer_batch_size,
            auto_offset_reset="earliest",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{self.routes.name}:{','.join(t.name for t in topics)}",
            parser=_parse_batch,
            decoder=_undecoded,
        )(self._on_batch)

    async def _on_batch(self) -> None:
        # Taken from the context rather than as an annotated parameter: FastStream resolves
        # such a parameter in a worker thread, a thread hop per batch.
        msg: KafkaMessage = self.broker.context.get_local("message")
        records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        try:
            async with self.pause:
                await self.handle(list(records))
            self._failures = 0
            self._track(msg, records)
        except Exception as exc:
            self._failures += 1
            self.metrics.batch_failures.labels(self.routes.name).inc()
            delay = retry_delay(self._failures)
            log.warning(
                "%s: batch of %d failed (%r); retrying in %.1fs from the same offsets",
                self.routes.name,
                len(records),
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            raise

    def _track(self, msg: KafkaMessage, records: tuple[ConsumerRecord, ...]) -> None:
        for record in records:
            self.position[(record.topic, record.partition)] = record.offset + 1
        consumer = getattr(msg, "consumer", None)
        if consumer is None or not hasattr(consumer, "assignment"):
            return
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.highwater[(tp.topic, tp.partition)] = highwater
        for (topic, partition), lag in self.lag().items():
            self.metrics.consumer_lag.labels(self.routes.name, topic, str(partition)).set(lag)

    async def handle(self, records: list[ConsumerRecord]) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await self.apply(session, records, savepoint=False)
        except _Rejected:
            # A rule broken somewhere in the batch rolled all of it back: again, one at a time.
            async with self.sessions() as session, session.begin():
                await self.apply(session, records, isolate=True)

    async def apply(
        self,
        session: AsyncSession,
        records: list[ConsumerRecord],
        inbox: Inbox | None = None,
        *,
        dead_letters: bool = True,
        savepoint: bool = True,
        isolate: bool = False,
    ) -> int:
        """Apply records in the caller's transaction; dead letters are published before it ends.

        The batch first runs under one savepoint. Only if a message breaks a rule is it run
        again with a savepoint per message (``isolate``), so the bad one is set aside and the
        others kept. A caller whose transaction holds nothing else passes ``savepoint=False``
        (two round trips fewer per batch): a broken rule then raises ``_Rejected``, and the
        caller rolls back and calls again with ``isolate=True``. A replay passes
        ``dead_letters=False``: its poison messages were dead-lettered when they first arrived.
        Returns how many events were applied.
        """
        inbox = inbox or self.inbox
        outcome = _Outcome()
        decoded: list[_Decoded] = []
        for record in records:
            try:
                item = self._decode(record)
            except (EnvelopeError, ValidationError, LookupError) as exc:
                outcome.dead.append((record, _reason(exc)))
                continue
            if item is not None:
                decoded.append(item)
            else:
                outcome.counts.append((record, "ignored", None))

        if isolate:
            applied = await self._apply_all(session, decoded, inbox, isolate=True)
        elif not savepoint:
            applied = await self._apply_all(session, decoded, inbox, isolate=False)
        else:
            try:
                async with session.begin_nested():
                    applied = await self._apply_all(session, decoded, inbox, isolate=False)
            except _Rejected:
                applied = await self._apply_all(session, decoded, inbox, isolate=True)
        outcome.counts += applied.counts
        outcome.dead += applied.dead
        outcome.timings += applied.timings

        if outcome.dead and dead_letters:
            # Before the commit: a crash now re-delivers (a duplicate dead letter), never loses.
            await publish_dead_letters(self.broker, self.group, outcome.dead)
        self._observe(outcome, dead_letters)
        return sum(1 for _, kind, _ in outcome.counts if kind == "applied")

    async def _apply_all(
        self, session: AsyncSession, decoded: list[_Decoded], inbox: Inbox, *, isolate: bool
    ) -> _Outcome:
        outcome = _Outcome()
        keys = [(d.envelope.source, d.envelope.id) for d in decoded]
        if isolate:
            # Each event's inbox row is written in its own savepoint with its effect, so an
            # event set aside for the dead-letter topic is not marked as processed.
            done = await inbox.already_processed(session, keys)
        else:
            # Claimed up front in one statement; if the batch breaks a rule, its savepoint
            # takes the claims back with everything else.
            claimed = await inbox.claim(session, keys)
            done = set(keys) - claimed
        fresh: list[_Decoded] = []
        for item in decoded:
            key = (item.envelope.source, item.envelope.id)
            if key in done:
                outcome.counts.append((item.record, "duplicate", item.envelope.type))
                continue
            done.add(key)
            fresh.append(item)
        applied: list[_Decoded] = []
        for run in _runs(fresh, together=not isolate):
            started = time.perf_counter()
            failure = await self._apply(session, run, inbox, isolate=isolate)
            if failure is not None:
                outcome.dead.append((run[0].record, failure))
                continue
            applied += run
            share = (time.perf_counter() - started) / len(run)
            counted = Counter(item.envelope.type for item in run)
            outcome.timings += [(event_type, share, n) for event_type, n in counted.items()]
        debug = log.isEnabledFor(logging.DEBUG)
        for item in applied:
            outcome.counts.append((item.record, "applied", item.envelope.type))
            if debug:
                log.debug(
                    "applied %s %s",
                    item.envelope.type,
                    item.envelope.id,
                    extra={"event_type": item.envelope.type, "ce_id": item.envelope.id},
                )
        return outcome

    def _observe(self, outcome: _Outcome, dead_letters: bool) -> None:
        counted: Counter[tuple[str, str]] = Counter()
        for record, kind, event_type in outcome.counts:
            counted[(event_type or _ce_type(record), kind)] += 1
        if dead_letters:
            for record, reason in outcome.dead:
                counted[(_ce_type(record), "dead_lettered")] += 1
                self.metrics.dead_letters.labels(record.topic, reason.split(":", 1)[0]).inc()
        for (event_type, kind), n in counted.items():
            self.metrics.messages_consumed.labels(self.routes.name, event_type, kind).inc(n)
        for event_type, seconds, n in outcome.timings:
            histogram = self.metrics.handler_seconds.labels(self.routes.name, event_type)
            observe_many(histogram, seconds, n)

    def _decode(self, record: ConsumerRecord) -> _Decoded | None:
        envelope = decode(
            record.headers or (),
            record.value,
            record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        route = self.routes.handlers.get(envelope.type)
        if route is None:
            if envelope.type in EVENTS_BY_CE_TYPE or _known_event_name(envelope.type):
                return None  # a known fact this consumer has no interest in
            raise LookupError(f"ce_type: unknown event type {envelope.type!r}")
        # Read only by a consumer that applies the type: one that ignores it reads neither its
        # JSON nor its schema, and each consumer that applies it dead-letters it if malformed.
        event = read_data(route.event_type, envelope.value, route.upcast)
        return _Decoded(record, envelope, event, route.handler, route.batched)

    async def _apply(
        self, session: AsyncSession, run: list[_Decoded], inbox: Inbox, *, isolate: bool
    ) -> str | None:
        """Run one handler call (one event, or a run for a batch handler) in spans continuing
        the events' traces. Isolated (one event): in a savepoint, a rule broken is returned as
        the reason to dead-letter. Not isolated: a rule broken raises _Rejected."""
        spans = [self._span(group) for group in _by_trace(run)]
        first = run[0]
        uow = UnitOfWork(session, self.outbox)
        try:
            with trace.use_span(spans[0], end_on_exit=False):
                if isolate:
                    async with session.begin_nested():
                        await self._call(uow, run)
                        await inbox.record(session, (first.envelope.source, first.envelope.id))
                else:
                    await self._call(uow, run)
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, str(exc))
            if is_transient(exc):
                raise
            if not isolate:
                raise _Rejected from exc
            log.warning(
                "%s rejected %s %s: %s",
                self.routes.name,
                first.envelope.type,
                first.envelope.id,
                exc,
                extra={"event_type": first.envelope.type, "ce_id": first.envelope.id},
            )
            return _reason(exc)
        finally:
            for span in spans:
                span.end()
        return None

    @staticmethod
    async def _call(uow: UnitOfWork, run: list[_Decoded]) -> None:
        if run[0].batched:
            await run[0].handler(uow, [(item.event, item.envelope) for item in run])
        else:
            await run[0].handler(uow, run[0].event, run[0].envelope)

    def _span(self, group: list[_Decoded]) -> trace.Span:
        """One CONSUMER span per trace: a command's event gets its own, the events of one bulk
        request (one trace) share one, so a national import doesn't cost a span per row."""
        first = group[0]
        record, envelope = first.record, first.envelope
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self.group,
            "cloudevents.event_type": envelope.type,
        }
        if len(group) == 1:
            attributes["messaging.message.id"] = envelope.id
            attributes["cloudevents.event_subject"] = envelope.subject or ""
        else:
            attributes["messaging.batch.message_count"] = len(group)
        return self.tracer.start_span(
            f"process {record.topic}",
            context=_context(envelope),
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        )


def _by_trace(run: list[_Decoded]) -> list[list[_Decoded]]:
    groups: dict[str | None, list[_Decoded]] = {}
    for item in run:
        groups.setdefault(item.envelope.trace_headers.get("traceparent"), []).append(item)
    return list(groups.values())


def _runs(items: list[_Decoded], *, together: bool) -> list[list[_Decoded]]:
    """Consecutive events for the same batch handler form one run; the rest run alone."""
    runs: list[list[_Decoded]] = []
    for item in items:
        previous = runs[-1][0] if runs else None
        if (
            together
            and item.batched
            and previous is not None
            and previous.batched
            and previous.handler is item.handler
        ):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


async def _parse_batch(
    records: tuple[ConsumerRecord, ...], default: Callable[..., Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's batch parser, less its decoding of every header of every record.

    That decoding fails the whole batch on one header that is not UTF-8, before
    ``envelope.decode`` can dead-letter the one message: the partition would stall. Headers
    are left to ``envelope.decode``, which also spares the per-record dictionaries FastStream
    builds and nothing reads (3–5 % of a consumer's CPU during an import). The message is built
    as FastStream's own parser builds it, with the consumer its acknowledgement commits on.
    """
    parser: Any = default.__self__  # type: ignore[attr-defined]
    first, last = records[0], records[-1]
    return parser.msg_class(  # type: ignore[no-any-return]
        body=[record.value or b"" for record in records],
        headers={},
        batch_headers=[],
        message_id=f"{first.offset}-{last.offset}-{first.timestamp}",
        raw_message=records,
        path={},  # topics are named, not patterns: no path parameters
        consumer=parser._consumer,
    )


async def _undecoded(msg: KafkaMessage) -> None:
    """Leave bodies to ``envelope.decode``: a malformed one is a dead letter, not a crash."""
    return None


def _ce_type(record: ConsumerRecord) -> str:
    return next(
        (v.decode(errors="replace") for k, v in record.headers or () if k == "ce_type"),
        "unknown",
    )


def _context(envelope: Envelope) -> Any:
    return context_from(envelope.trace_headers)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()
        )
        return f"schema-invalid: {problems}"
    if isinstance(exc, EnvelopeError):
        return f"malformed: {exc}"
    if isinstance(exc, LookupError):
        return f"unknown-type: {exc.args[0] if exc.args else exc}"
    return f"rejected: {type(exc).__name__}: {exc}"
