"""The registry database: its tables, with the kernel's outbox and inbox beside them.

Owner personal data has a table of its own, so nothing that builds events ever reads it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, String
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, service_registry
from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()


class RegistryTable(SQLModel, registry=mapper_registry):
    pass


def _idr() -> object:
    return Field(default=None, sa_column=Column(BigInteger, nullable=True))


class EnterpriseRow(RegistryTable, table=True):
    __tablename__ = "enterprises"
    __table_args__ = (
        # keyset pagination per filter: WHERE <filter> AND nib > :after ORDER BY nib
        Index("ix_enterprises_province_nib", "province_code", "nib"),
        Index("ix_enterprises_regency_nib", "regency_code", "nib"),
        Index("ix_enterprises_kbli_nib", "kbli", "nib"),
        Index("ix_enterprises_size_class_nib", "size_class", "nib"),
        Index("ix_enterprises_sentra_nib", "sentra_id", "nib"),
    )

    nib: str = Field(primary_key=True, max_length=13)
    name: str = Field(max_length=300)
    legal_form: str | None = Field(default=None, max_length=30)
    npwp: str | None = Field(default=None, max_length=16)
    province_code: str = Field(max_length=2)
    regency_code: str | None = Field(default=None, max_length=4)
    kbli: str = Field(max_length=5)
    secondary_kbli: str = Field(default="", max_length=200, description="comma-separated")
    workforce: int | None = None
    investment_idr: int | None = _idr()  # type: ignore[assignment]
    business_capital_idr: int | None = _idr()  # type: ignore[assignment]
    annual_sales_idr: int | None = _idr()  # type: ignore[assignment]
    production_quantity: float | None = None
    production_unit: str | None = Field(default=None, max_length=40)
    size_class: str | None = Field(default=None, max_length=10)
    size_regime: str = Field(max_length=40)
    status: str = Field(default="active", max_length=10)
    sentra_id: str | None = Field(default=None, max_length=36)
    version: int = 1
    registered_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class OwnerRow(RegistryTable, table=True):
    """Personal data of the owner (NIK, phone, e-mail): never leaves the registry."""

    __tablename__ = "enterprise_owners"

    nib: str = Field(primary_key=True, max_length=13, foreign_key="enterprises.nib")
    nik: str | None = Field(default=None, max_length=16)
    phone: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=200)


class CertificateRow(RegistryTable, table=True):
    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_scheme_status_nib", "scheme", "status", "nib"),
        Index("ix_certificates_active_expiry", "status", "expires_on"),
    )

    certificate_id: str = Field(primary_key=True, max_length=36)
    nib: str = Field(max_length=13, foreign_key="enterprises.nib", index=True)
    scheme: str = Field(max_length=20)
    number: str = Field(max_length=100)
    issuer: str = Field(max_length=200)
    issued_on: date
    expires_on: date | None = None
    tkdn_pct: float | None = None
    status: str = Field(default="active", max_length=10)
    enrollment_id: str | None = Field(
        default=None, sa_column=Column(String(100), unique=True, nullable=True)
    )


class SentraRow(RegistryTable, table=True):
    __tablename__ = "sentra"

    sentra_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=300)
    province_code: str = Field(max_length=2, index=True)
    regency_code: str = Field(max_length=4)
    village: str | None = Field(default=None, max_length=200)
    managing_body: str | None = Field(default=None, max_length=300)
    commodity: str = Field(max_length=200)
    kbli: str | None = Field(default=None, max_length=5)
    designated_on: date
    version: int = 1


class SentraOutcomeRow(RegistryTable, table=True):
    __tablename__ = "sentra_outcomes"

    id: int | None = Field(default=None, primary_key=True)
    sentra_id: str = Field(max_length=36, foreign_key="sentra.sentra_id", index=True)
    period: str = Field(max_length=40)
    members: int | None = None
    figures: str = Field(description="JSON: workforce, revenue_idr, production ranges")
    source: str | None = Field(default=None, max_length=500)
    reported_on: date


metadata = mapper_registry.metadata
TABLES = ServiceTables(
    metadata=metadata,
    outbox=outbox_table(metadata),
    inbox=inbox_table(metadata),
    idempotency=idempotency_table(metadata),
)
