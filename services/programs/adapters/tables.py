"""The programs database: its tables, with the kernel's outbox, inbox and idempotency keys.

Rupiah amounts are BIGINT (a pagu passes 2^31 rupiah easily). The budget invariants are also
CHECK constraints, so even a bug in the service cannot over-commit a line.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, text
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, service_registry
from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()

# Enrollment statuses that are not finished (``domain.enrollments.OPEN``).
OPEN_ENROLLMENT = "status IN ('requested', 'eligible', 'approved', 'in_assistance', 'suspended')"


def _rupiah(*, nullable: bool = False) -> Any:
    return Field(default=None if nullable else 0, sa_type=BigInteger, nullable=nullable)


def _utc(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable))


class ProgramsTable(SQLModel, registry=mapper_registry):
    pass


class ProgramRow(ProgramsTable, table=True):
    __tablename__ = "programs"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=300)
    program_type: str = Field(max_length=40)
    certificate_scheme: str | None = Field(default=None, max_length=20)
    directorate: str = Field(max_length=300)
    eligibility: dict[str, Any] = Field(sa_type=JSON)
    benefit: dict[str, Any] = Field(sa_type=JSON)
    status: str = Field(max_length=20)
    opened_on: date
    closed_on: date | None = None
    close_reason: str | None = Field(default=None, max_length=500)
    version: int = 1


class BudgetLineRow(ProgramsTable, table=True):
    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("reserved_idr >= 0 AND realised_idr >= 0", name="amounts_not_negative"),
        CheckConstraint("reserved_idr + realised_idr <= pagu_idr", name="within_pagu"),
        CheckConstraint("quota_used >= 0 AND quota_used <= quota_enterprises", name="within_quota"),
    )

    id: str = Field(primary_key=True, max_length=36)
    program_code: str = Field(foreign_key="programs.code", index=True, max_length=40)
    fiscal_year: int = Field(index=True)
    mechanism: str = Field(max_length=20)
    province_code: str | None = Field(default=None, max_length=2)
    allocated_idr: int = _rupiah()
    pagu_idr: int = _rupiah()
    reserved_idr: int = _rupiah()
    realised_idr: int = _rupiah()
    quota_enterprises: int
    quota_used: int = 0
    status: str = Field(max_length=20)
    status_reason: str | None = Field(default=None, max_length=500)
    postponed_at: datetime | None = _utc(nullable=True)
    postponement_deadline: date | None = Field(default=None, index=True)
    allocated_at: datetime = _utc()
    version: int = 1


class EnrollmentRow(ProgramsTable, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (
        # One open enrollment per enterprise, program and fiscal year, even under races.
        Index(
            "uq_enrollments_open_per_program_year",
            "nib",
            "program_code",
            "fiscal_year",
            unique=True,
            postgresql_where=text(OPEN_ENROLLMENT),
            sqlite_where=text(OPEN_ENROLLMENT),
        ),
        Index("ix_enrollments_budget_line_id_status", "budget_line_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=36)
    nib: str = Field(max_length=13, index=True)
    province_code: str = Field(max_length=2)
    program_code: str = Field(foreign_key="programs.code", max_length=40)
    budget_line_id: str = Field(foreign_key="budget_lines.id", max_length=36)
    fiscal_year: int
    certificate_scheme: str | None = Field(default=None, max_length=20)
    status: str = Field(max_length=20)
    amount_idr: int = _rupiah()
    reserved_idr: int = _rupiah()
    realised_idr: int = _rupiah()
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    status_reason: str | None = Field(default=None, max_length=1000)
    suspended_from: str | None = Field(default=None, max_length=20)
    certificate: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    requested_at: datetime = _utc()
    updated_at: datetime = _utc()
    version: int = 1


class EnterpriseReplicaRow(ProgramsTable, table=True):
    """What eligibility needs of each registry enterprise, with the version of each part."""

    __tablename__ = "enterprise_replica"

    nib: str = Field(primary_key=True, max_length=13)
    province_code: str | None = Field(default=None, max_length=2)
    kbli: str | None = Field(default=None, max_length=5)
    business_capital_idr: int | None = _rupiah(nullable=True)
    size_class: str | None = Field(default=None, max_length=10)
    status: str | None = Field(default=None, max_length=10)
    profile_version: int = 0
    size_class_version: int = 0
    status_version: int = 0


class CertificateReplicaRow(ProgramsTable, table=True):
    __tablename__ = "certificate_replica"

    certificate_id: str = Field(primary_key=True, max_length=100)
    nib: str = Field(max_length=13, index=True)
    scheme: str = Field(max_length=20)
    expires_on: date | None = None
    in_force: bool
    version: int


metadata = mapper_registry.metadata
TABLES = ServiceTables(
    metadata=metadata,
    outbox=outbox_table(metadata),
    inbox=inbox_table(metadata),
    idempotency=idempotency_table(metadata),
)
