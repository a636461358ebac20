"""``ikm`` command line."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import Progress, TextColumn
from rich.table import Table

from cli import importer
from cli.catalog import entries
from cli.credentials import bearer_headers
from cli.supervisor import Supervisor
from shared import contracts, dlq, migrations
from shared.auth import ROLES, AuthSettings, issue_token
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
def token(
    role: Annotated[
        list[str],
        typer.Option(
            help="admin, program-officer, partnership-officer, provincial-operator or viewer"
        ),
    ] = ["admin"],  # noqa: B006
    province: Annotated[
        str | None, typer.Option(help="Province code (provincial operators)")
    ] = None,
    subject: Annotated[str, typer.Option(help="User id recorded as the actor")] = "developer",
    hours: Annotated[int, typer.Option(min=1, max=24 * 30)] = 8,
) -> None:
    """Print a development bearer token (HS256, signed with AUTH_JWT_SECRET)."""
    settings = AuthSettings()
    if PlatformSettings().environment == "production":
        raise typer.BadParameter("production tokens come from the identity provider")
    unknown = set(role) - set(ROLES)
    if unknown:
        raise typer.BadParameter(f"unknown role(s) {sorted(unknown)}; known: {', '.join(ROLES)}")
    typer.echo(
        issue_token(
            settings, subject=subject, roles=role, province_code=province, ttl_s=hours * 3600
        )
    )


@app.command()
def topics() -> None:
    """Create every platform topic and its dead-letter topic on KAFKA_BOOTSTRAP_SERVERS."""
    kafka = KafkaSettings()
    asyncio.run(ensure_topics(kafka, all_topic_names()))
    console.print(f"[green]✓[/] {len(all_topic_names())} topics on {kafka.bootstrap_servers}")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="registry, programs, partnerships or reporting")],
) -> None:
    """Run one service in the foreground (what a container runs)."""
    import uvicorn

    (entry,) = entries([service])
    settings = entry.settings()
    # uvicorn re-raises the signal it stopped on once it has drained; a graceful stop exits 0
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        entry.app_factory,
        factory=True,
        host=settings.host,
        port=settings.resolved_port,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


Seed = Annotated[
    int | None, typer.Option(help="Seed of the generated enterprises (default: the scenario's)")
]


@app.command()
def up(
    embedded_broker: Annotated[
        bool, typer.Option(help="Start the embedded broker (off: use KAFKA_BOOTSTRAP_SERVERS)")
    ] = True,
    demo: Annotated[
        bool, typer.Option(help="Once every service is ready, load the demo scenario (ikm demo)")
    ] = False,
    reset: Annotated[
        bool,
        typer.Option(help="Start fresh: delete the SQLite files and logs in IKM_DATA_DIR first"),
    ] = False,
    seed: Seed = None,
) -> None:
    """Start the broker, migrate, and run all four services until Ctrl-C."""
    supervisor = Supervisor(PlatformSettings(), KafkaSettings(), console)
    raise typer.Exit(
        supervisor.run(embedded_broker=embedded_broker, demo=demo, seed=seed, reset=reset)
    )


@app.command()
def demo(
    reset: Annotated[
        bool,
        typer.Option(
            help="Start fresh: with nothing running, delete the data in IKM_DATA_DIR and run "
            "`ikm up --demo` (refused while the services run: stop them first)"
        ),
    ] = False,
    seed: Seed = None,
    host: Annotated[str, typer.Option(help="Host of the services")] = "127.0.0.1",
) -> None:
    """Tell the seed stories to the running platform, through its public HTTP APIs.

    Safe to run again: what is already there is found and left as it is.
    """
    from cli.demo import DemoError, run_demo

    urls = {e.name: f"http://{host}:{e.settings().resolved_port}" for e in entries(None)}
    running = []
    with httpx.Client(timeout=2) as client:
        for name, url in urls.items():
            try:
                client.get(f"{url}/healthz")
                running.append(name)
            except httpx.HTTPError:
                pass
    if reset:
        if running:
            console.print(
                f"[red]✗ --reset deletes the data of the running services ({', '.join(running)})."
                "[/] Stop `ikm up` (Ctrl-C), then run `ikm up --demo --reset`."
            )
            raise typer.Exit(2)
        supervisor = Supervisor(PlatformSettings(), KafkaSettings(), console)
        raise typer.Exit(supervisor.run(embedded_broker=True, demo=True, seed=seed, reset=True))
    missing = [name for name in urls if name not in running]
    if missing:
        console.print(
            f"[red]✗ not answering: {', '.join(f'{n} ({urls[n]})' for n in missing)}.[/] "
            "Start the platform with `ikm up` (or `ikm up --demo`, which loads the demo itself)."
        )
        raise typer.Exit(1)
    try:
        asyncio.run(run_demo(urls, seed, console=console))
    except DemoError as exc:
        console.print(f"[red]✗ the demo stopped: {exc}[/]")
        raise typer.Exit(1) from None


@app.command()
def replay(
    service: Annotated[str, typer.Argument(help="Only reporting keeps rebuildable read models")],
    url: Annotated[str, typer.Option(help="Reporting base URL")] = "http://127.0.0.1:8004",
) -> None:
    """Rebuild a service's read models from the topics (offset 0) while the old ones serve."""
    if service != "reporting":
        raise typer.BadParameter("only 'reporting' has read models to rebuild")
    with httpx.Client(base_url=url, timeout=10, headers=bearer_headers()) as client:
        started = client.post("/api/v1/admin/rebuild")
        if started.status_code == 409:
            console.print("[yellow]a rebuild is already running; following it[/]")
        else:
            started.raise_for_status()
        with console.status("replaying every public topic into the idle generation…"):
            while (status := client.get("/api/v1/admin/rebuild").json())["state"] == "running":
                time.sleep(0.5)
    if status["state"] != "done":
        console.print(f"[red]✗ rebuild {status['state']}: {status.get('error')}[/]")
        raise typer.Exit(1)
    console.print(
        f"[green]✓[/] generation {status['generation']} is live: "
        f"{status['events_applied']} events in {status['seconds']} s"
    )


@app.command()
def status(
    hosts: Annotated[str, typer.Option(help="Host of the services")] = "127.0.0.1",
) -> None:
    """Each service's health, consumer lag and outbox backlog, and the dead letters per topic."""
    table = Table(title="IKM Platform status")
    for column in ("service", "ready", "consumer lag", "outbox backlog", "oldest unpublished"):
        table.add_column(column)
    with httpx.Client(timeout=3) as client:
        for entry in entries(None):
            settings = entry.settings()
            try:
                body = client.get(f"http://{hosts}:{settings.resolved_port}/status").json()
            except httpx.HTTPError as exc:
                table.add_row(entry.name, f"[red]down ({type(exc).__name__})[/]", "", "", "")
                continue
            outbox = body.get("outbox") or {}
            age = outbox.get("oldest_unpublished_age_s")
            table.add_row(
                entry.name,
                "[green]yes[/]" if body["ready"] else f"[red]no[/] {body['checks']}",
                str(body["consumer_lag"]),
                str(outbox.get("backlog", "—")),
                f"{age:.1f} s" if age is not None else "—",
            )
    console.print(table)
    letters = asyncio.run(dlq.read_dead_letters(KafkaSettings(), dlq.dead_letter_topics()))
    dead = {
        topic: sum(1 for d in letters if d.topic == topic) for topic in dlq.dead_letter_topics()
    }
    letters = Table(title="Dead letters")
    letters.add_column("topic")
    letters.add_column("messages")
    for topic, count in dead.items():
        letters.add_row(topic, f"[red]{count}[/]" if count else "0")
    console.print(letters)


contracts_app = typer.Typer(help="The published event contract under contracts/.")
app.add_typer(contracts_app, name="contracts")
CONTRACTS_DIR = Path("contracts")


@contracts_app.command("export")
def contracts_export(directory: Path = CONTRACTS_DIR) -> None:
    """Write the JSON Schemas and the AsyncAPI document generated from the code."""
    written = contracts.export(directory)
    console.print(f"[green]✓[/] {len(written)} files written under {directory}/")


@contracts_app.command("check")
def contracts_check(directory: Path = CONTRACTS_DIR) -> None:
    """Fail on a backward-incompatible change to a published ce_type, or on stale files."""
    breaking, stale = contracts.check(directory)
    for problem in breaking:
        console.print(f"[red]✗ breaking:[/] {problem}")
    for name in stale:
        console.print(f"[yellow]! out of date:[/] {name} (run: ikm contracts export)")
    if breaking or stale:
        raise typer.Exit(1)
    console.print("[green]✓[/] the contract is compatible and up to date")


dlq_app = typer.Typer(help="Dead letters: list, show and send back to their topic.")
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="A topic or its .dlq (default: all)")] = None,
) -> None:
    """Every dead letter with where it came from and why it was rejected."""
    letters = asyncio.run(dlq.read_dead_letters(KafkaSettings(), dlq.dead_letter_topics(topic)))
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("dead-letter topic", "partition", "offset", "type", "ce_id", "reason"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.topic,
            str(letter.partition),
            str(letter.offset),
            letter.event_type.rsplit(".", 2)[-2] if letter.event_type else "?",
            letter.event_id,
            letter.reason,
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(topic: str, partition: int, offset: int) -> None:
    """One dead letter in full: headers and value."""
    letters = asyncio.run(dlq.read_dead_letters(KafkaSettings(), dlq.dead_letter_topics(topic)))
    letter = next((d for d in letters if (d.partition, d.offset) == (partition, offset)), None)
    if letter is None:
        raise typer.BadParameter(f"no dead letter at {topic}[{partition}]@{offset}")
    for name, value in sorted(letter.headers.items()):
        typer.echo(f"{name}: {value}")
    typer.echo("")
    typer.echo(letter.value.decode(errors="replace"))


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Annotated[str, typer.Option(help="The topic (or its .dlq) whose letters to re-drive")],
    event_id: Annotated[
        list[str] | None, typer.Option("--id", help="Only these ce_id (default: all)")
    ] = None,
) -> None:
    """Publish dead letters again to their original topic (after fixing their cause)."""
    settings = KafkaSettings()
    letters = asyncio.run(dlq.read_dead_letters(settings, dlq.dead_letter_topics(topic)))
    if event_id:
        letters = [d for d in letters if d.event_id in set(event_id)]
    sent = asyncio.run(dlq.redrive(settings, letters))
    console.print(f"[green]✓[/] {sent} dead letters sent back to {topic.removesuffix('.dlq')}")


outbox_app = typer.Typer(help="The services' outboxes.")
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("republish")
def outbox_republish(
    service: Annotated[str, typer.Argument(help="registry, programs or partnerships")],
    since: Annotated[datetime, typer.Option(help="Start of the window (ISO 8601, UTC)")],
    until: Annotated[datetime, typer.Option(help="End of the window (exclusive)")],
    host: str = "127.0.0.1",
) -> None:
    """Publish again every event a service wrote in a time window, for a subscriber that lost
    data. Same ce_id: consumers that had them skip them."""
    (entry,) = entries([service])
    port = entry.settings().resolved_port
    response = httpx.post(
        f"http://{host}:{port}/api/v1/admin/outbox/republish",
        params={"since": _utc(since).isoformat(), "until": _utc(until).isoformat()},
        headers=bearer_headers(),
        timeout=60,
    )
    response.raise_for_status()
    console.print(f"[green]✓[/] {response.json()['events']} events of {service} queued again")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


import_app = typer.Typer(help="Bulk imports through the services' APIs.")
app.add_typer(import_app, name="import")


@import_app.command("enterprises")
def import_enterprises(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL")],
    url: Annotated[str, typer.Option(help="Registry base URL")] = "http://127.0.0.1:8001",
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
    report: Annotated[Path | None, typer.Option(help="Write rejected lines to this CSV")] = None,
) -> None:
    """Register every valid row; report bad rows with their line number and reason."""
    total_lines = sum(1 for _ in file.open(encoding="utf-8")) - (file.suffix == ".csv")

    async def run() -> importer.ImportResult:
        with Progress(
            *Progress.get_default_columns(), TextColumn("{task.fields[status]}"), console=console
        ) as progress:
            task = progress.add_task("importing", total=max(total_lines, 1), status="")

            def show(result: importer.ImportResult) -> None:
                progress.update(
                    task,
                    completed=result.total,
                    status=f"{result.accepted} accepted, {len(result.rejected)} rejected",
                )

            async with httpx.AsyncClient(base_url=url) as client:
                return await importer.import_enterprises(
                    client, file, batch_size=batch_size, on_progress=show
                )

    result = asyncio.run(run())
    for rejected in result.rejected[:20]:
        console.print(
            f"[yellow]line {rejected.line}[/] {rejected.nib or ''}: " + "; ".join(rejected.reasons)
        )
    if len(result.rejected) > 20:
        console.print(f"… and {len(result.rejected) - 20} more")
    if report is not None:
        importer.write_report(result, report)
        console.print(f"rejected lines written to {report}")
    console.print(f"[green]{result.accepted} accepted[/], {len(result.rejected)} rejected")
    if result.rejected:
        raise typer.Exit(2)


if __name__ == "__main__":
    app()
