"""Repositories: domain objects in and out; rows never leave this package.

Writers of a budget line serialise on it: ``get(..., lock=True)`` takes a row lock on
PostgreSQL (``FOR NO KEY UPDATE``, which still lets enrollments reference the line); SQLite
transactions already start with ``BEGIN IMMEDIATE``. Every save is also conditional on the
version it was loaded with, so a lost update is a ``Conflict``, never silent.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.programs.adapters.tables import (
    BudgetLineRow,
    CertificateReplicaRow,
    EnrollmentRow,
    EnterpriseReplicaRow,
    ProgramRow,
    ProgramsTable,
)
from services.programs.domain.budget_lines import BudgetLine, LineStatus
from services.programs.domain.enrollments import OPEN, Enrollment, EnrollmentStatus
from services.programs.domain.programs import Program, ProgramStatus
from services.programs.domain.replica import EnterpriseReplica, ReplicaCertificate
from shared import db
from shared.errors import Conflict
from shared.events.programs import Benefit, CertificateOutcome, EligibilityRules
from shared.events.vocabulary import (
    BudgetMechanism,
    CertificateScheme,
    EnterpriseStatus,
    ProgramType,
    SizeClass,
)

R = TypeVar("R", bound=ProgramsTable)
ENTERPRISE_REPLICAS: Table = EnterpriseReplicaRow.__table__  # type: ignore[assignment]


_SCALARS = frozenset({str, int, bool, float, date, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:  # most columns; spares the ABC checks below
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _column_values(obj: Any) -> dict[str, Any]:
    """A domain dataclass as column values: enums as strings, tuples as lists, models as JSON."""
    return {name: _plain(getattr(obj, name)) for name in _field_names(type(obj))}


def _locked(statement: Select[tuple[R]], lock: bool) -> Select[tuple[R]]:
    statement = statement.execution_options(populate_existing=True)
    return statement.with_for_update(key_share=True) if lock else statement


async def _save(session: AsyncSession, row: Any, key: str, obj: Any, expected_version: int) -> None:
    values = _column_values(obj)
    result: Any = await session.execute(
        update(row)
        .where(getattr(row, key) == values[key], row.version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(
            f"{row.__tablename__} {values[key]} changed meanwhile (expected version "
            f"{expected_version}); reload it and retry",
            field="version",
        )


async def _insert(session: AsyncSession, row: ProgramsTable, conflict: str, field: str) -> None:
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict, field=field) from exc


def _program(row: ProgramRow) -> Program:
    return Program(
        code=row.code,
        name=row.name,
        program_type=ProgramType(row.program_type),
        certificate_scheme=CertificateScheme(row.certificate_scheme)
        if row.certificate_scheme
        else None,
        directorate=row.directorate,
        eligibility=EligibilityRules.model_validate(row.eligibility),
        benefit=Benefit.model_validate(row.benefit),
        opened_on=row.opened_on,
        status=ProgramStatus(row.status),
        closed_on=row.closed_on,
        close_reason=row.close_reason,
        version=row.version,
    )


class ProgramRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str) -> Program | None:
        row = await self.session.scalar(
            select(ProgramRow)
            .where(ProgramRow.code == code)
            .execution_options(populate_existing=True)
        )
        return _program(row) if row else None

    async def all(self) -> list[Program]:
        rows = await self.session.scalars(select(ProgramRow).order_by(ProgramRow.code))
        return [_program(r) for r in rows]

    async def add(self, program: Program) -> None:
        await _insert(
            self.session,
            ProgramRow(**_column_values(program)),
            f"program {program.code} already exists",
            "code",
        )

    async def save(self, program: Program, *, expected_version: int) -> None:
        await _save(self.session, ProgramRow, "code", program, expected_version)


def _line(row: BudgetLineRow) -> BudgetLine:
    return BudgetLine(
        id=row.id,
        program_code=row.program_code,
        fiscal_year=row.fiscal_year,
        mechanism=BudgetMechanism(row.mechanism),
        province_code=row.province_code,
        allocated_idr=row.allocated_idr,
        pagu_idr=row.pagu_idr,
        quota_enterprises=row.quota_enterprises,
        allocated_at=row.allocated_at,
        reserved_idr=row.reserved_idr,
        realised_idr=row.realised_idr,
        quota_used=row.quota_used,
        status=LineStatus(row.status),
        status_reason=row.status_reason,
        postponed_at=row.postponed_at,
        postponement_deadline=row.postponement_deadline,
        version=row.version,
    )


class BudgetLineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, line_id: str, *, lock: bool = False) -> BudgetLine | None:
        row = await self.session.scalar(
            _locked(select(BudgetLineRow).where(BudgetLineRow.id == line_id), lock)
        )
        return _line(row) if row else None

    async def search(
        self,
        *,
        program_code: str | None = None,
        fiscal_year: int | None = None,
        status: LineStatus | None = None,
    ) -> list[BudgetLine]:
        statement = select(BudgetLineRow).order_by(
            BudgetLineRow.fiscal_year, BudgetLineRow.program_code, BudgetLineRow.id
        )
        if program_code is not None:
            statement = statement.where(BudgetLineRow.program_code == program_code)
        if fiscal_year is not None:
            statement = statement.where(BudgetLineRow.fiscal_year == fiscal_year)
        if status is not None:
            statement = statement.where(BudgetLineRow.status == status.value)
        return [_line(r) for r in await self.session.scalars(statement)]

    async def past_postponement_deadline(self, today: date) -> list[str]:
        """Postponed lines whose deadline is before ``today`` and still hold suspended
        enrollments (once those are cancelled, a line is not looked at again)."""
        suspended_on_line = (
            select(EnrollmentRow.id)
            .where(
                EnrollmentRow.budget_line_id == BudgetLineRow.id,
                EnrollmentRow.status == EnrollmentStatus.SUSPENDED.value,
            )
            .exists()
        )
        rows = await self.session.scalars(
            select(BudgetLineRow.id)
            .where(
                BudgetLineRow.status == LineStatus.POSTPONED.value,
                BudgetLineRow.postponement_deadline < today,
                suspended_on_line,
            )
            .order_by(BudgetLineRow.id)
        )
        return list(rows)

    async def add(self, line: BudgetLine) -> None:
        await _insert(
            self.session,
            BudgetLineRow(**_column_values(line)),
            f"budget line {line.id} already exists",
            "budget_line_id",
        )

    async def save(self, line: BudgetLine, *, expected_version: int) -> None:
        await _save(self.session, BudgetLineRow, "id", line, expected_version)


def _enrollment(row: EnrollmentRow) -> Enrollment:
    return Enrollment(
        id=row.id,
        nib=row.nib,
        province_code=row.province_code,
        program_code=row.program_code,
        budget_line_id=row.budget_line_id,
        fiscal_year=row.fiscal_year,
        certificate_scheme=CertificateScheme(row.certificate_scheme)
        if row.certificate_scheme
        else None,
        amount_idr=row.amount_idr,
        requested_at=row.requested_at,
        status=EnrollmentStatus(row.status),
        reserved_idr=row.reserved_idr,
        realised_idr=row.realised_idr,
        reasons=tuple(row.reasons),
        status_reason=row.status_reason,
        suspended_from=EnrollmentStatus(row.suspended_from) if row.suspended_from else None,
        certificate=CertificateOutcome.model_validate(row.certificate) if row.certificate else None,
        updated_at=row.updated_at,
        version=row.version,
    )


class EnrollmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, enrollment_id: str, *, lock: bool = False) -> Enrollment | None:
        row = await self.session.scalar(
            _locked(select(EnrollmentRow).where(EnrollmentRow.id == enrollment_id), lock)
        )
        return _enrollment(row) if row else None

    async def on_line(
        self, line_id: str, statuses: Iterable[EnrollmentStatus], *, lock: bool = True
    ) -> list[Enrollment]:
        statement = (
            select(EnrollmentRow)
            .where(
                EnrollmentRow.budget_line_id == line_id,
                EnrollmentRow.status.in_([s.value for s in statuses]),  # type: ignore[attr-defined]
            )
            .order_by(EnrollmentRow.id)
        )
        return [_enrollment(r) for r in await self.session.scalars(_locked(statement, lock))]

    async def open_for(self, nib: str, program_code: str, fiscal_year: int) -> Enrollment | None:
        row = await self.session.scalar(
            select(EnrollmentRow).where(
                EnrollmentRow.nib == nib,
                EnrollmentRow.program_code == program_code,
                EnrollmentRow.fiscal_year == fiscal_year,
                EnrollmentRow.status.in_([s.value for s in OPEN]),  # type: ignore[attr-defined]
            )
        )
        return _enrollment(row) if row else None

    async def search(
        self,
        *,
        budget_line_id: str | None,
        nib: str | None,
        status: EnrollmentStatus | None,
        after: str | None,
        limit: int,
    ) -> list[Enrollment]:
        statement = select(EnrollmentRow).order_by(EnrollmentRow.id).limit(limit)
        if budget_line_id is not None:
            statement = statement.where(EnrollmentRow.budget_line_id == budget_line_id)
        if nib is not None:
            statement = statement.where(EnrollmentRow.nib == nib)
        if status is not None:
            statement = statement.where(EnrollmentRow.status == status.value)
        if after is not None:
            statement = statement.where(EnrollmentRow.id > after)
        return [_enrollment(r) for r in await self.session.scalars(statement)]

    async def add(self, enrollment: Enrollment) -> None:
        await _insert(
            self.session,
            EnrollmentRow(**_column_values(enrollment)),
            f"enterprise {enrollment.nib} already has an open enrollment in program "
            f"{enrollment.program_code} for {enrollment.fiscal_year}",
            "nib",
        )

    async def save(self, enrollment: Enrollment, *, expected_version: int) -> None:
        await _save(self.session, EnrollmentRow, "id", enrollment, expected_version)

    async def save_changed(
        self, changed: Sequence[Enrollment], *, loaded: Sequence[Enrollment]
    ) -> None:
        versions = {e.id: e.version for e in loaded}
        for enrollment in changed:
            await self.save(enrollment, expected_version=versions[enrollment.id])


def _enterprise(row: Mapping[str, Any]) -> EnterpriseReplica:
    return EnterpriseReplica(
        nib=row["nib"],
        province_code=row["province_code"],
        kbli=row["kbli"],
        business_capital_idr=row["business_capital_idr"],
        size_class=SizeClass(row["size_class"]) if row["size_class"] else None,
        status=EnterpriseStatus(row["status"]) if row["status"] else None,
        profile_version=row["profile_version"],
        size_class_version=row["size_class_version"],
        status_version=row["status_version"],
    )


def _certificate(row: CertificateReplicaRow) -> ReplicaCertificate:
    return ReplicaCertificate(
        certificate_id=row.certificate_id,
        nib=row.nib,
        scheme=CertificateScheme(row.scheme),
        expires_on=row.expires_on,
        in_force=row.in_force,
        version=row.version,
    )


class ReplicaRepository:
    """The registry's enterprises and certificates as this service last heard of them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enterprise(self, nib: str, *, lock: bool = False) -> EnterpriseReplica | None:
        rows = await db.rows_where_in(
            self.session, ENTERPRISE_REPLICAS, "nib", [nib], lock="no_key_update" if lock else None
        )
        return _enterprise(rows[0]) if rows else None

    async def enterprises(self, nibs: Iterable[str]) -> dict[str, EnterpriseReplica]:
        """Many at once (a run of registry events); rows locked like ``enterprise(lock=True)``."""
        found: dict[str, EnterpriseReplica] = {}
        wanted = sorted(set(nibs))
        for start in range(0, len(wanted), 1000):
            rows = await db.rows_where_in(
                self.session,
                ENTERPRISE_REPLICAS,
                "nib",
                wanted[start : start + 1000],
                lock="no_key_update",
            )
            found.update({row["nib"]: _enterprise(row) for row in rows})
        return found

    async def put_enterprises(self, replicas: Sequence[EnterpriseReplica]) -> None:
        await db.upsert_many(
            self.session,
            ENTERPRISE_REPLICAS,
            [_column_values(r) for r in replicas],
            ["nib"],
        )

    async def put_enterprise(self, replica: EnterpriseReplica) -> None:
        await self.put_enterprises([replica])

    async def certificate(
        self, certificate_id: str, *, lock: bool = False
    ) -> ReplicaCertificate | None:
        row = await self.session.scalar(
            _locked(
                select(CertificateReplicaRow).where(
                    CertificateReplicaRow.certificate_id == certificate_id
                ),
                lock,
            )
        )
        return _certificate(row) if row else None

    async def put_certificate(self, certificate: ReplicaCertificate) -> None:
        await self.session.merge(CertificateReplicaRow(**_column_values(certificate)))
        await self.session.flush()

    async def certificates_of(self, nib: str) -> list[ReplicaCertificate]:
        rows = await self.session.scalars(
            select(CertificateReplicaRow).where(CertificateReplicaRow.nib == nib)
        )
        return [_certificate(r) for r in rows]
