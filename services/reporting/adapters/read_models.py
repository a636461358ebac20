from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.adapters.tables import EnterprisesByProvince
from services.reporting.domain import ProvinceCount


async def count_enterprise(session: AsyncSession, province_code: str, at: datetime | None) -> None:
    row = await session.get(EnterprisesByProvince, province_code, with_for_update=True)
    if row is None:
        session.add(
            EnterprisesByProvince(province_code=province_code, enterprises=1, last_event_at=at)
        )
    else:
        row.enterprises += 1
        if at is not None and (row.last_event_at is None or at > row.last_event_at):
            row.last_event_at = at
    await session.flush()


async def enterprises_by_province(session: AsyncSession) -> list[ProvinceCount]:
    rows = await session.execute(
        select(EnterprisesByProvince).order_by(EnterprisesByProvince.province_code)
    )
    return [ProvinceCount(r.province_code, r.enterprises) for r in rows.scalars()]


async def last_event_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(EnterprisesByProvince.last_event_at)))
