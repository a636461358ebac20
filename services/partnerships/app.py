"""Composition root of partnerships: settings → runtime (database, broker, outbox) → consumers of
the registry's enterprises and programs' enrollments → HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.partnerships import api, consumers
from services.partnerships.adapters.tables import TABLES
from services.partnerships.settings import PartnershipsSettings
from shared.auth import AccessPolicy, Rule
from shared.events.topics import ENROLLMENTS, ENTERPRISES
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Partnerships"
DESCRIPTION = (
    "Link and Match partnerships between IKM and large industry, supplier readiness and targets. "
    "Publishes `ikm.partnerships.*`; consumes `ikm.registry.enterprises` (certificates) and "
    "`ikm.programs.enrollments` (suspensions)."
)


# Partnership officers (and admins) run Link and Match: partners, partnerships and targets.
POLICY = AccessPolicy(
    Rule("POST", r"/api/v1/(partners|partnerships)(/.*)?", "partnerships:write"),
    Rule("PUT", r"/api/v1/targets/.*", "partnerships:write"),
)


def create_app(
    settings: PartnershipsSettings | None = None, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    settings = settings or PartnershipsSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    runtime.consume(consumers.routes, ENTERPRISES, ENROLLMENTS)
    return create_http_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], policy=POLICY
    )
