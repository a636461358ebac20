from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.adapters.tables import EnterpriseRow
from services.registry.domain import Enterprise
from shared.errors import Conflict


def _to_domain(row: EnterpriseRow) -> Enterprise:
    return Enterprise(
        nib=row.nib,
        name=row.name,
        province_code=row.province_code,
        kbli=row.kbli,
        registered_at=row.registered_at,
        version=row.version,
    )


class EnterpriseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, nib: str) -> Enterprise | None:
        row = await self.session.get(EnterpriseRow, nib)
        return _to_domain(row) if row else None

    async def add(self, enterprise: Enterprise) -> None:
        self.session.add(
            EnterpriseRow(
                nib=enterprise.nib,
                name=enterprise.name,
                province_code=enterprise.province_code,
                kbli=enterprise.kbli,
                registered_at=enterprise.registered_at,
                version=enterprise.version,
            )
        )
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"NIB {enterprise.nib} is already registered", field="nib") from exc
