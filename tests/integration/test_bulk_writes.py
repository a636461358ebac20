"""The bulk writes every command and consumer batch runs, and the reads a dashboard poll makes
(``shared.db``), on PostgreSQL sent on asyncpg's connection: they must behave as statements
through the session do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import db
from shared.telemetry import instrument_engine
from tests.support.platform import Databases

pytestmark = pytest.mark.integration

metadata = MetaData()
totals = Table(
    "totals",
    metadata,
    Column("province_code", String(2), primary_key=True),
    Column("enterprises", Integer, nullable=False),
    Column("label", String(20), unique=True),
    Column("counted_at", db.UtcDateTime(), nullable=True),
    Column("share_pct", Numeric(7, 3, asdecimal=False), nullable=True),
)
BY_PROVINCE = (
    select(
        totals.c.province_code.label("key"),
        totals.c.enterprises,
        totals.c.counted_at,
        totals.c.share_pct,
    )
    .where(totals.c.enterprises >= bindparam("at_least"))
    .order_by(totals.c.province_code)
)
ADD_ONE = (
    update(totals)
    .where(totals.c.province_code == bindparam("key"))
    .values(enterprises=totals.c.enterprises + 1)
)


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], spans: InMemorySpanExporter):
        self.sessions = sessions
        self.spans = spans

    async def rows(self) -> dict[str, int]:
        async with self.sessions() as session:
            result = await session.execute(select(totals.c.province_code, totals.c.enterprises))
            return {key: value for key, value in result}


@pytest.fixture
async def store(databases: Databases) -> AsyncIterator[Store]:
    engine = db.create_engine(await databases.url_for("bulk"))
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrument_engine(engine, provider)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield Store(db.session_factory(engine), spans)
    finally:
        await engine.dispose()


async def test_bulk_writes_insert_skip_replace_and_add(store: Store) -> None:
    async with db.transaction(store.sessions) as session:
        await db.insert_many(session, totals, [{"province_code": "35", "enterprises": 1}])
        new = await db.insert_new(
            session,
            totals,
            [{"province_code": "35", "enterprises": 9}, {"province_code": "33", "enterprises": 2}],
            ["province_code"],
        )
    assert new == [("33",)]
    assert await store.rows() == {"35": 1, "33": 2}

    async with db.transaction(store.sessions) as session:
        await db.upsert_many(
            session,
            totals,
            [{"province_code": "33", "enterprises": 5}, {"province_code": "33", "enterprises": 7}],
            ["province_code"],
        )
        await db.add_many(
            session,
            totals,
            [
                {"province_code": "35", "enterprises": 10},
                {"province_code": "35", "enterprises": 100},
                {"province_code": "11", "enterprises": 4},
            ],
            ["province_code"],
        )
    assert await store.rows() == {"35": 111, "33": 7, "11": 4}


async def test_columns_the_same_for_every_row_are_written_to_each_and_keep_their_rules(
    store: Store,
) -> None:
    """``same`` (a command's time, a consumer's name) is sent once, not once per row."""
    await _write_and_read_same(store.sessions)


async def test_columns_the_same_for_every_row_on_sqlite(tmp_path: Path) -> None:
    """Where the statement goes through the session, ``same`` is merged into each row."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/same.db")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        await _write_and_read_same(db.session_factory(engine))
    finally:
        await engine.dispose()


async def _write_and_read_same(sessions: async_sessionmaker[AsyncSession]) -> None:
    counted_at = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    async with db.transaction(sessions) as session:
        await db.insert_many(
            session,
            totals,
            [{"province_code": "35"}],
            same={"enterprises": 1, "counted_at": counted_at},
        )
        new = await db.insert_new(
            session,
            totals,
            [{"province_code": "35"}, {"province_code": "33"}, {"province_code": "11"}],
            ["province_code"],
            same={"enterprises": 2, "counted_at": counted_at},
        )
    assert sorted(new) == [("11",), ("33",)]
    async with sessions() as session:
        rows = await session.execute(
            select(totals.c.province_code, totals.c.enterprises, totals.c.counted_at).order_by(
                totals.c.province_code
            )
        )
        assert [tuple(row) for row in rows] == [
            ("11", 2, counted_at),
            ("33", 2, counted_at),
            ("35", 1, counted_at),
        ]
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.transaction(sessions) as session:
            await db.insert_many(
                session,
                totals,
                [{"province_code": "51"}, {"province_code": "52"}],
                same={"enterprises": 1, "counted_at": datetime(2026, 1, 1)},
            )


async def test_a_bulk_write_first_in_its_transaction_is_rolled_back_with_it(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction(store.sessions) as session:
            await db.insert_many(session, totals, [{"province_code": "35", "enterprises": 1}])
            raise RuntimeError("the command fails after writing")
    assert await store.rows() == {}


async def test_a_broken_constraint_raises_as_through_the_session(store: Store) -> None:
    rows = [
        {"province_code": "35", "enterprises": 1, "label": "same"},
        {"province_code": "33", "enterprises": 1, "label": "same"},
    ]
    with pytest.raises(IntegrityError, match="totals_label"):
        async with db.transaction(store.sessions) as session:
            await db.insert_many(session, totals, rows)
    # the connection went back to the pool in a usable state
    async with db.transaction(store.sessions) as session:
        await db.insert_many(session, totals, rows[:1])
        assert await session.scalar(select(func.count()).select_from(totals)) == 1


async def test_a_bulk_write_keeps_the_column_rules_and_leaves_a_span(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.transaction(store.sessions) as session:
            await db.insert_many(
                session,
                totals,
                [{"province_code": "35", "enterprises": 1, "counted_at": datetime(2026, 1, 1)}],
            )
    async with db.transaction(store.sessions) as session:
        await db.insert_many(
            session,
            totals,
            [{"province_code": "35", "enterprises": 1, "counted_at": datetime.now(UTC)}],
        )
    (span,) = [
        s
        for s in store.spans.get_finished_spans()
        if s.attributes.get("db.statement", "").startswith("INSERT INTO totals")
    ]
    assert span.name.startswith("INSERT ")
    assert span.kind.name == "CLIENT"
    assert span.attributes["db.system"] == "postgresql"


async def test_a_read_built_once_gives_the_rows_the_session_gives(store: Store) -> None:
    counted_at = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    async with db.transaction(store.sessions) as session:
        await db.insert_many(
            session,
            totals,
            [
                {
                    "province_code": "35",
                    "enterprises": 7,
                    "counted_at": counted_at,
                    "share_pct": 12.5,
                },
                {"province_code": "33", "enterprises": 1, "counted_at": None, "share_pct": None},
            ],
        )
    async with db.transaction(store.sessions) as session:
        through_session = [
            dict(row._mapping) for row in await session.execute(BY_PROVINCE, {"at_least": 2})
        ]
        rows = await db.fetch_mappings(session, BY_PROVINCE, {"at_least": 2})
        again = await db.fetch_mappings(session, BY_PROVINCE, {"at_least": 0})
    expected = {"key": "35", "enterprises": 7, "counted_at": counted_at, "share_pct": 12.5}
    assert rows == through_session == [expected]
    assert isinstance(rows[0]["share_pct"], float)
    assert [row["key"] for row in again] == ["33", "35"]


async def test_a_write_built_once_runs_in_the_session_transaction(store: Store) -> None:
    async with db.transaction(store.sessions) as session:
        await db.insert_many(session, totals, [{"province_code": "35", "enterprises": 1}])
    with pytest.raises(RuntimeError):
        async with db.transaction(store.sessions) as session:
            await db.execute_on_driver(session, ADD_ONE, {"key": "35"})
            raise RuntimeError("the batch fails after the write")
    assert await store.rows() == {"35": 1}
    async with db.transaction(store.sessions) as session:
        await db.execute_on_driver(session, ADD_ONE, {"key": "35"})
    assert await store.rows() == {"35": 2}


async def test_array_parameters_encode_and_reject_as_asyncpg_always_did(
    databases: Databases,
) -> None:
    if not databases.use_postgres:
        pytest.skip("asyncpg's array parameters: PostgreSQL only")
    engine = db.create_engine(await databases.url_for("arrays"))
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            text_array = await raw.fetchval("SELECT $1::text[]", ["a", "", None, 'ü,{"}'])
            assert text_array == ["a", "", None, 'ü,{"}']
            assert await raw.fetchval("SELECT $1::int[]", ([1, 2], [3, 4])) == [[1, 2], [3, 4]]
            assert await raw.fetchval("SELECT $1::int[]", range(3)) == [0, 1, 2]
            for not_an_array in ("abc", {"a": 1}, 5):
                with pytest.raises(Exception, match="sized iterable container expected"):
                    await raw.fetchval("SELECT $1::text[]", not_an_array)
            with pytest.raises(Exception, match="non-homogeneous array"):
                await raw.fetchval("SELECT $1::int[]", [[1, 2], 3])
    finally:
        await engine.dispose()


async def test_reads_run_without_a_transaction_and_leave_the_pool_transactional(
    databases: Databases,
) -> None:
    """``db.reading``: on PostgreSQL each query is a transaction of its own (no BEGIN and
    COMMIT round trips), it reads what the session would, and the connection it used goes back
    to the pool as it came, so the next unit of work still rolls back as a whole."""
    engine = db.create_engine(await databases.url_for("reading"), pool_size=1, max_overflow=0)
    sessions = db.session_factory(engine)
    started = select(func.transaction_timestamp())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        async with db.transaction(sessions) as session:
            await db.insert_many(session, totals, [{"province_code": "35", "enterprises": 7}])

        async with db.reading(sessions) as session:
            rows = await db.fetch_mappings(session, BY_PROVINCE, {"at_least": 0})
            first = await session.scalar(started)
            await asyncio.sleep(0.01)
            second = await session.scalar(started)
        assert rows == [{"key": "35", "enterprises": 7, "counted_at": None, "share_pct": None}]
        if databases.use_postgres:  # each statement started a transaction of its own
            assert second > first

        with pytest.raises(RuntimeError):
            async with db.transaction(sessions) as session:  # the same (only) connection
                await db.insert_many(session, totals, [{"province_code": "33", "enterprises": 1}])
                await db.execute_on_driver(session, ADD_ONE, {"key": "35"})
                raise RuntimeError("the command fails after writing")
        async with db.reading(sessions) as session:
            after = await db.fetch_mappings(session, BY_PROVINCE, {"at_least": 0})
        assert [(row["key"], row["enterprises"]) for row in after] == [("35", 7)]
    finally:
        await engine.dispose()


replicas = Table(
    "replicas",
    MetaData(),
    Column("nib", String(13), primary_key=True),
    Column("version", Integer, nullable=False),
)


async def test_a_key_lookup_first_run_on_an_empty_table_reads_the_index_once_it_has_grown(
    databases: Databases,
) -> None:
    """Every consumer batch looks rows up by key (``rows_where_in``: ``= ANY(array)``). A plan
    that PostgreSQL made once and kept (its generic plan, by default after five executions)
    while the table was empty, as statistics taken then say (a migration's new table), is a
    sequential scan, kept as the table grows to millions of rows. ``db.create_engine``'s
    connections plan each execution afresh, so the lookup reads the index once the table has
    rows (here in the same transaction, on the same connection)."""
    if not databases.use_postgres:
        pytest.skip("plan caching is PostgreSQL's")
    engine = db.create_engine(await databases.url_for("plans"), pool_size=1, max_overflow=0)
    sessions = db.session_factory(engine)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(replicas.metadata.create_all)
            await connection.exec_driver_sql("ANALYZE replicas")
        async with db.transaction(sessions) as session:
            for _ in range(8):
                assert await db.rows_where_in(session, replicas, "nib", ["1"]) == []
            await session.execute(
                text(
                    "INSERT INTO replicas (nib, version)"
                    " SELECT g::text, g FROM generate_series(1, 20000) AS g"
                )
            )
            scans_before = await sequential_scans(session)
            rows = await db.rows_where_in(session, replicas, "nib", ["5001", "5002"])
            scans = await sequential_scans(session) - scans_before
            generic = await session.scalar(
                text(
                    "SELECT sum(generic_plans) FROM pg_prepared_statements"
                    " WHERE statement LIKE 'SELECT replicas.%'"
                )
            )
    finally:
        await engine.dispose()

    assert [row["version"] for row in rows] == [5001, 5002]
    assert scans == 0
    assert generic == 0


async def sequential_scans(session: AsyncSession) -> int:
    """Sequential scans of ``replicas`` so far in this transaction."""
    query = text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'replicas'")
    return int(await session.scalar(query) or 0)
