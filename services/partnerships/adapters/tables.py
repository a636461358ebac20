"""The partnerships database: its tables, with the kernel's outbox and inbox beside them.

``replica_*`` tables hold what partnerships learns from the registry's and programs' events; the
others are its own aggregates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, service_registry
from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()


class PartnershipsTable(SQLModel, registry=mapper_registry):
    pass


class PartnerRow(PartnershipsTable, table=True):
    __tablename__ = "partners"

    partner_nib: str = Field(primary_key=True, max_length=13)
    name: str = Field(max_length=300)
    sector: str = Field(max_length=100)
    tier: int
    required_certificates: list[str] = Field(sa_column=Column(JSON, nullable=False))
    min_tkdn_pct: float | None = None
    registered_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class PartnershipRow(PartnershipsTable, table=True):
    __tablename__ = "partnerships"

    partnership_id: str = Field(primary_key=True, max_length=36)
    partner_nib: str = Field(foreign_key="partners.partner_nib", max_length=13, index=True)
    component: str = Field(max_length=300)
    facilitated_by: str | None = Field(default=None, max_length=300)
    value_idr: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    stage: str = Field(max_length=20, index=True)
    proposed_on: date
    signed_on: date | None = Field(default=None, index=True)  # attainment counts by this date
    coaching_on: date | None = None
    trial_supply_on: date | None = None
    active_supply_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=500)
    version: int = 1


class PartnershipMemberRow(PartnershipsTable, table=True):
    __tablename__ = "partnership_members"

    partnership_id: str = Field(
        primary_key=True, foreign_key="partnerships.partnership_id", max_length=36
    )
    nib: str = Field(primary_key=True, max_length=13, index=True)
    position: int  # keeps the IKM in the order they were proposed


class ReadinessRow(PartnershipsTable, table=True):
    """The last assessed readiness of each candidate: events go out only when it changes."""

    __tablename__ = "supplier_readiness"

    nib: str = Field(primary_key=True, max_length=13)
    partner_nib: str = Field(primary_key=True, max_length=13, index=True)
    status: str = Field(max_length=10, index=True)
    missing: list[str] = Field(sa_column=Column(JSON, nullable=False))
    blocked_by: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    assessed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class TargetRow(PartnershipsTable, table=True):
    __tablename__ = "partnership_targets"

    fiscal_year: int = Field(primary_key=True)
    unit: str = Field(primary_key=True, max_length=20)
    target: int
    source: str | None = Field(default=None, max_length=500)
    set_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class EnterpriseReplicaRow(PartnershipsTable, table=True):
    __tablename__ = "replica_enterprises"

    nib: str = Field(primary_key=True, max_length=13)
    name: str | None = Field(default=None, max_length=300)
    province_code: str | None = Field(default=None, max_length=2)
    status: str = Field(max_length=10)
    version: int


class CertificateReplicaRow(PartnershipsTable, table=True):
    """Certificates an enterprise holds now; expired and revoked ones are deleted."""

    __tablename__ = "replica_certificates"

    certificate_id: str = Field(primary_key=True, max_length=100)
    nib: str = Field(max_length=13, index=True)
    scheme: str = Field(max_length=20)
    tkdn_pct: float | None = None
    expires_on: date | None = None


class SuspendedEnrollmentRow(PartnershipsTable, table=True):
    """Enrollments for a certificate that are suspended now; resumed, cancelled and completed
    ones are deleted."""

    __tablename__ = "replica_suspended_enrollments"

    enrollment_id: str = Field(primary_key=True, max_length=100)
    nib: str = Field(max_length=13, index=True)
    certificate_scheme: str = Field(max_length=20)
    budget_line_id: str = Field(max_length=100)
    program_code: str = Field(max_length=100)
    suspended_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


metadata = mapper_registry.metadata
TABLES = ServiceTables(
    metadata=metadata,
    outbox=outbox_table(metadata),
    inbox=inbox_table(metadata),
    idempotency=idempotency_table(metadata),
)
