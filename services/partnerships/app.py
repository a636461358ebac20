"""Composition root of partnerships: settings → runtime (database, broker, outbox) → HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.partnerships import api
from services.partnerships.adapters.tables import TABLES
from services.partnerships.settings import PartnershipsSettings
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Partnerships"
DESCRIPTION = (
    "Link and Match partnerships between IKM and large industry, supplier readiness and targets."
)


def create_app(
    settings: PartnershipsSettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or PartnershipsSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    return create_http_app(runtime, title=TITLE, description=DESCRIPTION, routers=[api.router])
