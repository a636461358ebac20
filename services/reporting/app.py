"""Composition root of reporting: settings → runtime → consumers of every public topic → HTTP."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.reporting import api, consumers
from services.reporting.adapters.tables import TABLES
from services.reporting.settings import ReportingSettings
from shared.events.topics import ALL_TOPICS
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Reporting"
DESCRIPTION = "The ministry's KPIs as read models rebuilt from the platform's public topics."


def create_app(
    settings: ReportingSettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or ReportingSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    runtime.consume(consumers.routes, *(t for t in ALL_TOPICS if t.public))
    return create_http_app(runtime, title=TITLE, description=DESCRIPTION, routers=[api.router])
