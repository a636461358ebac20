"""Loading and saving registry aggregates: a stale version on save is a conflict, not a loss."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.adapters.tables import (
    CertificateRow,
    EnterpriseRow,
    OwnerRow,
    SentraOutcomeRow,
    SentraRow,
)
from services.registry.domain import (
    Certificate,
    Enterprise,
    EnterpriseDetails,
    OwnerContact,
    Sentra,
)
from shared.db import insert_many, insert_new
from shared.errors import Conflict
from shared.events.registry import SentraOutcomeReported
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass


def _enterprise_values(e: Enterprise) -> dict[str, object]:
    d = e.details
    return {
        "nib": e.nib,
        "name": d.name,
        "legal_form": d.legal_form,
        "npwp": d.npwp,
        "province_code": d.province_code,
        "regency_code": d.regency_code,
        "kbli": d.kbli,
        "secondary_kbli": ",".join(d.secondary_kbli),
        "workforce": d.workforce,
        "investment_idr": d.investment_idr,
        "business_capital_idr": d.business_capital_idr,
        "annual_sales_idr": d.annual_sales_idr,
        "production_quantity": d.production_quantity,
        "production_unit": d.production_unit,
        "size_class": e.size_class.value if e.size_class else None,
        "size_regime": e.size_regime,
        "status": e.status.value,
        "sentra_id": e.sentra_id,
        "version": e.version,
        "registered_at": e.registered_at,
    }


def _certificate_values(nib: str, c: Certificate) -> dict[str, object]:
    return {
        "certificate_id": c.certificate_id,
        "nib": nib,
        "scheme": c.scheme.value,
        "number": c.number,
        "issuer": c.issuer,
        "issued_on": c.issued_on,
        "expires_on": c.expires_on,
        "tkdn_pct": c.tkdn_pct,
        "status": c.status,
        "enrollment_id": c.enrollment_id,
    }


def _to_certificate(row: CertificateRow) -> Certificate:
    return Certificate(
        certificate_id=row.certificate_id,
        scheme=CertificateScheme(row.scheme),
        number=row.number,
        issuer=row.issuer,
        issued_on=row.issued_on,
        expires_on=row.expires_on,
        tkdn_pct=row.tkdn_pct,
        status=row.status,
        enrollment_id=row.enrollment_id,
    )


def _to_enterprise(
    row: EnterpriseRow, owner: OwnerRow | None, certificates: Iterable[CertificateRow]
) -> Enterprise:
    return Enterprise(
        nib=row.nib,
        details=EnterpriseDetails(
            name=row.name,
            province_code=row.province_code,
            kbli=row.kbli,
            regency_code=row.regency_code,
            legal_form=row.legal_form,
            npwp=row.npwp,
            secondary_kbli=tuple(k for k in row.secondary_kbli.split(",") if k),
            workforce=row.workforce,
            investment_idr=row.investment_idr,
            business_capital_idr=row.business_capital_idr,
            annual_sales_idr=row.annual_sales_idr,
            production_quantity=row.production_quantity,
            production_unit=row.production_unit,
            owner=OwnerContact(owner.nik, owner.phone, owner.email) if owner else OwnerContact(),
        ),
        size_class=SizeClass(row.size_class) if row.size_class else None,
        size_regime=row.size_regime,
        registered_at=row.registered_at,
        status=EnterpriseStatus(row.status),
        version=row.version,
        sentra_id=row.sentra_id,
        certificates=[_to_certificate(c) for c in certificates],
    )


@dataclass(frozen=True)
class EnterpriseFilter:
    province_code: str | None = None
    regency_code: str | None = None
    kbli: str | None = None
    size_class: SizeClass | None = None
    certificate_scheme: CertificateScheme | None = None
    sentra_id: str | None = None
    status: EnterpriseStatus | None = None


class EnterpriseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded: dict[str, tuple[int, set[str]]] = {}

    async def get(self, nib: str) -> Enterprise | None:
        row = await self.session.get(EnterpriseRow, nib, populate_existing=True)
        if row is None:
            return None
        owner = await self.session.get(OwnerRow, nib)
        certificates = (
            await self.session.execute(
                select(CertificateRow)
                .where(CertificateRow.nib == nib)
                .order_by(CertificateRow.issued_on, CertificateRow.certificate_id)
            )
        ).scalars()
        enterprise = _to_enterprise(row, owner, certificates)
        self._loaded[nib] = (row.version, {c.certificate_id for c in enterprise.certificates})
        return enterprise

    async def get_many(self, nibs: Sequence[str]) -> list[Enterprise]:
        found = [await self.get(nib) for nib in dict.fromkeys(nibs)]
        return [e for e in found if e is not None]

    async def add(self, enterprise: Enterprise) -> None:
        if not await self.add_many([enterprise]):
            raise Conflict(f"NIB {enterprise.nib} is already registered", field="nib")

    async def add_many(self, enterprises: Sequence[Enterprise]) -> set[str]:
        """Insert the enterprises whose NIB is not registered yet; the NIBs inserted."""
        if not enterprises:
            return set()
        inserted = {
            nib
            for (nib,) in await insert_new(
                self.session,
                EnterpriseRow.__table__,  # type: ignore[attr-defined]
                [_enterprise_values(e) for e in enterprises],
                keys=["nib"],
            )
        }
        enterprises = [e for e in enterprises if e.nib in inserted]
        owners = [
            {"nib": e.nib, **vars(e.details.owner)}
            for e in enterprises
            if any(vars(e.details.owner).values())
        ]
        if owners:
            await insert_many(self.session, OwnerRow.__table__, owners)  # type: ignore[attr-defined]
        certificates = [_certificate_values(e.nib, c) for e in enterprises for c in e.certificates]
        if certificates:
            await insert_many(
                self.session,
                CertificateRow.__table__,  # type: ignore[attr-defined]
                certificates,
            )
        for e in enterprises:
            self._loaded[e.nib] = (e.version, {c.certificate_id for c in e.certificates})
        return inserted

    async def save(self, enterprise: Enterprise) -> None:
        """Write back a loaded enterprise; fails with Conflict if someone else saved it first."""
        loaded_version, loaded_certificates = self._loaded[enterprise.nib]
        if enterprise.version == loaded_version:
            return
        values = _enterprise_values(enterprise)
        result = await self.session.execute(
            update(EnterpriseRow)
            .where(EnterpriseRow.nib == enterprise.nib, EnterpriseRow.version == loaded_version)  # type: ignore[arg-type]
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                f"enterprise {enterprise.nib} was changed by someone else: reload and retry",
                field="If-Match",
            )
        owner = await self.session.get(OwnerRow, enterprise.nib)
        contact = vars(enterprise.details.owner)
        if owner is None and any(contact.values()):
            self.session.add(OwnerRow(nib=enterprise.nib, **contact))
        elif owner is not None:
            for name, value in contact.items():
                setattr(owner, name, value)
        for certificate in enterprise.certificates:
            values = _certificate_values(enterprise.nib, certificate)
            if certificate.certificate_id in loaded_certificates:
                await self.session.execute(
                    update(CertificateRow)
                    .where(CertificateRow.certificate_id == certificate.certificate_id)  # type: ignore[arg-type]
                    .values(**values)
                )
            else:
                await self.session.execute(insert(CertificateRow).values(**values))
        await self.session.flush()
        self._loaded[enterprise.nib] = (
            enterprise.version,
            {c.certificate_id for c in enterprise.certificates},
        )

    async def has_certificate_from(self, enrollment_id: str) -> bool:
        found = await self.session.scalar(
            select(CertificateRow.certificate_id).where(
                CertificateRow.enrollment_id == enrollment_id
            )
        )
        return found is not None

    async def with_certificates_expiring_before(self, today: date, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(CertificateRow.nib)
            .where(CertificateRow.status == "active", CertificateRow.expires_on < today)  # type: ignore[operator]
            .distinct()
            .limit(limit)
        )
        return list(rows.scalars())

    async def search(
        self, where: EnterpriseFilter, *, after: str | None, limit: int
    ) -> list[EnterpriseRow]:
        e = EnterpriseRow
        conditions = []
        for column, value in (
            (e.province_code, where.province_code),
            (e.regency_code, where.regency_code),
            (e.kbli, where.kbli),
            (e.size_class, where.size_class.value if where.size_class else None),
            (e.sentra_id, where.sentra_id),
            (e.status, where.status.value if where.status else None),
        ):
            if value is not None:
                conditions.append(column == value)
        if where.certificate_scheme is not None:
            c = CertificateRow
            conditions.append(
                exists().where(
                    and_(
                        c.nib == e.nib,
                        c.scheme == where.certificate_scheme.value,
                        c.status == "active",
                    )
                )
            )
        if after is not None:
            conditions.append(e.nib > after)  # type: ignore[operator]
        query = select(e).where(*conditions).order_by(e.nib).limit(limit)
        return list((await self.session.execute(query)).scalars())


class SentraRepository:
    """Sentra and their membership (stored as each member enterprise's ``sentra_id``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded: dict[str, tuple[int, set[str]]] = {}

    async def get(self, sentra_id: str) -> Sentra | None:
        row = await self.session.get(SentraRow, sentra_id, populate_existing=True)
        if row is None:
            return None
        members = await self.session.execute(
            select(EnterpriseRow.nib).where(EnterpriseRow.sentra_id == sentra_id)
        )
        sentra = Sentra(
            sentra_id=row.sentra_id,
            name=row.name,
            province_code=row.province_code,
            regency_code=row.regency_code,
            commodity=row.commodity,
            designated_on=row.designated_on,
            village=row.village,
            managing_body=row.managing_body,
            kbli=row.kbli,
            members=set(members.scalars()),
            version=row.version,
        )
        self._loaded[sentra_id] = (row.version, set(sentra.members))
        return sentra

    async def add(self, sentra: Sentra) -> None:
        self.session.add(
            SentraRow(
                sentra_id=sentra.sentra_id,
                name=sentra.name,
                province_code=sentra.province_code,
                regency_code=sentra.regency_code,
                village=sentra.village,
                managing_body=sentra.managing_body,
                commodity=sentra.commodity,
                kbli=sentra.kbli,
                designated_on=sentra.designated_on,
                version=sentra.version,
            )
        )
        await self.session.flush()
        await self._write_members(sentra.sentra_id, set(), sentra.members)
        self._loaded[sentra.sentra_id] = (sentra.version, set(sentra.members))

    async def _write_members(self, sentra_id: str, before: set[str], after: set[str]) -> None:
        e = EnterpriseRow
        if after - before:
            await self.session.execute(
                update(e).where(e.nib.in_(after - before)).values(sentra_id=sentra_id)  # type: ignore[attr-defined]
            )
        if before - after:
            await self.session.execute(
                update(e).where(e.nib.in_(before - after)).values(sentra_id=None)  # type: ignore[attr-defined]
            )

    async def save(self, sentra: Sentra) -> None:
        loaded_version, loaded_members = self._loaded[sentra.sentra_id]
        result = await self.session.execute(
            update(SentraRow)
            .where(
                SentraRow.sentra_id == sentra.sentra_id,  # type: ignore[arg-type]
                SentraRow.version == loaded_version,  # type: ignore[arg-type]
            )
            .values(version=sentra.version)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"sentra {sentra.sentra_id} was changed by someone else; retry")
        await self._write_members(sentra.sentra_id, loaded_members, sentra.members)
        self._loaded[sentra.sentra_id] = (sentra.version, set(sentra.members))

    async def add_outcome(self, outcome: SentraOutcomeReported) -> None:
        figures = {
            name: getattr(outcome, name).model_dump() if getattr(outcome, name) else None
            for name in ("workforce", "revenue_idr", "production")
        }
        self.session.add(
            SentraOutcomeRow(
                sentra_id=outcome.sentra_id,
                period=outcome.period,
                members=outcome.members,
                figures=json.dumps(figures),
                source=outcome.source,
                reported_on=outcome.reported_on,
            )
        )
        await self.session.flush()

    async def outcomes(self, sentra_id: str) -> list[SentraOutcomeRow]:
        rows = await self.session.execute(
            select(SentraOutcomeRow)
            .where(SentraOutcomeRow.sentra_id == sentra_id)
            .order_by(SentraOutcomeRow.period, SentraOutcomeRow.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())
