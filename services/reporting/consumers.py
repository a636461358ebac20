"""Reporting listens to every public event type and projects it into the read models."""

from __future__ import annotations

from services.reporting import handlers
from services.reporting.adapters import read_models as store
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events import EVENT_TYPES, Event
from shared.events.topics import ENROLLMENTS
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("reporting.kpis")


@routes.on(*EVENT_TYPES)
async def project(uow: UnitOfWork, event: Event, envelope: Envelope) -> None:
    models = await store.current(uow.session)
    owner = event.topic.owner
    if owner == "registry":
        await handlers.on_registry_event(uow.session, models, event)
    elif event.topic is ENROLLMENTS:
        await handlers.on_enrollment_event(uow.session, models, event)
    elif owner == "programs":
        await handlers.on_program_event(uow.session, models, event)
    elif owner == "partnerships":
        await handlers.on_partnership_event(uow.session, models, event)
    await handlers.record_position(uow.session, models, envelope)
