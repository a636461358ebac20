"""Composition root of reporting: settings → runtime → consumers of every public topic → HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from opentelemetry.sdk.trace import SpanProcessor

from services.reporting import api, consumers, dashboard
from services.reporting.adapters import read_models
from services.reporting.adapters.tables import TABLES
from services.reporting.rebuild import RebuildStatus, rebuild
from services.reporting.settings import ReportingSettings
from shared.events.topics import ALL_TOPICS
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Reporting"
DESCRIPTION = (
    "The ministry's KPIs as read models built from every public topic: IKM by region, sector "
    "and size; certificates; budgets (pagu, postponed, refocused, realised); the enrollment "
    "funnel and postponement impact; Link and Match attainment; sentra outcomes."
)


def create_app(
    settings: ReportingSettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    topics = [t for t in ALL_TOPICS if t.public]
    consumer = runtime.consume(consumers.routes, *topics, inbox=read_models.inbox_table)
    status = RebuildStatus()
    tasks: set[asyncio.Task[None]] = set()
    admin = APIRouter(prefix="/admin", tags=["admin"])

    @admin.post("/rebuild", status_code=202)
    async def start_rebuild() -> dict[str, Any]:
        """Rebuild every read model from the topics (offset 0) while the current ones serve."""
        if status.state == "running":
            raise HTTPException(409, "a rebuild is already running")
        task = asyncio.create_task(rebuild(runtime, consumer, topics, status))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(0)
        return vars(status)

    @admin.get("/rebuild")
    async def rebuild_status() -> dict[str, Any]:
        return vars(status)

    return create_http_app(
        runtime,
        title=TITLE,
        description=DESCRIPTION,
        routers=[api.router, api.references, admin],
        pages=[dashboard.router],
    )
