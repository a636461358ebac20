"""Database plumbing: one async engine per service, SQLite by default, PostgreSQL when configured.

Each service owns a ``MetaData`` of its own (``service_metadata()``), so its Alembic migrations
and its tables never mix with another service's even when tests run several in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    MetaData,
    Table,
    any_,
    bindparam,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_registry() -> registry:
    """A fresh SQLAlchemy registry for one service's SQLModel tables."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, pool_size: int = 16, max_overflow: int = 4, **kwargs: Any
) -> AsyncEngine:
    if is_sqlite(url):  # SQLite: one writer at a time, so the default small pool
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _make_sqlite_transactional(engine)
        return engine
    kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    # No ping before each checkout (a round trip per transaction): a connection found dead in
    # use fails that one transaction (503 to a caller, a retry for a consumer) and SQLAlchemy
    # then discards every connection opened before it, so the pool recovers in one go.
    # Plan each execution with its parameters rather than once per prepared statement: a plan
    # cached while a table was still empty (the first minutes of a national import) scans the
    # whole table for ever after, and the lookups by key then grow with the table.
    kwargs.setdefault("connect_args", {"server_settings": {"plan_cache_mode": "force_custom_plan"}})
    return create_async_engine(url, **kwargs)


def _make_sqlite_transactional(engine: AsyncEngine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, issue BEGIN, so SAVEPOINTs work; enable WAL."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with sessions() as session, session.begin():
        yield session


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the offset on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: timestamps must carry a timezone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _dialect_insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def any_of(session: AsyncSession, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``. On PostgreSQL as ``= ANY(array)``: one parameter, so the statement
    is compiled and prepared once rather than once per number of values."""
    values = list(values)
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


# Below this many rows, building the unnest() statement costs more than it saves.
UNNEST_FROM_ROWS = 8


def _bulk_insert(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]]
) -> tuple[Any, list[dict[str, Any]] | None]:
    """An INSERT of ``rows`` and the parameters to execute it with.

    On PostgreSQL the rows travel as one array per column and come out of ``unnest``: one
    statement, one execution, the same text whatever the number of rows (so it is prepared
    once). A plain executemany runs the statement once per row on the server, which made
    PostgreSQL the largest consumer of CPU in a national import. Columns that are arrays
    themselves would be flattened by ``unnest``, so such tables keep executemany.
    """
    statement = _dialect_insert(session, table)
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    if (
        len(rows) < UNNEST_FROM_ROWS
        or session.bind.dialect.name != "postgresql"
        or any(isinstance(column.type, ARRAY) for column in columns)
    ):
        return statement, rows
    arrays = [
        func.unnest(bindparam(f"bulk_{name}", [row[name] for row in rows], type_=ARRAY(c.type)))
        for name, c in zip(names, columns, strict=True)
    ]
    return statement.from_select(names, select(*arrays)), None


async def insert_many(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dictionaries with the same keys) in one statement."""
    if rows:
        statement, parameters = _bulk_insert(session, table, rows)
        await session.execute(statement, parameters)


async def insert_new(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> list[tuple[Any, ...]]:
    """Insert the ``rows`` whose ``keys`` are not in the table yet; the keys of those inserted.
    One statement that finds duplicates through the primary key, whatever the planner thinks
    of the table's size."""
    if not rows:
        return []
    statement, parameters = _bulk_insert(session, table, rows)
    statement = statement.on_conflict_do_nothing(index_elements=keys).returning(
        *(table.c[k] for k in keys)
    )
    result = await session.execute(statement, parameters)
    return [tuple(row) for row in result]


async def upsert_many(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert ``rows`` or replace the rows with the same ``keys``, in one statement (of rows
    with the same keys, the last wins, as if they had been written one after the other)."""
    if not rows:
        return
    rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
    statement, parameters = _bulk_insert(session, table, rows)
    columns = [name for name in rows[0] if name not in keys]
    statement = (
        statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns}
        )
        if columns
        else statement.on_conflict_do_nothing(index_elements=keys)
    )
    await session.execute(statement, parameters)


async def add_many(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Add each row's amounts to the row with the same ``keys`` (created if missing)."""
    if not rows:
        return
    amounts = [name for name in rows[0] if name not in keys]
    # One statement may not touch a row twice: rows with the same keys are summed first.
    summed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key in summed:
            for name in amounts:
                summed[key][name] += row[name]
        else:
            summed[key] = dict(row)
    rows = list(summed.values())
    statement, parameters = _bulk_insert(session, table, rows)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in amounts},
    )
    await session.execute(statement, parameters)
