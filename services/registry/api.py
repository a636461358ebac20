"""Registry HTTP routes: parse, call a use case, shape the answer. Rules live in ``domain``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.registry import handlers
from services.registry.adapters.repository import EnterpriseRepository
from shared import db
from shared.errors import NotFound
from shared.http import runtime_of
from shared.runtime import ServiceRuntime

router = APIRouter(tags=["enterprises"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


class EnterpriseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nib: str = Field(description="Nomor Induk Berusaha: 13 digits", examples=["9120001234567"])
    name: str = Field(max_length=300, examples=["CV Logam Jaya"])
    province_code: str = Field(description="Kemendagri province code", examples=["35"])
    kbli: str = Field(
        description="Primary KBLI 2020 code (manufacturing: 10–33)", examples=["24202"]
    )


class EnterpriseOut(BaseModel):
    nib: str
    name: str
    province_code: str
    kbli: str
    registered_at: datetime
    version: int


@router.post("/enterprises", status_code=201, response_model=EnterpriseOut)
async def register_enterprise(body: EnterpriseIn, runtime: Runtime) -> EnterpriseOut:
    async with runtime.unit_of_work() as uow:
        enterprise = await handlers.register_enterprise(
            uow, handlers.RegisterEnterprise(**body.model_dump())
        )
    return EnterpriseOut(**vars(enterprise))


@router.get("/enterprises/{nib}", response_model=EnterpriseOut)
async def get_enterprise(nib: str, runtime: Runtime) -> EnterpriseOut:
    async with db.transaction(runtime.sessions) as session:
        enterprise = await EnterpriseRepository(session).get(nib)
    if enterprise is None:
        raise NotFound(f"no enterprise with NIB {nib}", field="nib")
    return EnterpriseOut(**vars(enterprise))
