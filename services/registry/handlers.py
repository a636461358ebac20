"""Registry use cases: load, apply the domain rules, save and record events in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from services.registry import domain
from services.registry.adapters.repository import EnterpriseRepository
from shared.errors import Conflict
from shared.unit_of_work import UnitOfWork


class RegisterEnterprise(BaseModel):
    nib: str
    name: str
    province_code: str
    kbli: str


async def register_enterprise(uow: UnitOfWork, command: RegisterEnterprise) -> domain.Enterprise:
    enterprises = EnterpriseRepository(uow.session)
    if await enterprises.get(command.nib) is not None:
        raise Conflict(f"NIB {command.nib} is already registered", field="nib")
    enterprise, registered = domain.register(**command.model_dump(), now=datetime.now(UTC))
    await enterprises.add(enterprise)
    await uow.record(registered)
    return enterprise
