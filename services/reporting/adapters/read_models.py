"""Read-model storage: which generation is live, upserts that add, and the KPI queries."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.adapters.tables import GENERATIONS, MODELS, ReadModels, generation_pointer
from shared import db

OVERRIDE = "reporting.generation"


_LIVE = select(generation_pointer.c.live).where(generation_pointer.c.id == 1)
_LIVE_LOCKED = _LIVE.with_for_update(read=True)


async def live_generation(session: AsyncSession, *, lock: bool = False) -> str:
    query = _LIVE
    if lock and session.bind.dialect.name == "postgresql":
        query = _LIVE_LOCKED
    rows = await db.fetch_mappings(session, query)
    live = rows[0]["live"] if rows else None
    if live is None:
        await session.execute(insert(generation_pointer).values(id=1, live=GENERATIONS[0]))
        return GENERATIONS[0]
    return str(live)


async def current(session: AsyncSession) -> ReadModels:
    """The read models this transaction writes to: the live ones, unless a rebuild chose others.

    Resolved once per transaction; consumers take a shared lock on the pointer so a rebuild's
    switch waits for batches in flight (on PostgreSQL, across replicas).
    """
    generation = session.info.get(OVERRIDE)
    if generation is None:
        generation = await live_generation(session, lock=True)
        session.info[OVERRIDE] = generation
    return MODELS[generation]


async def readable(session: AsyncSession) -> ReadModels:
    """The live read models, for a query. Without the pointer's lock: taking it made every
    dashboard poll a writing transaction (a locked row, a transaction id, a commit flushed to
    the WAL). A query that read the pointer just before a switch reads the generation it
    replaced, which stays whole until the next rebuild starts, and that rebuild empties it
    with DELETE, which a statement already running does not see."""
    return MODELS[await live_generation(session)]


async def inbox_table(session: AsyncSession) -> Table:
    return (await current(session)).inbox


async def switch_to(session: AsyncSession, generation: str) -> None:
    await session.execute(
        update(generation_pointer)
        .where(generation_pointer.c.id == 1)
        .values(live=generation, switched_at=datetime.now(UTC))
    )


async def empty(session: AsyncSession, models: ReadModels) -> None:
    for table in models.tables():
        await session.execute(delete(table))


def _insert(session: AsyncSession, table: Table) -> Any:
    return db.dialect_insert(session.bind.dialect.name, table)


def insert_ignoring_duplicates(session: AsyncSession, table: Table) -> Any:
    return _insert(session, table).on_conflict_do_nothing()


async def add_to(
    session: AsyncSession, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, int]
) -> None:
    """Add ``amounts`` to the row with ``keys``, creating it if needed (one statement)."""
    statement = _insert(session, table).values(**keys, **amounts)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in amounts},
    )
    await session.execute(statement)


async def put(
    session: AsyncSession, table: Table, keys: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Insert or replace the row with ``keys``."""
    statement = _insert(session, table).values(**keys, **values)
    if values:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=dict(values))
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)


async def row(session: AsyncSession, table: Table, **keys: Any) -> Any:
    query = select(table).where(*(table.c[k] == v for k, v in keys.items()))
    return (await session.execute(query)).first()


async def advance_position(
    session: AsyncSession,
    models: ReadModels,
    topic: str,
    partition: int,
    next_offset: int,
    event_at: datetime | None,
) -> None:
    statement = _advance_position(models.positions, session.bind.dialect.name)
    await db.execute_on_driver(
        session,
        statement,
        {"topic": topic, "partition": partition, "next_offset": next_offset, "event_at": event_at},
    )


@functools.cache
def _advance_position(table: Table, dialect: str) -> Any:
    """Built once per table: every consumer batch runs it."""
    statement = db.dialect_insert(dialect, table).values(
        topic=bindparam("topic"),
        partition=bindparam("partition"),
        next_offset=bindparam("next_offset"),
        last_event_at=bindparam("event_at", type_=table.c.last_event_at.type),
    )
    greatest = func.max if dialect == "sqlite" else func.greatest
    return statement.on_conflict_do_update(
        index_elements=["topic", "partition"],
        set_={
            "next_offset": greatest(table.c.next_offset, statement.excluded.next_offset),
            "last_event_at": func.coalesce(statement.excluded.last_event_at, table.c.last_event_at),
        },
    )
