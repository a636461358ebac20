"""Composition root of programs: settings → runtime (database, broker, outbox, the replica's
consumer, the postponement-deadline schedule) → HTTP app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.programs import api, consumers
from services.programs.adapters.tables import TABLES
from services.programs.clock import ministry_today
from services.programs.handlers import deadlines
from services.programs.settings import ProgramsSettings
from shared.auth import AccessPolicy, Rule
from shared.events.topics import ENTERPRISES
from shared.http import create_http_app
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime

TITLE = "IKM Programs"
DESCRIPTION = (
    "Assistance programs, their budget lines per fiscal year, mechanism and province, and "
    "enrollments. Publishes `ikm.programs.programs`, `ikm.programs.budget-lines` and "
    "`ikm.programs.enrollments`; keeps a replica of `ikm.registry.enterprises` for eligibility."
)


# Program officers run programs, budget lines and enrollments; provincial operators may only
# enroll the enterprises of their province (checked by the handler against the replica).
POLICY = AccessPolicy(
    Rule("POST", r"/api/v1/(programs|budget-lines)(/.*)?", "programs:write"),
    Rule("POST", r"/api/v1/enrollments", "enrollments:write"),
    Rule("POST", r"/api/v1/enrollments/.+", "enrollments:manage"),
)


def create_app(
    settings: ProgramsSettings | None = None,
    span_processors: tuple[SpanProcessor, ...] = (),
    today: Callable[[], date] = ministry_today,
) -> FastAPI:
    """``today`` is the calendar the deadline schedule reads (tests move it forward)."""
    settings = settings or ProgramsSettings()
    configure_logging(settings)
    runtime = ServiceRuntime(settings, TABLES, span_processors=span_processors)
    runtime.consume(consumers.routes, ENTERPRISES)

    async def expire_postponements() -> None:
        await deadlines.expire_postponements(runtime.unit_of_work, today())

    runtime.every(
        settings.postponement_check_interval_s, "postponement-deadlines", expire_postponements
    )
    return create_http_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=api.routers, policy=POLICY
    )
