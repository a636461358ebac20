"""Loading and saving the partnerships service's own aggregates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.partnerships.adapters.tables import (
    PartnerRow,
    PartnershipMemberRow,
    PartnershipRow,
    ReadinessRow,
    TargetRow,
)
from services.partnerships.domain import (
    Partner,
    Partnership,
    Readiness,
    ReadinessStatus,
    Requirements,
    SignedAgreement,
    Suspension,
    Target,
)
from shared.errors import Conflict
from shared.events.vocabulary import CertificateScheme, CountingUnit, PartnershipStage

Stage = PartnershipStage

# Each stage's date has a column of its own, so "signed in year X" is an indexed range query.
STAGE_COLUMNS: dict[Stage, str] = {
    Stage.PROPOSED: "proposed_on",
    Stage.MOU_SIGNED: "signed_on",
    Stage.COACHING: "coaching_on",
    Stage.TRIAL_SUPPLY: "trial_supply_on",
    Stage.ACTIVE_SUPPLY: "active_supply_on",
    Stage.ENDED: "ended_on",
}


class PartnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, partner_nib: str) -> Partner | None:
        row = await self.session.get(PartnerRow, partner_nib)
        return _partner(row) if row else None

    async def get_many(self, partner_nibs: Iterable[str]) -> list[Partner]:
        rows = await self.session.scalars(
            select(PartnerRow)
            .where(PartnerRow.partner_nib.in_(set(partner_nibs)))
            .order_by(PartnerRow.partner_nib)
        )
        return [_partner(r) for r in rows]

    async def all(self) -> list[Partner]:
        rows = await self.session.scalars(select(PartnerRow).order_by(PartnerRow.name))
        return [_partner(r) for r in rows]

    async def add(self, partner: Partner) -> None:
        self.session.add(
            PartnerRow(
                partner_nib=partner.partner_nib,
                name=partner.name,
                sector=partner.sector,
                tier=partner.tier,
                required_certificates=sorted(partner.requirements.certificates),
                min_tkdn_pct=partner.requirements.min_tkdn_pct,
                registered_at=partner.registered_at,
            )
        )
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"partner {partner.partner_nib} is already registered", field="partner_nib"
            ) from exc


def _partner(row: PartnerRow) -> Partner:
    return Partner(
        partner_nib=row.partner_nib,
        name=row.name,
        sector=row.sector,
        tier=row.tier,
        requirements=Requirements(
            frozenset(CertificateScheme(s) for s in row.required_certificates), row.min_tkdn_pct
        ),
        registered_at=row.registered_at,
    )


class PartnershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, partnership_id: str) -> Partnership | None:
        row = await self.session.get(PartnershipRow, partnership_id)
        if row is None:
            return None
        members = await self._members([partnership_id])
        return _partnership(row, members[partnership_id])

    async def find(
        self,
        *,
        partner_nib: str | None = None,
        nib: str | None = None,
        stage: Stage | None = None,
        signed_in: int | None = None,
    ) -> list[Partnership]:
        query = select(PartnershipRow).order_by(PartnershipRow.proposed_on)
        if partner_nib is not None:
            query = query.where(PartnershipRow.partner_nib == partner_nib)
        if stage is not None:
            query = query.where(PartnershipRow.stage == stage.value)
        if signed_in is not None:
            query = query.where(
                PartnershipRow.signed_on >= date(signed_in, 1, 1),
                PartnershipRow.signed_on <= date(signed_in, 12, 31),
            )
        if nib is not None:
            query = query.where(
                PartnershipRow.partnership_id.in_(
                    select(PartnershipMemberRow.partnership_id).where(
                        PartnershipMemberRow.nib == nib
                    )
                )
            )
        rows = list(await self.session.scalars(query))
        members = await self._members([r.partnership_id for r in rows])
        return [_partnership(r, members[r.partnership_id]) for r in rows]

    async def signed_in(self, fiscal_year: int) -> list[SignedAgreement]:
        return [
            SignedAgreement(p.partnership_id, p.partner_nib, frozenset(p.ikm_nibs))
            for p in await self.find(signed_in=fiscal_year)
        ]

    async def open_partners_of(self, nib: str) -> set[str]:
        """Partner firms an IKM is linked to by a partnership that has not ended: the partners
        it is a candidate supplier of."""
        rows = await self.session.scalars(
            select(PartnershipRow.partner_nib)
            .join(
                PartnershipMemberRow,
                PartnershipMemberRow.partnership_id == PartnershipRow.partnership_id,
            )
            .where(PartnershipMemberRow.nib == nib, PartnershipRow.stage != Stage.ENDED.value)
            .distinct()
        )
        return set(rows)

    async def add(self, partnership: Partnership) -> None:
        self.session.add(PartnershipRow(**_columns(partnership)))
        await self.session.flush()  # the members' foreign key needs the partnership first
        self.session.add_all(
            PartnershipMemberRow(partnership_id=partnership.partnership_id, nib=nib, position=i)
            for i, nib in enumerate(partnership.ikm_nibs)
        )
        await self.session.flush()

    async def save(self, partnership: Partnership, *, previous_version: int) -> None:
        """Write a transition, unless someone else wrote one since we read it."""
        result = await self.session.execute(
            update(PartnershipRow)
            .where(
                PartnershipRow.partnership_id == partnership.partnership_id,
                PartnershipRow.version == previous_version,
            )
            .values(**_columns(partnership))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(
                f"partnership {partnership.partnership_id} was changed concurrently: reload it "
                "and retry",
                field="If-Match",
            )

    async def _members(self, partnership_ids: list[str]) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {pid: [] for pid in partnership_ids}
        if not partnership_ids:
            return members
        rows = await self.session.scalars(
            select(PartnershipMemberRow)
            .where(PartnershipMemberRow.partnership_id.in_(partnership_ids))
            .order_by(PartnershipMemberRow.partnership_id, PartnershipMemberRow.position)
        )
        for row in rows:
            members[row.partnership_id].append(row.nib)
        return members


def _columns(p: Partnership) -> dict[str, object]:
    return {
        "partnership_id": p.partnership_id,
        "partner_nib": p.partner_nib,
        "component": p.component,
        "facilitated_by": p.facilitated_by,
        "value_idr": p.value_idr,
        "stage": p.stage.value,
        "end_reason": p.end_reason,
        "version": p.version,
        **{column: p.stage_dates.get(stage) for stage, column in STAGE_COLUMNS.items()},
    }


def _partnership(row: PartnershipRow, ikm_nibs: list[str]) -> Partnership:
    dates = {stage: getattr(row, column) for stage, column in STAGE_COLUMNS.items()}
    return Partnership(
        partnership_id=row.partnership_id,
        partner_nib=row.partner_nib,
        ikm_nibs=tuple(ikm_nibs),
        component=row.component,
        facilitated_by=row.facilitated_by,
        value_idr=row.value_idr,
        stage=Stage(row.stage),
        stage_dates={stage: on for stage, on in dates.items() if on is not None},
        end_reason=row.end_reason,
        version=row.version,
    )


class ReadinessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_enterprise(self, nib: str) -> list[Readiness]:
        rows = await self.session.scalars(
            select(ReadinessRow).where(ReadinessRow.nib == nib).order_by(ReadinessRow.partner_nib)
        )
        return [_readiness(r) for r in rows]

    async def candidates_of(self, partner_nib: str) -> list[Readiness]:
        rows = await self.session.scalars(
            select(ReadinessRow)
            .where(ReadinessRow.partner_nib == partner_nib)
            .order_by(ReadinessRow.nib)
        )
        return [_readiness(r) for r in rows]

    async def save(self, readiness: Readiness, at: datetime) -> None:
        await self.session.merge(
            ReadinessRow(
                nib=readiness.nib,
                partner_nib=readiness.partner_nib,
                status=readiness.status.value,
                missing=[s.value for s in readiness.missing],
                blocked_by=[
                    {
                        "enrollment_id": s.enrollment_id,
                        "budget_line_id": s.budget_line_id,
                        "program_code": s.program_code,
                        "certificate_scheme": s.certificate_scheme.value,
                    }
                    for s in readiness.blocked_by
                ],
                assessed_at=at,
            )
        )

    async def remove(self, nib: str, partner_nib: str) -> None:
        await self.session.execute(
            delete(ReadinessRow).where(
                ReadinessRow.nib == nib, ReadinessRow.partner_nib == partner_nib
            )
        )


def _readiness(row: ReadinessRow) -> Readiness:
    return Readiness(
        nib=row.nib,
        partner_nib=row.partner_nib,
        status=ReadinessStatus(row.status),
        missing=tuple(CertificateScheme(s) for s in row.missing),
        blocked_by=tuple(
            Suspension(
                enrollment_id=s["enrollment_id"],
                budget_line_id=s["budget_line_id"],
                program_code=s["program_code"],
                certificate_scheme=CertificateScheme(s["certificate_scheme"]),
            )
            for s in row.blocked_by
        ),
    )


class TargetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, fiscal_year: int, unit: CountingUnit) -> Target | None:
        row = await self.session.get(TargetRow, (fiscal_year, unit.value))
        return _target(row) if row else None

    async def of_year(self, fiscal_year: int) -> dict[CountingUnit, Target]:
        rows = await self.session.scalars(
            select(TargetRow).where(TargetRow.fiscal_year == fiscal_year)
        )
        return {CountingUnit(r.unit): _target(r) for r in rows}

    async def save(self, target: Target) -> None:
        await self.session.merge(
            TargetRow(
                fiscal_year=target.fiscal_year,
                unit=target.unit.value,
                target=target.target,
                source=target.source,
                set_at=target.set_at,
            )
        )
        await self.session.flush()


def _target(row: TargetRow) -> Target:
    return Target(row.fiscal_year, CountingUnit(row.unit), row.target, row.source, row.set_at)
