"""The rig every fault test stands on: the real embedded broker behind a cuttable TCP proxy,
one fresh PostgreSQL database per service (optionally behind a proxy of its own), and services
run either in-process (their real lifespan) or as ``ikm serve <service>`` subprocesses, the way
a container runs them, so they can be sent SIGKILL or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.partnerships.app import create_app as partnerships_app
from services.partnerships.settings import PartnershipsSettings
from services.programs.app import create_app as programs_app
from services.programs.settings import ProgramsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from services.reporting.app import create_app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.broker import EmbeddedBroker, free_port
from shared.events.topics import all_topic_names
from shared.kafka import ensure_topics
from shared.runtime import ServiceRuntime
from shared.settings import KafkaSettings, ServiceSettings
from tests.support.platform import POSTGRES_ADMIN_DSN, Databases, bearer, service_settings
from tests.support.proxy import CuttableProxy

SERVICES: dict[str, tuple[type[ServiceSettings], Callable[..., FastAPI]]] = {
    "registry": (RegistrySettings, registry_app),
    "programs": (ProgramsSettings, programs_app),
    "partnerships": (PartnershipsSettings, partnerships_app),
    "reporting": (ReportingSettings, reporting_app),
}
CONSUMERS = ("programs", "partnerships", "reporting")
# where the test databases live (IKM_TEST_POSTGRES_DSN, default 127.0.0.1:5432)
_POSTGRES = urlsplit(POSTGRES_ADMIN_DSN)
POSTGRES_HOST, POSTGRES_PORT = _POSTGRES.hostname or "127.0.0.1", _POSTGRES.port or 5432
Report = Callable[..., None]  # the ``report`` fixture: report(fault, seconds, details="")
# docker-compose's stop_grace_period (Kubernetes gives 40 s): a service must be gone by then
GRACE_PERIOD_S = 30.0


def asyncpg_dsn(database_url: str) -> str:
    """The plain asyncpg DSN of a SQLAlchemy URL (checks read the databases directly)."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Node:
    """One running instance of a service: in-process (``app``) or a subprocess (``process``)."""

    service: str
    client: httpx.AsyncClient
    app: FastAPI | None = None
    process: ServiceProcess | None = None

    @property
    def runtime(self) -> ServiceRuntime:
        assert self.app is not None, "only in-process nodes expose their runtime"
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def in_process(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app`` with its real lifespan and give a client that gets a 500 (not an exception)
    when the app fails, as a remote caller would."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{name}", headers=bearer(), timeout=20
        ) as client:
            yield client


class ServiceProcess:
    """``ikm serve <service>`` as a child process on a fixed port (so it can be restarted)."""

    def __init__(self, service: str, settings: ServiceSettings, log_dir: Path) -> None:
        self.service = service
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{service}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        prefix = self.service.upper()
        s = self.settings
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith((f"{prefix}_", "KAFKA_", "AUTH_", "IKM_", "OTEL_"))
        }
        env.update(
            {
                f"{prefix}_DATABASE_URL": s.resolved_database_url,
                f"{prefix}_PORT": str(self.port),
                f"{prefix}_HOST": "127.0.0.1",
                f"{prefix}_RELAY_POLL_INTERVAL_S": str(s.relay_poll_interval_s),
                f"{prefix}_CONSUMER_BATCH_SIZE": str(s.consumer_batch_size),
                f"{prefix}_RELAY_BATCH_SIZE": str(s.relay_batch_size),
                "KAFKA_BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
                "KAFKA_SESSION_TIMEOUT_MS": str(s.kafka.session_timeout_ms),
                "KAFKA_HEARTBEAT_INTERVAL_MS": str(s.kafka.heartbeat_interval_ms),
                "AUTH_REQUIRED": "true",
                "IKM_DATA_DIR": str(s.platform.data_dir),
                "IKM_LOG_FORMAT": "text",
                "IKM_ENVIRONMENT": "test",
                "OTEL_TRACES_EXPORTER": "none",
            }
        )
        return env

    def start(self) -> None:
        ikm = shutil.which("ikm", path=str(Path(sys.executable).parent)) or "ikm"
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [ikm, "serve", self.service],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.service} exited with {self.process.returncode}:\n{self.tail()}"
                    )
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.service} not ready in {timeout_s}s:\n{self.tail()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def wait_exit(self, timeout_s: float) -> int | None:
        """The exit code, or None if the process still runs after ``timeout_s``."""
        process = self.process
        assert process is not None
        try:
            return await asyncio.wait_for(asyncio.to_thread(process.wait), timeout_s)
        except TimeoutError:
            return None

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        if await self.wait_exit(GRACE_PERIOD_S) is None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class Rig:
    """Broker, proxies, databases and services of one fault test; everything on 127.0.0.1."""

    broker: EmbeddedBroker
    broker_proxy: CuttableProxy
    kafka: KafkaSettings
    databases: Databases
    tmp_path: Path
    stack: AsyncExitStack
    settings: dict[str, ServiceSettings] = field(default_factory=dict)
    direct_url: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, list[Node]] = field(default_factory=dict)
    processes: list[ServiceProcess] = field(default_factory=list)

    async def configure(
        self, service: str, *, postgres_proxy: CuttableProxy | None = None, **overrides: Any
    ) -> ServiceSettings:
        """Create and migrate the service's database; with ``postgres_proxy`` the service
        reaches PostgreSQL only through it (checks still read the database directly)."""
        cls, _ = SERVICES[service]
        settings = await service_settings(
            cls, self.kafka, self.databases, self.tmp_path, **overrides
        )
        url = settings.resolved_database_url
        self.direct_url[service] = url
        if postgres_proxy is not None:
            proxied = url.replace(
                f"@{POSTGRES_HOST}:{POSTGRES_PORT}/", f"@127.0.0.1:{postgres_proxy.listen_port}/"
            )
            assert proxied != url, url
            settings = settings.model_copy(update={"database_url": proxied})
        self.settings[service] = settings
        return settings

    def dsn(self, service: str) -> str:
        return asyncpg_dsn(self.direct_url[service])

    async def start_in_process(self, service: str, stack: AsyncExitStack | None = None) -> Node:
        """Another in-process instance of ``service`` (a replica when one runs already); it
        stops with ``stack`` (default: at the end of the test)."""
        _, create = SERVICES[service]
        app = create(self.settings[service])
        index = len(self.nodes.get(service, []))
        stack = stack or self.stack
        client = await stack.enter_async_context(in_process(app, f"{service}-{index}"))
        node = Node(service, client, app=app)
        self.nodes.setdefault(service, []).append(node)
        return node

    async def start_processes(self, *services: str) -> list[Node]:
        """``services`` (default: all four) as ``ikm serve`` subprocesses, started together."""
        names = services or tuple(SERVICES)
        processes = [ServiceProcess(s, self.settings[s], self.tmp_path) for s in names]
        if not self.processes:  # stopped together, before anything started earlier
            self.stack.push_async_callback(self._stop_processes)
        self.processes += processes
        for process in processes:
            process.start()
        await asyncio.gather(*(p.wait_ready() for p in processes))
        nodes = []
        for process in processes:
            client = await self.stack.enter_async_context(
                httpx.AsyncClient(base_url=process.url, headers=bearer(), timeout=20)
            )
            node = Node(process.service, client, process=process)
            self.nodes.setdefault(process.service, []).append(node)
            nodes.append(node)
        return nodes

    async def _stop_processes(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))

    def node(self, service: str) -> Node:
        return self.nodes[service][0]

    def client(self, service: str) -> httpx.AsyncClient:
        return self.node(service).client


async def postgres_proxy(stack: AsyncExitStack) -> CuttableProxy:
    proxy = CuttableProxy(free_port(), POSTGRES_HOST, POSTGRES_PORT)
    await proxy.start()
    stack.push_async_callback(proxy.stop)
    return proxy


@asynccontextmanager
async def rig(databases: Databases, tmp_path: Path) -> AsyncIterator[Rig]:
    """A broker every client reaches through a proxy (the advertised address is the proxy's, so
    reconnections go through it too), all topics created; torn down in reverse order."""
    proxy_port = free_port()
    broker = EmbeddedBroker(advertised_port=proxy_port, log_path=tmp_path / "broker.log")
    broker.start()
    try:
        proxy = CuttableProxy(proxy_port, "127.0.0.1", broker.port)
        await proxy.start()
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{proxy_port}")
        await ensure_topics(kafka, all_topic_names())
        async with AsyncExitStack() as stack:
            stack.push_async_callback(proxy.stop)
            yield Rig(broker, proxy, kafka, databases, tmp_path, stack)
    finally:
        broker.stop()


async def writing_transactions(rig: Rig, service: str) -> int:
    """Transactions with uncommitted writes open on ``service``'s database right now (a consumer
    batch in progress shows as one)."""
    database = rig.direct_url[service].rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await connection.close()
    return int(count)
