"""Reporting listens to every public event type and projects it into the read models."""

from __future__ import annotations

from services.reporting import handlers
from services.reporting.adapters import read_models as store
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events import EVENT_TYPES, Event
from shared.events.registry import EnterpriseRegistered, EnterpriseUpdated
from shared.events.topics import ENROLLMENTS
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("reporting.kpis")


@routes.on_batch(*EVENT_TYPES)
async def project(uow: UnitOfWork, items: list[tuple[Event, Envelope]]) -> None:
    session = uow.session
    models = await store.current(session)
    enterprises = handlers.EnterpriseProjection(session, models)
    await enterprises.load(
        {e.nib for e, _ in items if isinstance(e, EnterpriseRegistered | EnterpriseUpdated)}
    )
    for event, _envelope in items:
        owner = event.topic.owner
        if owner == "registry":
            await handlers.on_registry_event(session, models, event, enterprises)
        elif event.topic is ENROLLMENTS:
            await handlers.on_enrollment_event(session, models, event)
        elif owner == "programs":
            await handlers.on_program_event(session, models, event)
        elif owner == "partnerships":
            await handlers.on_partnership_event(session, models, event)
    await enterprises.flush()
    await handlers.record_positions(session, models, [envelope for _, envelope in items])
