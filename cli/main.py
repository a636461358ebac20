"""``ikm`` command line."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from cli.catalog import entries
from cli.supervisor import Supervisor
from shared import migrations
from shared.broker import EmbeddedBroker
from shared.events.topics import all_topic_names
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, PlatformSettings

app = typer.Typer(help="IKM Platform: run and operate the services.", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all)")] = None,
) -> None:
    """Apply each service's database migrations (Alembic)."""
    for entry in entries(services):
        settings = entry.settings()
        migrations.upgrade(settings)
        console.print(f"[green]✓[/] {entry.name}: migrated ({settings.resolved_database_url})")


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (0 = a free one)")] = 19092,
) -> None:
    """Run the embedded Kafka-protocol broker (memory only) with every platform topic created."""
    embedded = EmbeddedBroker(port=port)
    embedded.start()
    kafka = KafkaSettings(bootstrap_servers=embedded.bootstrap_servers)
    asyncio.run(ensure_topics(kafka, all_topic_names()))
    console.print(f"[green]✓[/] embedded broker on {embedded.bootstrap_servers} (Ctrl-C stops it)")
    signal.signal(signal.SIGTERM, lambda *_: embedded.stop())
    try:
        embedded.wait()
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


@app.command()
def up(
    embedded_broker: Annotated[
        bool, typer.Option(help="Start the embedded broker (off: use KAFKA_BOOTSTRAP_SERVERS)")
    ] = True,
) -> None:
    """Start the broker, migrate, and run all four services until Ctrl-C."""
    supervisor = Supervisor(PlatformSettings(), KafkaSettings(), console)
    raise typer.Exit(supervisor.run(embedded_broker=embedded_broker))


if __name__ == "__main__":
    app()
