"""Each service's migrations build exactly the schema its models describe (no create_all)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command

from cli.catalog import SERVICES
from shared import migrations
from shared.settings import PlatformSettings
from tests.support.platform import Databases

pytestmark = pytest.mark.integration


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
    await asyncio.to_thread(command.downgrade, migrations.alembic_config(settings), "base")
