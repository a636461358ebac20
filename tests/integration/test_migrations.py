"""Each service's migrations build exactly the schema its models describe (no create_all)."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime
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


async def test_upgrading_lists_the_unpublished_outbox_rows_and_downgrading_marks_the_rest(
    databases: Databases, tmp_path: Path
) -> None:
    """An outbox written before the pending list keeps what it owes: the rows not yet
    published are listed, the published ones are not, and going back marks only those."""
    entry = next(s for s in SERVICES if s.name == "registry")
    settings = entry.settings().model_copy(
        update={
            "database_url": await databases.url_for("registry"),
            "platform": PlatformSettings(data_dir=tmp_path),
        }
    )
    config = migrations.alembic_config(settings)
    await asyncio.to_thread(command.upgrade, config, "0004")
    engine = db.create_engine(settings.resolved_database_url)
    row = (
        "INSERT INTO outbox (id, event_id, topic, key, ce_type, headers, payload, created_at, "
        "published_at) VALUES (:id, :event_id, 't', 'k', 'ce', '{}', :payload, :now, :published_at)"
    )
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            for row_id, published_at in ((1, now), (2, None), (3, now), (4, None)):
                await connection.execute(
                    text(row),
                    {
                        "id": row_id,
                        "event_id": str(row_id),
                        "payload": b"{}",
                        "now": now,
                        "published_at": published_at,
                    },
                )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            pending = await connection.scalars(text("SELECT id FROM outbox_pending ORDER BY id"))
            assert list(pending) == [2, 4]
            await connection.execute(text("DELETE FROM outbox_pending WHERE id = 2"))
            await connection.commit()
        await asyncio.to_thread(command.downgrade, config, "0004")
        async with engine.connect() as connection:
            unpublished = await connection.scalars(
                text("SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id")
            )
            assert list(unpublished) == [4]
    finally:
        await engine.dispose()
