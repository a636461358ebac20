"""Transactional outbox: events commit with the state change, a relay publishes them in order.

Each event is a row of ``outbox``, written once and never changed, and its id is listed in
``outbox_pending`` until it is published. The relay publishes pending rows in id order (so in
commit order per key: every command on an aggregate touches its row, which serialises writers of
one key), takes their ids off the pending list, and keeps the rows for a retention window so
they can be re-published. With several replicas only the holder of a PostgreSQL advisory lock
publishes, so nothing is sent twice out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from opentelemetry import trace
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    delete,
    event,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.db import DriverStatement, UtcDateTime, dialect_insert, reading, run_on_driver
from shared.envelope import OutgoingMessage, cloudevent_headers, encode, new_event_ids
from shared.errors import retry_delay
from shared.events.base import Event
from shared.telemetry import current_trace_headers

log = logging.getLogger(__name__)


PENDING_TABLE = "outbox_pending"


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table, and beside it in ``metadata`` the list of its rows not yet published.

    Publishing a row takes its id off that narrow list; the row itself is never written again.
    Marking the row (a ``published_at`` set by the relay) made PostgreSQL write a new version
    of every 1 KB row and its index entries once more, which cost more than writing it had, and
    doubled the table (measured alone, 2,000-row batches: 15.0 µs of PostgreSQL's CPU per row
    written and published, 185 MB per 80,000 rows; a pending list: 10.1 µs and 95 MB).

    ``headers`` holds only what the CloudEvents attributes do not give (the trace context):
    the relay makes those from the row's columns. Storing all of them made each row a third
    larger.

    ``event_id`` has no index: nothing reads the outbox by it (the relay goes by ``id``, a
    republish by ``created_at``) and the ids are 74 random bits within a millisecond. A unique
    index on it cost a third of the PostgreSQL time of writing and publishing each row. The
    pending list has no foreign key to the outbox: a check per row written, and per row purged,
    that nothing needs (the relay publishes only ids it finds in the outbox)."""
    Table(
        PENDING_TABLE,
        metadata,
        Column(
            "id",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
    )
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", String(36), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("ce_type", String(200), nullable=False),
        Column("headers", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Index("ix_outbox_created_at", "created_at"),
    )


def pending_table(outbox: Table) -> Table:
    """The list of ``outbox``'s rows not yet published (made with it by ``outbox_table``)."""
    return outbox.metadata.tables[PENDING_TABLE]


@dataclass(frozen=True)
class PendingMessage:
    id: int
    message: OutgoingMessage
    created_at: datetime


Publisher = Callable[[Sequence[PendingMessage]], Awaitable[None]]


class Outbox:
    """Writes events into the outbox table inside the caller's transaction."""

    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.pending = pending_table(table)
        self.source = source
        self.committed = asyncio.Event()
        self.commits = 0  # transactions committed with rows for this outbox, in this process
        self._write: DriverStatement | None = None

    async def add(self, session: AsyncSession, events: Sequence[Event]) -> list[OutgoingMessage]:
        if not events:
            return []
        trace_headers = current_trace_headers()
        now = datetime.now(UTC)
        messages = [
            encode(e, source=self.source, event_id=event_id, time=now, extra_headers=trace_headers)
            for e, event_id in zip(events, new_event_ids(len(events)), strict=True)
        ]
        # the headers the CloudEvents attributes do not give: the command's trace context
        extra = orjson.dumps(trace_headers).decode()
        columns: dict[str, list[Any]] = {name: [] for name in _WRITTEN_COLUMNS}
        for m in messages:
            columns["event_id"].append(m.event_id)
            columns["topic"].append(m.topic)
            columns["key"].append(m.key)
            columns["ce_type"].append(m.ce_type)
            columns["headers"].append(extra)
            columns["payload"].append(m.value)
        dialect = session.get_bind().dialect
        if dialect.name == "postgresql":
            if self._write is None:
                self._write = DriverStatement.of(self._build_write(), dialect)
            await run_on_driver(session, self._write, {**columns, "created_at": now})
        else:
            rows = [
                {**dict(zip(columns, values, strict=True)), "created_at": now}
                for values in zip(*columns.values(), strict=True)
            ]
            written = await session.execute(insert(self.table).returning(self.table.c.id), rows)
            await session.execute(insert(self.pending), [{"id": row_id} for (row_id,) in written])
        session.info[_WRITTEN] = self
        return messages

    def _build_write(self) -> Any:
        """One statement writes the rows and lists them as pending (PostgreSQL): each column
        as an array, the command's one time once."""
        t = self.table
        rows = select(
            *(
                func.unnest(bindparam(name, type_=ARRAY(t.c[name].type)))
                for name in _WRITTEN_COLUMNS
            ),
            cast(bindparam("created_at", type_=t.c.created_at.type), t.c.created_at.type),
        )
        written = (
            postgresql.insert(t)
            .from_select([*_WRITTEN_COLUMNS, "created_at"], rows)
            .returning(t.c.id)
            .cte("written")
        )
        return insert(self.pending).from_select(["id"], select(written.c.id))


_WRITTEN_COLUMNS = ("event_id", "topic", "key", "ce_type", "headers", "payload")


def _read_columns(t: Table) -> tuple[Column[Any], ...]:
    c = t.c
    return (c.id, c.event_id, c.ce_type, c.topic, c.key, c.payload, c.headers, c.created_at)


_WRITTEN = "ikm.outbox_written"


@event.listens_for(Session, "after_commit")
def _wake_relay(session: Session) -> None:
    """Once a transaction that wrote outbox rows commits, its relay publishes them at once.

    One listener for every session rather than one registered per transaction: registering
    cost about 40 µs, once per command. (A session rolled back keeps the mark; it only wakes
    the relay once more at its next commit, to find nothing new.)"""
    outbox = session.info.pop(_WRITTEN, None)
    if outbox is not None:
        outbox.commits += 1
        outbox.committed.set()


BACKLOG_COUNT_REUSE_S = 0.05
PURGE_INTERVAL_S = 600.0
PURGE_CHUNK_ROWS = 5_000


class _Backlog(NamedTuple):
    counted_at: float  # time.monotonic()
    limit: int
    changes: tuple[int, int]  # the outbox's commits and the relay's batches, when counted
    waiting: int  # rows waiting, up to limit + 1

    def still_answers(self, limit: int, changes: tuple[int, int], now: float) -> bool:
        fresh = now - self.counted_at < BACKLOG_COUNT_REUSE_S
        return fresh and (self.limit, self.changes) == (limit, changes)


class OutboxRelay:
    """Publishes committed outbox rows; wakes at once after a local commit, polls for others."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        sessions: async_sessionmaker[AsyncSession],
        publish: Publisher,
        lock_name: str,
        tracer: trace.Tracer,
        batch_size: int = 2000,
        poll_interval_s: float = 1.0,
        retention: timedelta = timedelta(days=7),
        straggler_window_s: float = 30.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.outbox = outbox
        self.table = outbox.table
        self.pending = outbox.pending
        self.sessions = sessions
        self.publish = publish
        self.lock_key = zlib.crc32(lock_name.encode())
        self.tracer = tracer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention = retention
        self._stopping = asyncio.Event()
        self.straggler_window_s = straggler_window_s
        self._floor = 0
        self._claimed: deque[tuple[float, int]] = deque()
        self._last_sweep = -math.inf
        self._batches = 0  # published so far, to tell a backlog count made before one
        self._backlog: _Backlog | None = None
        self._counting = asyncio.Lock()
        self._driver_claim: DriverStatement | None = None

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                published = await self.publish_pending()
                failures = 0
            except Exception as exc:  # the broker or the database is down: retry forever
                failures += 1
                if self.on_failure is not None:
                    self.on_failure()
                delay = retry_delay(failures)
                log.warning("outbox relay failed, retrying in %.1fs: %r", delay, exc)
                await self._sleep(delay)
                continue
            if published < self.batch_size:
                await self._wait_for_commit()

    def stop(self) -> None:
        self._stopping.set()
        self.outbox.committed.set()

    async def publish_pending(self) -> int:
        """Publish the oldest pending rows; off the pending list only if the broker took them.

        One statement takes the advisory lock, takes the batch off the pending list and reads
        its rows; the transaction stays open while the batch is sent and rolls back if sending
        fails, so a row leaves the list only once it is on the broker, and a crash in between
        sends it again (consumers skip it by its ``ce_id``).
        """
        now = time.monotonic()
        sweep = now - self._last_sweep >= self.straggler_window_s
        async with self.sessions() as session, session.begin():
            rows = await self._claim_batch(session, 0 if sweep else self._floor)
            if sweep:
                self._last_sweep = now
            if not rows:
                return 0
            pending = sorted(
                (
                    PendingMessage(id=row[0], message=self._message(*row[1:]), created_at=row[-1])
                    for row in rows
                ),
                key=lambda p: p.id,
            )
            await self.publish(pending)
        self._raise_floor(pending[-1].id)
        self._batches += 1
        return len(pending)

    def _message(
        self,
        event_id: str,
        ce_type: str,
        topic: str,
        key: str,
        payload: bytes,
        headers: str,
        created_at: datetime,
    ) -> OutgoingMessage:
        """The message a row holds: its CloudEvents headers made from its columns, then the
        headers it stores (rows written before the outbox stored only the trace context
        hold them all, the same values)."""
        message_headers = cloudevent_headers(
            event_id=event_id,
            source=self.outbox.source,
            ce_type=ce_type,
            time=created_at,
            subject=key,
        )
        message_headers.update(orjson.loads(headers))
        return OutgoingMessage(topic, key, payload, message_headers)

    def _raise_floor(self, highest_claimed: int) -> None:
        """Scan from a floor rather than from the start of the pending list's index.

        The index keeps an entry for every row published since the list was last vacuumed,
        and a scan from the start steps over all of them (57 ms a batch after three million
        rows with autovacuum off, when the list was an index of the outbox). A row with an id
        below the highest one claimed ``straggler_window_s`` ago was written before that claim;
        it is either published or belongs to a transaction that has been open for longer than
        the window. A full scan every window finds those stragglers.
        """
        now = time.monotonic()
        self._claimed.append((now, highest_claimed))
        while self._claimed and self._claimed[0][0] <= now - self.straggler_window_s:
            self._floor = max(self._floor, self._claimed.popleft()[1])

    async def _claim_batch(self, session: AsyncSession, floor: int) -> list[tuple[Any, ...]]:
        """Claim the next batch above ``floor``: (id, event_id, ce_type, topic, key, payload,
        headers, created_at) rows. The statement is built once (building it and its cache key
        cost 0.36 ms, once per commit at a steady rate of commands) and on PostgreSQL sent on
        asyncpg's connection."""
        parameters = {"floor": floor}
        dialect = session.get_bind().dialect
        if dialect.name != "postgresql":  # SQLite has one writer at a time already
            return await self._claim_on_sqlite(session, floor)
        if self._driver_claim is None:
            self._driver_claim = DriverStatement.of(self._build_claim(), dialect)
        return await run_on_driver(session, self._driver_claim, parameters)

    def _build_claim(self) -> Any:
        t, p = self.table, self.pending
        batch = (
            select(p.c.id)
            .where(
                p.c.id > bindparam("floor"),
                # an uncorrelated scalar subquery: PostgreSQL evaluates it once, before the scan
                select(func.pg_try_advisory_xact_lock(self.lock_key)).scalar_subquery(),
            )
            .order_by(p.c.id)
            .limit(self.batch_size)
        )
        # A relay that held the lock just before may have taken an id off the list after this
        # statement's snapshot was taken: the DELETE skips it, so it is not returned twice.
        claimed = delete(p).where(p.c.id.in_(batch.scalar_subquery())).returning(p.c.id).cte()
        # The ids as one array: an index scan of the outbox whatever the planner thinks of the
        # list's size (a join read the whole outbox: 36 µs a row against 4 measured alone)
        ids = cast(select(func.array_agg(claimed.c.id)).scalar_subquery(), ARRAY(BigInteger))
        return select(*_read_columns(t)).where(t.c.id == any_(ids))

    async def _claim_on_sqlite(self, session: AsyncSession, floor: int) -> list[tuple[Any, ...]]:
        t, p = self.table, self.pending
        ids = list(
            (
                await session.execute(
                    select(p.c.id).where(p.c.id > floor).order_by(p.c.id).limit(self.batch_size)
                )
            ).scalars()
        )
        if not ids:
            return []
        await session.execute(delete(p).where(p.c.id.in_(ids)))
        rows = await session.execute(select(*_read_columns(t)).where(t.c.id.in_(ids)))
        return [tuple(row) for row in rows]

    async def republish(self, since: datetime, until: datetime) -> int:
        """Publish again the events written in [since, until) (same ``ce_id``: consumers that
        had them skip them; a subscriber that lost them gets them back)."""
        t = self.table
        async with self.sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            window = select(t.c.id).where(t.c.created_at >= since, t.c.created_at < until)
            result = await session.execute(
                dialect_insert(dialect, self.pending)
                .from_select(["id"], window)
                .on_conflict_do_nothing(index_elements=["id"])
            )
        self._floor = 0  # the window's rows lie below it (a replica's relay finds them by sweep)
        self._claimed.clear()
        self.outbox.committed.set()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def backlog(self) -> tuple[int, float | None]:
        """Pending rows and the age in seconds of the oldest one."""
        t, p = self.table, self.pending
        oldest_id = select(func.min(p.c.id)).scalar_subquery()
        async with self.sessions() as session:
            count, oldest = (
                await session.execute(
                    select(
                        select(func.count()).select_from(p).scalar_subquery(),
                        select(t.c.created_at).where(t.c.id == oldest_id).scalar_subquery(),
                    )
                )
            ).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
        return int(count), age

    async def backlog_exceeds(self, limit: int) -> bool:
        """Whether more than ``limit`` rows wait to be published (reads at most limit + 1).

        Counted from the relay's floor, as the relay scans: below it only stragglers can wait,
        and a scan from the start of the pending list's index would step over every row
        published since the last vacuum on each bulk command. Bulk commands waiting together
        share one count, made again once events are written or published in this process, or after
        ``BACKLOG_COUNT_REUSE_S`` (another replica's): each waiter counting for itself every
        50 ms cost the registry 7 % of its CPU during an import that outran the relay."""
        async with self._counting:  # waiters woken together wait for one count
            changes = (self.outbox.commits, self._batches)
            known = self._backlog
            if known is not None and known.still_answers(limit, changes, time.monotonic()):
                return known.waiting > limit
            waiting = (
                select(self.pending.c.id)
                .where(self.pending.c.id > self._floor)
                .limit(limit + 1)
                .subquery()
            )
            async with reading(self.sessions) as session:
                count = int(await session.scalar(select(func.count()).select_from(waiting)) or 0)
            self._backlog = _Backlog(time.monotonic(), limit, changes, count)
            return count > limit

    async def _wait_for_commit(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.committed.wait(), self.poll_interval_s)
        self.outbox.committed.clear()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def purge_expired(self, chunk: int = PURGE_CHUNK_ROWS) -> int:
        """Delete the published rows written more than ``retention`` ago; how many.

        A job of its own (``ServiceRuntime`` runs it every ``PURGE_INTERVAL_S``), never a step
        of the publishing loop, and ``chunk`` rows per transaction found through the
        ``created_at`` index. It used to run inside the loop as one ``DELETE`` by the time each
        row was published, which had no index: a scan of the whole table that, once a national
        import had filled it, held up publishing for seconds every ten minutes (2.2 s with two
        million rows, the first scan after they were published; 4.4 million rows made the
        commands of that moment wait 5 s for their events). Retention is counted from when a
        row was written, the measure a republish window uses; a row not yet published stays
        whatever its age. Replicas purging at once skip each other's rows (``SKIP LOCKED``).
        """
        t, p = self.table, self.pending
        cutoff = datetime.now(UTC) - self.retention
        expired = (
            select(t.c.id)
            .where(t.c.created_at < cutoff, ~exists().where(p.c.id == t.c.id))
            .order_by(t.c.created_at)
            .limit(chunk)
            .with_for_update(skip_locked=True)
        )
        statement = delete(t).where(t.c.id.in_(expired.scalar_subquery()))
        purged = 0
        while not self._stopping.is_set():
            async with self.sessions() as session, session.begin():
                result = await session.execute(statement)
            deleted = int(result.rowcount)  # type: ignore[attr-defined]
            purged += deleted
            if deleted < chunk:
                break
        if purged:
            log.info("outbox: purged %d rows written before %s", purged, cutoff.isoformat())
        return purged
