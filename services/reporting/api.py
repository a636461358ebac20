"""Reporting HTTP routes: the ministry's KPIs, read from the read models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.reporting.adapters import read_models
from services.reporting.domain import national_share
from shared import db
from shared.http import runtime_of
from shared.runtime import ServiceRuntime

router = APIRouter(tags=["kpis"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


class ProvinceKpi(BaseModel):
    province_code: str
    enterprises: int
    share_pct: float


class EnterpriseKpis(BaseModel):
    total: int
    by_province: list[ProvinceKpi]
    as_of_event_time: datetime | None


@router.get("/kpis/enterprises", response_model=EnterpriseKpis)
async def enterprise_kpis(runtime: Runtime) -> EnterpriseKpis:
    async with db.transaction(runtime.sessions) as session:
        counts = await read_models.enterprises_by_province(session)
        as_of = await read_models.last_event_at(session)
    total = sum(c.enterprises for c in counts)
    return EnterpriseKpis(
        total=total,
        by_province=[
            ProvinceKpi(
                province_code=c.province_code,
                enterprises=c.enterprises,
                share_pct=national_share(c.enterprises, total),
            )
            for c in counts
        ],
        as_of_event_time=as_of,
    )
