"""Database plumbing: one async engine per service, SQLite by default, PostgreSQL when configured.

Each service owns a ``MetaData`` of its own (``service_metadata()``), so its Alembic migrations
and its tables never mix with another service's even when tests run several in one process.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    DateTime,
    Dialect,
    MetaData,
    Table,
    any_,
    bindparam,
    cast,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Compiled, make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator

from shared.pg_arrays import speed_up_array_parameters
from shared.telemetry import sql_span

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
    url: str,
    *,
    pool_size: int = 16,
    max_overflow: int = 4,
    server_settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """``server_settings``: PostgreSQL settings for every connection of this engine."""
    if is_sqlite(url):  # SQLite: one writer at a time, so the default small pool
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _make_sqlite_transactional(engine)
        return engine
    kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    speed_up_array_parameters()
    # No ping before each checkout (a round trip per transaction): a connection found dead in
    # use fails that one transaction (503 to a caller, a retry for a consumer) and SQLAlchemy
    # then discards every connection opened before it, so the pool recovers in one go.
    # Plan each execution with its parameters rather than once per prepared statement: a plan
    # cached while a table was still empty (the first minutes of a national import) scans the
    # whole table for ever after, and the lookups by key then grow with the table.
    settings = {"plan_cache_mode": "force_custom_plan", **(server_settings or {})}
    kwargs.setdefault("connect_args", {"server_settings": settings})
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


@asynccontextmanager
async def reading(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for queries alone. On PostgreSQL each statement runs as its own transaction
    (``AUTOCOMMIT``), without the ``BEGIN`` and ``COMMIT`` round trips a transaction adds: two
    of a dashboard poll's seven. At READ COMMITTED, PostgreSQL's default and ours, statements
    in one transaction see the data as it is when each starts anyway, so the queries see
    nothing different. Elsewhere (SQLite) a transaction as usual."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            async with session.begin():
                yield session
            return
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
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


def dialect_insert(dialect: str, table: Table) -> Any:
    """An ``INSERT`` with the dialect's ``ON CONFLICT`` clauses (PostgreSQL's, else SQLite's)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def any_of(session: AsyncSession, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``. On PostgreSQL as ``= ANY(array)``: one parameter, so the statement
    is compiled and prepared once rather than once per number of values."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


# --- bulk writes -------------------------------------------------------------------------------
#
# On PostgreSQL the rows travel as one array per column and come out of ``unnest``: one
# statement, one execution, the same text whatever the number of rows. A plain executemany runs
# the statement once per row on the server, which made PostgreSQL the largest consumer of CPU in
# a national import. Each statement is built and compiled once per shape and sent on asyncpg's
# own connection, inside the session's transaction (``run_on_driver``): these are the statements
# every command and every consumer batch runs, and SQLAlchemy's execution of a statement cost
# more than PostgreSQL's. Elsewhere (SQLite, or columns that are arrays themselves, which
# ``unnest`` would flatten) the statement goes through the session as usual.

BulkKind = Literal["insert", "insert_new", "upsert", "add"]


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once for asyncpg: its SQL, and how to bind its parameters."""

    sql: str
    compiled: Compiled
    names: tuple[str, ...]
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Any, dialect: Dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        return cls(
            compiled.string,
            compiled,
            tuple(compiled.positiontup or ()),
            dict(compiled._bind_processors),
        )

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        values: Any = self.compiled.construct_params(parameters)
        return [
            processor(values[name]) if (processor := self.processors.get(name)) else values[name]
            for name in self.names
        ]

    def mappings(
        self, records: list[Any], attributes: Any, dialect: Dialect
    ) -> list[dict[str, Any]]:
        """Rows as dictionaries keyed by the statement's column labels, each value converted
        as SQLAlchemy converts it (a ``TypeDecorator``, a NUMERIC read as a float), by the
        column types PostgreSQL described when the statement was prepared (``attributes``,
        which SQLAlchemy's adapter keeps with its prepared statement)."""
        columns = getattr(self.compiled, "_result_columns", None) or ()
        converters = [
            (column.keyname, column.type._cached_result_processor(dialect, attr.type.oid))
            for column, attr in zip(columns, attributes, strict=True)
        ]
        return [
            {
                name: convert(value) if convert is not None else value
                for (name, convert), value in zip(converters, record, strict=True)
            }
            for record in records
        ]


@functools.lru_cache(maxsize=1024)
def driver_statement(statement: Any, dialect: Dialect) -> DriverStatement:
    """``statement`` compiled for asyncpg, once per statement object: for statements built
    once (module constants, ``functools.cache``), which is what makes the path pay."""
    return DriverStatement.of(statement, dialect)


async def run_on_driver(
    session: AsyncSession, statement: DriverStatement, parameters: dict[str, Any]
) -> list[Any]:
    """Run ``statement`` on asyncpg's connection in the session's transaction; its rows.

    Through the same adapter SQLAlchemy uses (its transaction, its prepared-statement cache, its
    lock), with errors raised as SQLAlchemy raises them (``IntegrityError``, a disconnect that
    invalidates the connection), and a span as the SQLAlchemy instrumentation records one.
    """
    records, _ = await _execute_on_driver(session, statement, parameters)
    return records


async def _execute_on_driver(
    session: AsyncSession, statement: DriverStatement, parameters: dict[str, Any]
) -> tuple[list[Any], Any]:
    try:
        arguments = statement.arguments(parameters)
    except Exception as error:  # a column's rule (a naive datetime), as SQLAlchemy reports it
        raise StatementError(str(error), statement.sql, None, error) from error
    connection = await session.connection()
    dialect: Any = connection.dialect
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    with sql_span(connection.sync_engine, statement.sql):
        try:
            async with adapted._execute_mutex:
                if adapted._transaction is None:
                    await adapted._start_transaction()
                prepared, attributes = await adapted._prepare(
                    statement.sql, dialect._invalidate_schema_cache_asof
                )
                return list(await prepared.fetch(*arguments)), attributes
        except Exception as error:
            raise await _as_sqlalchemy_error(connection, adapted, error, statement.sql) from error


async def fetch_mappings(
    session: AsyncSession, statement: Any, parameters: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of a query built once, as dictionaries. On PostgreSQL sent on asyncpg's
    connection (``run_on_driver``): for the reads a dashboard poll or every consumer batch
    makes, where SQLAlchemy's execution cost more than PostgreSQL's work."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        return [dict(row._mapping) for row in await session.execute(statement, parameters)]
    compiled = driver_statement(statement, dialect)
    records, attributes = await _execute_on_driver(session, compiled, parameters or {})
    return compiled.mappings(records, attributes, dialect)


async def execute_on_driver(
    session: AsyncSession, statement: Any, parameters: dict[str, Any] | None = None
) -> None:
    """A write built once, without rows back; on PostgreSQL on asyncpg's connection."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        await session.execute(statement, parameters)
        return
    await _execute_on_driver(session, driver_statement(statement, dialect), parameters or {})


RowLock = Literal["update", "no_key_update"]


async def rows_where_in(
    session: AsyncSession,
    table: Table,
    column: str,
    values: Iterable[Any],
    *,
    lock: RowLock | None = None,
) -> list[dict[str, Any]]:
    """The rows whose ``column`` is one of ``values``, in its order, as dictionaries; locked
    ``FOR UPDATE`` or ``FOR NO KEY UPDATE`` if asked (in that order, so that two transactions
    locking overlapping sets cannot deadlock). The lookups every consumer batch makes."""
    postgresql_ = session.get_bind().dialect.name == "postgresql"
    statement = _rows_where_in(table, column, lock, postgresql_)
    return await fetch_mappings(session, statement, {"values": list(values)})


@functools.lru_cache(maxsize=256)
def _rows_where_in(table: Table, column: str, lock: RowLock | None, postgresql_: bool) -> Any:
    key = table.c[column]
    # One array parameter on PostgreSQL: the statement text is the same whatever the number of
    # values, so it is compiled and prepared once.
    values = (
        any_(bindparam("values", type_=ARRAY(key.type)))
        if postgresql_
        else bindparam("values", expanding=True)
    )
    statement = select(table).where(key == values if postgresql_ else key.in_(values))
    statement = statement.order_by(key)
    if lock is not None:
        statement = statement.with_for_update(key_share=lock == "no_key_update")
    return statement


async def _as_sqlalchemy_error(
    connection: AsyncConnection, adapted: Any, error: Exception, sql: str
) -> Exception:
    dialect = connection.sync_engine.dialect
    dbapi_error_class = dialect.loaded_dbapi.Error
    try:
        adapted._handle_exception(error)  # raises the DBAPI error SQLAlchemy would have seen
    except dbapi_error_class as dbapi_error:
        disconnected = dialect.is_disconnect(dbapi_error, adapted, None)
        if disconnected:
            await connection.invalidate(dbapi_error)
        return DBAPIError.instance(
            sql,
            None,
            dbapi_error,
            dbapi_error_class,
            connection_invalidated=disconnected,
            dialect=dialect,
        )
    except Exception as other:
        return other
    return error


@functools.lru_cache(maxsize=512)
def _driver_insert(
    dialect: Dialect,
    table: Table,
    names: tuple[str, ...],
    kind: BulkKind,
    keys: tuple[str, ...],
    single: bool,
    same: tuple[str, ...] = (),
) -> DriverStatement:
    """One row (most commands write one) as plain ``VALUES``, more as one array per column;
    the ``same`` columns, one value for every row, as a single parameter each."""
    statement = postgresql.insert(table)
    columns = names + same
    if single:
        statement = statement.values(
            {name: bindparam(f"bulk_{name}", type_=table.c[name].type) for name in columns}
        )
    else:
        selected = [
            func.unnest(bindparam(f"bulk_{name}", type_=ARRAY(table.c[name].type)))
            for name in names
        ] + [
            cast(bindparam(f"bulk_{name}", type_=table.c[name].type), table.c[name].type)
            for name in same
        ]
        statement = statement.from_select(list(columns), select(*selected))
    return DriverStatement.of(_on_conflict(statement, table, columns, kind, keys), dialect)


def _on_conflict(
    statement: Any, table: Table, names: tuple[str, ...], kind: BulkKind, keys: tuple[str, ...]
) -> Any:
    others = [name for name in names if name not in keys]
    if kind == "insert_new":
        return statement.on_conflict_do_nothing(index_elements=list(keys)).returning(
            *(table.c[k] for k in keys)
        )
    if kind == "upsert":
        if not others:
            return statement.on_conflict_do_nothing(index_elements=list(keys))
        return statement.on_conflict_do_update(
            index_elements=list(keys), set_={name: statement.excluded[name] for name in others}
        )
    if kind == "add":
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in others},
        )
    return statement


async def _bulk_insert(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    kind: BulkKind,
    keys: tuple[str, ...] = (),
    same: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    names = tuple(rows[0])
    same = same or {}
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" and not any(
        isinstance(table.c[name].type, ARRAY) for name in (*names, *same)
    ):
        single = len(rows) == 1
        statement = _driver_insert(dialect, table, names, kind, keys, single, tuple(same))
        parameters = {
            f"bulk_{name}": rows[0][name] if single else [row[name] for row in rows]
            for name in names
        }
        parameters.update({f"bulk_{name}": value for name, value in same.items()})
        return [tuple(row) for row in await run_on_driver(session, statement, parameters)]
    if same:
        rows = [{**row, **same} for row in rows]
    columns = (*names, *same)
    insert = _on_conflict(dialect_insert(dialect.name, table), table, columns, kind, keys)
    result = await session.execute(insert, rows)
    return [tuple(row) for row in result] if kind == "insert_new" else []


async def insert_many(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` (dictionaries with the same keys) in one statement; ``same`` holds
    columns with one value for every row (a command's time), sent once rather than per row."""
    if rows:
        await _bulk_insert(session, table, rows, "insert", same=same)


async def insert_new(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    keys: list[str],
    same: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert the ``rows`` whose ``keys`` are not in the table yet; the keys of those inserted.
    One statement that finds duplicates through the primary key, whatever the planner thinks
    of the table's size. ``same``: as for ``insert_many``."""
    if not rows:
        return []
    return await _bulk_insert(session, table, rows, "insert_new", tuple(keys), same)


async def upsert_many(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert ``rows`` or replace the rows with the same ``keys``, in one statement (of rows
    with the same keys, the last wins, as if they had been written one after the other)."""
    if rows:
        rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
        await _bulk_insert(session, table, rows, "upsert", tuple(keys))


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
    await _bulk_insert(session, table, list(summed.values()), "add", tuple(keys))
