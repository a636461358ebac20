"""Each service's migrations build exactly the schema its models describe (no create_all)."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from cli.catalog import SERVICES
from shared import db, migrations
from shared.settings import PlatformSettings
from tests.support.platform import Databases

pytestmark = pytest.mark.integration


async def storage_parameters(url: str, table: str) -> set[str]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            options = await connection.scalar(
                text("SELECT reloptions FROM pg_class WHERE relname = :table"), {"table": table}
            )
    finally:
        await engine.dispose()
    return set(options or ())


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
async def test_migrations_match_the_models(
    service: str, databases: Databases, tmp_path: Path
) -> None:
    entry = next(s for s in SERVICES if s.name == service)
    settings = entry.settings().model_copy(
        update={
            "database_url": await databases.url_for(service),
            "platform": PlatformSettings(data_dir=tmp_path),
        }
    )
    await asyncio.to_thread(migrations.upgrade, settings)
    # raises if the models and the migrated database differ
    await asyncio.to_thread(command.check, migrations.alembic_config(settings))
    tables = importlib.import_module(f"services.{service}.adapters.tables").TABLES
    if databases.use_postgres and tables.outbox is not None:
        for table in ("outbox", "outbox_pending"):  # written and emptied all day long
            assert await storage_parameters(settings.resolved_database_url, table) == {
                f"{name}={value}" for name, value in migrations.OUTBOX_AUTOVACUUM.items()
            }
    await asyncio.to_thread(command.downgrade, migrations.alembic_config(settings), "base")
