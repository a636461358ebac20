"""The local replica of other services' facts: enterprises and their certificates (registry) and
suspended enrollments (programs). Written only by consumers, read by readiness and signing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.partnerships.adapters.tables import (
    CertificateReplicaRow,
    EnterpriseReplicaRow,
    SuspendedEnrollmentRow,
)
from services.partnerships.domain import Enterprise, Holding, Suspension
from shared import db
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus

ENTERPRISE_REPLICAS: Table = EnterpriseReplicaRow.__table__  # type: ignore[assignment]


class ReplicaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enterprise(self, nib: str, *, lock: bool = False) -> Enterprise | None:
        """``lock`` serialises everything that reassesses one IKM (consumers and commands), so
        two transactions never both see the same old readiness and both announce a change."""
        rows = await db.rows_where_in(
            self.session, ENTERPRISE_REPLICAS, "nib", [nib], lock="update" if lock else None
        )
        return _enterprise(rows[0]) if rows else None

    async def enterprises(
        self, nibs: Iterable[str], *, lock: bool = False
    ) -> dict[str, Enterprise]:
        # Locked in key order, so that two transactions locking overlapping sets cannot deadlock.
        rows = await db.rows_where_in(
            self.session, ENTERPRISE_REPLICAS, "nib", set(nibs), lock="update" if lock else None
        )
        return {row["nib"]: _enterprise(row) for row in rows}

    async def save_enterprises(self, enterprises: Iterable[Enterprise]) -> None:
        await db.upsert_many(
            self.session,
            ENTERPRISE_REPLICAS,
            [
                {
                    "nib": e.nib,
                    "name": e.name,
                    "province_code": e.province_code,
                    "status": e.status.value,
                    "version": e.version,
                }
                for e in enterprises
            ],
            ["nib"],
        )

    async def save_enterprise(self, enterprise: Enterprise) -> None:
        await self.save_enterprises([enterprise])

    async def holdings(self, nib: str) -> list[Holding]:
        rows = await self.session.scalars(
            select(CertificateReplicaRow)
            .where(CertificateReplicaRow.nib == nib)
            .order_by(CertificateReplicaRow.scheme, CertificateReplicaRow.certificate_id)
        )
        return [
            Holding(r.certificate_id, CertificateScheme(r.scheme), r.tkdn_pct, r.expires_on)
            for r in rows
        ]

    async def hold(self, nib: str, holding: Holding) -> None:
        """Record a certificate (or its renewal): keyed by certificate id, so idempotent."""
        await self.session.merge(
            CertificateReplicaRow(
                certificate_id=holding.certificate_id,
                nib=nib,
                scheme=holding.scheme.value,
                tkdn_pct=holding.tkdn_pct,
                expires_on=holding.expires_on,
            )
        )
        await self.session.flush()

    async def withdraw(self, certificate_id: str) -> None:
        await self.session.execute(
            delete(CertificateReplicaRow).where(
                CertificateReplicaRow.certificate_id == certificate_id
            )
        )

    async def suspensions(self, nib: str) -> list[Suspension]:
        rows = await self.session.scalars(
            select(SuspendedEnrollmentRow)
            .where(SuspendedEnrollmentRow.nib == nib)
            .order_by(SuspendedEnrollmentRow.enrollment_id)
        )
        return [
            Suspension(
                r.enrollment_id,
                r.budget_line_id,
                r.program_code,
                CertificateScheme(r.certificate_scheme),
            )
            for r in rows
        ]

    async def suspend(self, nib: str, suspension: Suspension, at: datetime) -> None:
        await self.session.merge(
            SuspendedEnrollmentRow(
                enrollment_id=suspension.enrollment_id,
                nib=nib,
                certificate_scheme=suspension.certificate_scheme.value,
                budget_line_id=suspension.budget_line_id,
                program_code=suspension.program_code,
                suspended_at=at,
            )
        )
        await self.session.flush()

    async def lift(self, enrollment_id: str) -> None:
        await self.session.execute(
            delete(SuspendedEnrollmentRow).where(
                SuspendedEnrollmentRow.enrollment_id == enrollment_id
            )
        )


def _enterprise(row: Mapping[str, Any]) -> Enterprise:
    return Enterprise(
        nib=row["nib"],
        name=row["name"],
        province_code=row["province_code"],
        status=EnterpriseStatus(row["status"]),
        version=row["version"],
    )
