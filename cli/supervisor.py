"""``ikm up``: the whole platform on one machine, as child processes, stopped cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
from rich.console import Console
from rich.table import Table

from cli.catalog import SERVICES, ServiceEntry
from cli.credentials import dashboard_fragment
from shared import migrations
from shared.broker import EmbeddedBroker
from shared.events.topics import all_topic_names
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, PlatformSettings

READY_TIMEOUT_S = 60.0
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass
class Child:
    entry: ServiceEntry
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Supervisor:
    def __init__(self, platform: PlatformSettings, kafka: KafkaSettings, console: Console) -> None:
        self.platform = platform
        self.kafka = kafka
        self.console = console
        self.data_dir = platform.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.broker: EmbeddedBroker | None = None
        self.children: list[Child] = []
        self._stop_requested = False

    def run(
        self,
        *,
        embedded_broker: bool,
        demo: bool = False,
        seed: int | None = None,
        reset: bool = False,
    ) -> int:
        """Start everything, optionally load the demo scenario, and run until Ctrl-C.

        ``reset`` first deletes the SQLite files and logs in the data directory (nothing else:
        a service configured with another database is refused rather than wiped).
        """
        previous = {
            s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            if reset:
                self._reset()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._start(embedded_broker)
            demo_failed = demo and not self._load_demo(seed)
            self._print_urls()
            code = self._watch()
            return 1 if demo_failed and code == 0 else code
        except StartupError as exc:
            self.console.print(f"[red]✗ {exc}[/]")
            return 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop_requested = True

    def _reset(self) -> None:
        files = []
        for entry in SERVICES:
            settings = entry.settings()
            if port_taken(settings.host, settings.resolved_port):
                raise StartupError(
                    f"--reset: {entry.name}'s port {settings.resolved_port} is in use; is "
                    "`ikm up` already running? Stop it (Ctrl-C) before starting fresh"
                )
            if settings.database_url:
                raise StartupError(
                    f"--reset only wipes the embedded SQLite files in {self.data_dir}; "
                    f"{entry.name.upper()}_DATABASE_URL points elsewhere: empty that database "
                    "yourself, or unset the variable"
                )
            database = self.data_dir / f"{settings.service}.db"
            files += [database.with_name(database.name + suffix) for suffix in SQLITE_SUFFIXES]
        files += list(self.log_dir.glob("*.log"))
        removed = [f for f in files if f.exists()]
        for path in removed:
            path.unlink()
        self.console.print(
            f"[green]✓[/] reset: {len(removed)} files removed from {self.data_dir}"
            if removed
            else f"[green]✓[/] reset: {self.data_dir} holds no data yet"
        )

    def _load_demo(self, seed: int | None) -> bool:
        """Run ``ikm demo`` against the children; Ctrl-C or a child's exit interrupts it."""
        from cli.demo import DemoError, run_demo

        urls = {child.entry.name: child.url for child in self.children}

        async def load() -> bool:
            task = asyncio.create_task(run_demo(urls, seed, console=self.console))
            while not task.done():
                stopped = self._stop_requested or any(
                    c.process.poll() is not None for c in self.children
                )
                if stopped:
                    task.cancel()
                await asyncio.wait({task}, timeout=0.2)
            if task.cancelled():
                self.console.print("[yellow]demo interrupted[/]")
                return True
            task.result()
            return True

        try:
            return asyncio.run(load())
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DemoError) else f"unexpected {exc!r}"
            self.console.print(
                f"[red]✗ the demo stopped: {reason}[/]\nThe services keep running. Running "
                "`ikm demo` again continues where it stopped; the services' logs are in "
                f"{self.log_dir}."
            )
            return False

    def _start(self, embedded_broker: bool) -> None:
        if embedded_broker:
            host, _, port = self.kafka.bootstrap_servers.split(",")[0].rpartition(":")
            if port_taken(host, int(port)):
                raise StartupError(
                    f"port {port} is taken: stop what listens there, or set "
                    "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:<free port>"
                )
            self.broker = EmbeddedBroker(host, int(port), log_path=self.log_dir / "broker.log")
            self.broker.start()
            self.console.print(f"[green]✓[/] embedded broker on {self.broker.bootstrap_servers}")
        asyncio.run(ensure_topics(self.kafka, all_topic_names()))
        self.console.print(f"[green]✓[/] {len(all_topic_names())} topics ready")
        for entry in SERVICES:
            settings = entry.settings()
            migrations.upgrade(settings)
            if port_taken(settings.host, settings.resolved_port):
                raise StartupError(
                    f"{entry.name}: port {settings.resolved_port} is taken; set "
                    f"{entry.name.upper()}_PORT to a free port"
                )
            self.children.append(self._spawn(entry, settings.host, settings.resolved_port))
        self.console.print("[green]✓[/] migrations applied")
        self._wait_until_ready()

    def _spawn(self, entry: ServiceEntry, host: str, port: int) -> Child:
        log_path = self.log_dir / f"{entry.name}.log"
        log = log_path.open("ab")
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "IKM_DATA_DIR": str(self.data_dir),
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                entry.app_factory,
                "--host",
                host,
                "--port",
                str(port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "10",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # Ctrl-C reaches the supervisor only; it stops the children in order
            start_new_session=True,
        )
        return Child(entry, f"http://{host}:{port}", log_path, process, log)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.children)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                # before the poll, not after: a stop asked for while the last service turned
                # ready is a plain stop of a running platform, not a failed start
                if self._stop_requested:
                    raise StartupError("interrupted")
                for child in list(pending):
                    if child.process.poll() is not None:
                        raise StartupError(
                            f"{child.entry.name} exited with {child.process.returncode}; "
                            f"its log ({child.log_path}):\n{tail(child.log_path)}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{child.url}/readyz").status_code == 200:
                            pending.remove(child)
                            self.console.print(f"[green]✓[/] {child.entry.name} ready")
                if not pending:
                    break
                if time.monotonic() > deadline:
                    names = ", ".join(c.entry.name for c in pending)
                    logs = "".join(
                        f"\n{c.entry.name} log ({c.log_path}):\n{tail(c.log_path)}" for c in pending
                    )
                    raise StartupError(f"not ready after {READY_TIMEOUT_S:.0f}s: {names}{logs}")
                time.sleep(0.2)

    def _print_urls(self) -> None:
        if self._stop_requested:
            return
        table = Table(title="IKM Platform is running (Ctrl-C stops it)")
        table.add_column("service")
        table.add_column("API docs")
        table.add_column("log")
        for child in self.children:
            table.add_row(child.entry.name, f"{child.url}/docs", str(child.log_path))
        self.console.print(table)
        extra = []
        with httpx.Client(timeout=2.0) as client:
            for child in self.children:
                for path, what in (("/dashboard", "dashboard"), ("/asyncapi", "AsyncAPI")):
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{child.url}{path}").status_code == 200:
                            token = dashboard_fragment() if path == "/dashboard" else ""
                            extra.append(f"{what} ({child.entry.name}): {child.url}{path}{token}")
        for line in extra:
            self.console.print(f"  {line}")
        self.console.print("  health, consumer lag, outbox backlog, dead letters: ikm status")

    def _watch(self) -> int:
        while not self._stop_requested:
            for child in self.children:
                if child.process.poll() is not None:
                    self.console.print(
                        f"[red]✗ {child.entry.name} exited with {child.process.returncode}[/]; "
                        f"its log ({child.log_path}):\n{tail(child.log_path)}"
                    )
                    return 1
            time.sleep(0.5)
        return 0

    def _stop_all(self) -> None:
        if self.children:
            self.console.print("stopping services…")
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.process.wait(20)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.log.close()
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
            self.console.print("embedded broker stopped")


class StartupError(RuntimeError):
    pass
