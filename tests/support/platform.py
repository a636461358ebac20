"""Test harness: a real embedded broker, real databases (PostgreSQL when reachable), services
running in-process with their real lifespan, and helpers to wait for eventual consistency."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from shared import migrations
from shared.auth import AuthSettings, issue_token
from shared.settings import KafkaSettings, PlatformSettings, ServiceSettings

T = TypeVar("T")
S = TypeVar("S", bound=ServiceSettings)

POSTGRES_ADMIN_DSN = os.environ.get(
    "IKM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def postgres_available() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


class Databases:
    """One fresh database per service per test: PostgreSQL if reachable, else SQLite files."""

    def __init__(self, use_postgres: bool, tmp_dir: Any) -> None:
        self.use_postgres = use_postgres
        self.tmp_dir = tmp_dir
        self.created: list[str] = []

    async def url_for(self, service: str) -> str:
        if not self.use_postgres:
            return f"sqlite+aiosqlite:///{self.tmp_dir}/{service}-{uuid.uuid4().hex[:8]}.db"
        name = f"ikm_test_{service}_{uuid.uuid4().hex[:10]}"
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        self.created.append(name)
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+asyncpg://"
        )
        return f"{base}/{name}"

    async def drop_all(self) -> None:
        if not self.created:
            return
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            for name in self.created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def service_settings(
    cls: type[S], kafka: KafkaSettings, databases: Databases, tmp_dir: Any, **overrides: Any
) -> S:
    """Settings for one service in a test, its database created and migrated."""
    settings = cls(
        database_url=await databases.url_for(cls.service),
        kafka=kafka,
        platform=PlatformSettings(data_dir=tmp_dir, log_format="text"),
        auth=AuthSettings(required=True),
        relay_poll_interval_s=0.2,
        **overrides,
    )
    await asyncio.to_thread(migrations.upgrade, settings)
    return settings


def bearer(
    role: str = "admin", province_code: str | None = None, subject: str = "tester"
) -> dict[str, str]:
    """Authorization header with a development token for ``role``."""
    token = issue_token(AuthSettings(), subject=subject, roles=[role], province_code=province_code)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running(app: FastAPI, role: str = "admin") -> AsyncIterator[httpx.AsyncClient]:
    """Start the service (its real lifespan: broker, consumers, relay) and give an HTTP client
    that sends a token for ``role``."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service", headers=bearer(role)
        ) as client:
            yield client


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.1,
) -> T:
    """Poll ``probe`` until ``until(result)`` holds; fail with the last result otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await probe()
        if until(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last value: {result!r}")
        await asyncio.sleep(interval_s)
