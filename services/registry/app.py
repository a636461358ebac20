"""Composition root of the registry: settings → runtime (database, broker, outbox) → HTTP app."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.registry import api, consumers, handlers
from services.registry.adapters.tables import TABLES
from services.registry.settings import RegistrySettings
from shared.auth import AccessPolicy, Rule
from shared.events.topics import ENROLLMENTS
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Registry"
DESCRIPTION = (
    "The national register of small and medium industries (IKM): enterprises, certificates and "
    "sentra. Publishes `ikm.registry.enterprises` and `ikm.registry.sentra`; records the "
    "certificates assistance programs produce (`EnrollmentCompleted`)."
)


# Enterprise writes: admins anywhere, provincial operators in their own province. Certificates
# and sentra are the ministry's (admin) records; everything else needs no more than a token.
POLICY = AccessPolicy(
    Rule("POST", r"/api/v1/enterprises(/bulk)?", "enterprises:write"),
    Rule("PATCH", r"/api/v1/enterprises/\{nib\}", "enterprises:write"),
    Rule("POST", r"/api/v1/enterprises/\{nib\}/close", "enterprises:write"),
)


def create_app(
    settings: RegistrySettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or RegistrySettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    runtime.consume(consumers.routes, ENROLLMENTS)

    async def expire_certificates() -> None:
        async with runtime.unit_of_work() as uow:
            await handlers.expire_certificates(uow, date.today())

    runtime.every(settings.certificate_expiry_interval_s, "certificate-expiry", expire_certificates)
    return create_http_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], policy=POLICY
    )
