"""Reporting read models: incrementally updated tables, never a scan per query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, service_registry
from shared.inbox import inbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()


class ReportingTable(SQLModel, registry=mapper_registry):
    pass


class EnterprisesByProvince(ReportingTable, table=True):
    __tablename__ = "enterprises_by_province"

    province_code: str = Field(primary_key=True, max_length=2)
    enterprises: int = 0
    last_event_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


metadata = mapper_registry.metadata
TABLES = ServiceTables(metadata=metadata, outbox=None, inbox=inbox_table(metadata))
