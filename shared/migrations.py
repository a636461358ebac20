"""Alembic per service: each service's ``migrations/`` folder, its own database, one command."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command, context, op
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import UtcDateTime
from shared.settings import ServiceSettings


def alembic_config(settings: ServiceSettings) -> Config:
    config = Config()
    location = resources.files(f"services.{settings.service}").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: ServiceSettings, revision: str = "head") -> None:
    """Apply this service's migrations to its database (creates an SQLite file if needed)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.platform.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


# The outbox is a queue: every row is inserted, updated once when it is published and deleted
# after the retention window. At PostgreSQL's default (vacuum once a fifth of the table is dead)
# a table holding a week of a national import carries millions of dead rows and index entries
# before it is cleaned.
OUTBOX_AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.02",
}


def vacuum_outbox_often() -> None:
    """For a revision's ``upgrade()``: autovacuum the outbox table often (PostgreSQL only)."""
    _vacuum_often("outbox")


def _vacuum_often(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        settings = ", ".join(f"{name} = {value}" for name, value in OUTBOX_AUTOVACUUM.items())
        op.execute(f"ALTER TABLE {table} SET ({settings})")


def vacuum_outbox_by_default() -> None:
    """For the same revision's ``downgrade()``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE outbox RESET ({', '.join(OUTBOX_AUTOVACUUM)})")


def drop_outbox_event_id_index() -> None:
    """For a revision's ``upgrade()``: the outbox's ``event_id`` without its unique index (see
    ``shared.outbox.outbox_table``)."""
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_constraint("uq_outbox_event_id", type_="unique")


def restore_outbox_event_id_index() -> None:
    """For the same revision's ``downgrade()``."""
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_unique_constraint("uq_outbox_event_id", ["event_id"])


def list_pending_outbox_rows_apart() -> None:
    """For a revision's ``upgrade()``: the outbox's unpublished rows listed in
    ``outbox_pending`` rather than marked by ``published_at`` (see
    ``shared.outbox.outbox_table``). The list is written and emptied as often as the outbox
    was marked, so it is autovacuumed as often."""
    op.create_table(
        "outbox_pending",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_pending")),
    )
    op.execute("INSERT INTO outbox_pending (id) SELECT id FROM outbox WHERE published_at IS NULL")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_unpublished", postgresql_where=sa.text(UNPUBLISHED))
        batch_op.drop_column("published_at")
    _vacuum_often("outbox_pending")


def mark_pending_outbox_rows_in_place() -> None:
    """For the same revision's ``downgrade()``: rows off the list are marked published now."""
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE outbox SET published_at = CURRENT_TIMESTAMP "
        "WHERE id NOT IN (SELECT id FROM outbox_pending)"
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index(
            "ix_outbox_unpublished", ["id"], postgresql_where=sa.text(UNPUBLISHED)
        )
    op.drop_table("outbox_pending")


UNPUBLISHED = "published_at IS NULL"


def _render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    """Kernel column types render as the plain SQLAlchemy types they store as."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(metadata: MetaData) -> None:
    """Body of every service's ``env.py``."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(run_async())
