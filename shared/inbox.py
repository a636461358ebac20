"""Inbox: which events each handler has already applied, written in the same transaction as the
effect, so a redelivered event (same ``ce_source`` + ``ce_id``) has no second effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UtcDateTime, any_of, insert_new

EventKey = tuple[str, str]  # (ce_source, ce_id)


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    return Table(
        name,
        metadata,
        Column("handler", String(100), nullable=False),
        Column("event_id", String(100), nullable=False),
        Column("source", String(200), nullable=False),
        Column("processed_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("handler", "event_id", "source", name=f"pk_{name}"),
    )


TableResolver = Callable[[AsyncSession], Awaitable[Table]]


class Inbox:
    """``table`` may be a resolver, for consumers whose tables change (a read model rebuilt
    into a new generation keeps its inbox beside it)."""

    def __init__(self, table: Table | TableResolver, handler: str) -> None:
        self._table = table
        self.handler = handler

    async def table_for(self, session: AsyncSession) -> Table:
        if isinstance(self._table, Table):
            return self._table
        return await self._table(session)

    async def already_processed(
        self, session: AsyncSession, keys: Iterable[EventKey]
    ) -> set[EventKey]:
        keys = list(keys)
        if not keys:
            return set()
        c = (await self.table_for(session)).c
        event_ids = {event_id for _, event_id in keys}
        rows = await session.execute(
            select(c.source, c.event_id).where(
                c.handler == self.handler, any_of(session, c.event_id, event_ids)
            )
        )
        return {(source, event_id) for source, event_id in rows}

    async def claim(self, session: AsyncSession, keys: list[EventKey]) -> set[EventKey]:
        """Record ``keys`` as processed; returns those that were not already (the rest are
        redeliveries). In the caller's transaction, with the effects of the claimed events."""
        fresh = list(dict.fromkeys(keys))
        if not fresh:
            return set()
        inserted = await insert_new(
            session,
            await self.table_for(session),
            [{"event_id": event_id, "source": source} for source, event_id in fresh],
            ["handler", "event_id", "source"],
            same={"handler": self.handler, "processed_at": datetime.now(UTC)},
        )
        return {(source, event_id) for _, event_id, source in inserted}

    async def record(self, session: AsyncSession, key: EventKey) -> None:
        source, event_id = key
        await session.execute(
            insert(await self.table_for(session)).values(
                handler=self.handler,
                event_id=event_id,
                source=source,
                processed_at=datetime.now(UTC),
            )
        )
