"""The HTTP face every service shares: app factory, health and readiness, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DBAPIError

from shared import contracts
from shared.auth import ANONYMOUS, AccessPolicy, principal_of
from shared.errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    is_transient,
)
from shared.metrics import PROMETHEUS_CONTENT_TYPE, route_template
from shared.runtime import ServiceRuntime
from shared.telemetry import instrument_fastapi


def _problem(status: int, exc: DomainError) -> JSONResponse:
    kind = {403: "forbidden", 404: "not_found", 409: "conflict"}.get(status, "rule_violation")
    problems = exc.problems if isinstance(exc, InvalidInput) else [exc]
    return JSONResponse(
        status_code=status,
        content={
            "detail": [
                {"loc": ["body", p.field] if p.field else ["body"], "msg": p.message, "type": kind}
                for p in problems
            ]
        },
    )


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/readyz", summary="Readiness: database and broker reachable")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "not ready", "checks": checks},
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        await runtime.refresh_gauges()
        return Response(runtime.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    @router.get("/status", summary="Operational figures: readiness, consumer lag, outbox backlog")
    async def status() -> dict[str, object]:
        checks = await runtime.readiness()
        lag = {
            f"{topic}[{partition}]": messages
            for consumer in runtime.consumers
            for (topic, partition), messages in consumer.lag().items()
        }
        outbox: dict[str, object] = {}
        if runtime.relay is not None:
            backlog, oldest = await runtime.relay.backlog()
            outbox = {"backlog": backlog, "oldest_unpublished_age_s": oldest}
        return {
            "service": runtime.name,
            "ready": all(v == "ok" for v in checks.values()),
            "checks": checks,
            "consumer_lag": sum(lag.values()),
            "consumer_lag_by_partition": lag,
            "outbox": outbox,
        }

    return router


def contract_router() -> APIRouter:
    """The published event contract, served by every service."""
    router = APIRouter(tags=["contract"])

    @router.get("/asyncapi.json", summary="AsyncAPI 3 document of every public topic")
    async def asyncapi_json() -> dict[str, object]:
        return contracts.asyncapi()

    @router.get("/asyncapi", response_class=HTMLResponse, include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(contracts.html_page())

    @router.get("/contracts/schemas/{ce_type}.json", summary="JSON Schema of one event type")
    async def event_schema(ce_type: str) -> dict[str, object]:
        schema = contracts.schemas().get(ce_type)
        if schema is None:
            raise NotFound(f"no event type {ce_type}", field="ce_type")
        return schema

    return router


def guard(runtime: ServiceRuntime, policy: AccessPolicy) -> Callable[[Request], Awaitable[None]]:
    """Authenticate every API request and check the role's permission for writes (401/403)."""

    async def check(request: Request) -> None:
        if not runtime.settings.auth.required:
            request.state.principal = ANONYMOUS
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        principal = runtime.authenticator.verify(token.strip())
        request.state.principal = principal
        permission = policy.permission_for(request.method, route_template(request))
        if permission is None or principal.may(permission):
            return
        if f"{permission}:own-province" in principal.permissions:
            return  # the service narrows it to the token's province
        raise HTTPException(
            403,
            f"missing permission {permission!r}: roles {sorted(principal.roles)} do not grant it",
        )

    return check


def outbox_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/admin/outbox", tags=["admin"])

    @router.post("/republish", summary="Publish again the events written in a time window")
    async def republish(since: datetime, until: datetime) -> dict[str, object]:
        if runtime.relay is None:
            raise NotFound(f"{runtime.name} publishes no events")
        if until <= since:
            raise DomainError("until must be after since", field="until")
        events = await runtime.relay.republish(since, until)
        return {"service": runtime.name, "since": since, "until": until, "events": events}

    return router


def create_http_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    pages: Sequence[APIRouter] = (),
    policy: AccessPolicy = AccessPolicy(),
) -> FastAPI:
    """The service's HTTP app: ``routers`` are served under ``/api/v1`` behind the access
    ``policy`` (a write no rule names is for admins only), ``pages`` at the root."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.add_middleware(runtime.metrics.http_middleware)
    app.include_router(health_router(runtime))
    app.include_router(contract_router())
    if runtime.relay is not None:
        routers = [*routers, outbox_router(runtime)]
    for router in routers:
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(guard(runtime, policy))])
    for page in pages:
        app.include_router(page)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, NotFound):
            return _problem(404, exc)
        if isinstance(exc, Forbidden):
            return _problem(403, exc)
        if isinstance(exc, Conflict):
            return _problem(409, exc)
        return _problem(422, exc)

    async def unavailable(_request: Request, exc: Exception) -> Response:
        # The database or the broker is down: nothing was written, the caller may retry.
        if not is_transient(exc):
            raise exc
        return JSONResponse(
            status_code=503,
            content={
                "detail": [
                    {
                        "loc": [],
                        "msg": "a backing service is unreachable; nothing was changed, retry later",
                        "type": "unavailable",
                    }
                ]
            },
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Busy)
    async def busy(_request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": [{"loc": [], "msg": exc.message, "type": "busy"}]},
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    for infrastructure_error in (DBAPIError, OSError, KafkaError):
        app.add_exception_handler(infrastructure_error, unavailable)

    instrument_fastapi(app, runtime.provider)
    return app


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread,
# a hop per request for what is a dictionary lookup.


async def runtime_of(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the runtime of the service serving this request."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def actor_of(request: Request) -> str:
    """Who is acting, recorded in every event a write causes: the token's subject (or, with
    authentication switched off in development, the ``X-Actor`` header)."""
    principal = principal_of(request)
    if principal is ANONYMOUS:
        return request.headers.get("x-actor", "anonymous")[:100]
    return principal.subject


async def current_actor(request: Request) -> str:
    return actor_of(request)


async def if_match_version(request: Request) -> int | None:
    return expected_version(request)


def province_scope(request: Request, permission: str) -> str | None:
    """The only province the caller may act in for ``permission``, or None for any province."""
    principal = principal_of(request)
    return None if principal.may(permission) else principal.province_code or "--"


def expected_version(request: Request) -> int | None:
    """The version an update is based on (``If-Match: "3"``), for optimistic concurrency."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise DomainError('If-Match must carry the version number, e.g. "3"', field="If-Match")
    return int(value)
