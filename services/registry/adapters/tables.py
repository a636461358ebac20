"""The registry database: its tables, with the kernel's outbox and inbox beside them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, service_registry
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()


class RegistryTable(SQLModel, registry=mapper_registry):
    pass


class EnterpriseRow(RegistryTable, table=True):
    __tablename__ = "enterprises"

    nib: str = Field(primary_key=True, max_length=13)
    name: str = Field(max_length=300)
    province_code: str = Field(max_length=2, index=True)
    kbli: str = Field(max_length=5, index=True)
    registered_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    version: int = 1


metadata = mapper_registry.metadata
TABLES = ServiceTables(
    metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata)
)
