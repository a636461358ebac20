"""A unit of work: one transaction in which state changes and the events they cause commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shared.envelope import OutgoingMessage
from shared.events.base import Event
from shared.outbox import Outbox


class UnitOfWork:
    def __init__(self, session: AsyncSession, outbox: Outbox | None) -> None:
        self.session = session
        self.outbox = outbox

    async def record(self, *events: Event) -> Sequence[OutgoingMessage]:
        """Store events in the outbox in this transaction; the relay publishes them after commit."""
        if self.outbox is None:
            raise RuntimeError("this service emits no events")
        return await self.outbox.add(self.session, events)
