"""What reporting does with each fact it hears of."""

from __future__ import annotations

from services.reporting.adapters import read_models
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events.registry import EnterpriseRegistered
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("reporting.kpis")


@routes.on(EnterpriseRegistered)
async def enterprise_registered(
    uow: UnitOfWork, event: EnterpriseRegistered, envelope: Envelope
) -> None:
    await read_models.count_enterprise(uow.session, event.profile.province_code, envelope.time)
