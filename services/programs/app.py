"""Composition root of programs: settings → runtime (database, broker, outbox) → HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.programs import api
from services.programs.adapters.tables import TABLES
from services.programs.settings import ProgramsSettings
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Programs"
DESCRIPTION = "Assistance programs, their budget lines per fiscal year and enrollments."


def create_app(
    settings: ProgramsSettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or ProgramsSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    return create_http_app(runtime, title=TITLE, description=DESCRIPTION, routers=[api.router])
