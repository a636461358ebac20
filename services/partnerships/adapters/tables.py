"""The partnerships database: its tables, with the kernel's outbox and inbox beside them."""

from __future__ import annotations

from sqlmodel import SQLModel

from shared.db import service_registry
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

mapper_registry = service_registry()


class PartnershipsTable(SQLModel, registry=mapper_registry):
    pass


metadata = mapper_registry.metadata
TABLES = ServiceTables(
    metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata)
)
