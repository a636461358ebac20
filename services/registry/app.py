"""Composition root of the registry: settings → runtime (database, broker, outbox) → HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.registry import api
from services.registry.adapters.tables import TABLES
from services.registry.settings import RegistrySettings
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Registry"
DESCRIPTION = (
    "The national register of small and medium industries (IKM): enterprises, certificates and "
    "sentra. Publishes `ikm.registry.enterprises` and `ikm.registry.sentra`."
)


def create_app(
    settings: RegistrySettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or RegistrySettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    return create_http_app(runtime, title=TITLE, description=DESCRIPTION, routers=[api.router])
