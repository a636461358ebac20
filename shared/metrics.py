"""Prometheus metrics of one service, on a registry of its own (several services may share a
process in tests, and each must report only its own figures)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServiceMetrics", "observe_many"]


def observe_many(histogram: Histogram, seconds: float, count: int) -> None:
    """``count`` observations of the same ``seconds``, as ``count`` calls of ``observe`` make.

    The events of one batch handler call share its time; observing each of a batch's 500 one
    by one cost about 5 % of a consumer's CPU in an import. prometheus_client has no call for
    this, so its histogram's own values are added to; ``test_metrics`` checks the exposition
    is the same as that of ``observe`` called ``count`` times.
    """
    histogram._raise_if_not_observable()
    histogram._sum.inc(seconds * count)
    for bucket, bound in zip(histogram._buckets, histogram._upper_bounds, strict=True):
        if seconds <= bound:
            bucket.inc(count)
            break


def route_template(request: Request) -> str:
    """The matched route as a template (``/api/v1/enterprises/{nib}``), not the raw path, so
    metrics have one series per route. Included routers report their path without the prefix,
    which is whatever the request path has before the route's segments."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    segments = template.strip("/").count("/") + 1 if template.strip("/") else 0
    actual = request.url.path.rstrip("/").split("/")
    prefix = "/".join(actual[: len(actual) - segments]) if segments else request.url.path
    return (prefix.rstrip("/") + template) if template != "/" else prefix or "/"


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"service": f"ikm-{service}"}
        r = self.registry
        self.messages_consumed = Counter(
            "ikm_messages_consumed",
            "Events a consumer handled, by type and outcome (applied, duplicate, ignored, "
            "dead_lettered)",
            ["consumer", "event_type", "outcome"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "ikm_handler_duration_seconds",
            "Time to apply one event, by consumer and type",
            ["consumer", "event_type"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.batch_failures = Counter(
            "ikm_consumer_batch_failures",
            "Batches rewound after a transient failure (database or broker unreachable)",
            ["consumer"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "ikm_consumer_lag_messages",
            "Messages not yet applied, per partition (from the consumer's highwater mark)",
            ["consumer", "topic", "partition"],
            registry=r,
        )
        self.dead_letters = Counter(
            "ikm_dead_letters",
            "Messages sent to a dead-letter topic, by source topic and reason kind",
            ["topic", "reason"],
            registry=r,
        )
        self.messages_published = Counter(
            "ikm_messages_published",
            "Events the outbox relay published, by type",
            ["event_type"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "ikm_outbox_backlog", "Outbox rows not yet published", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "ikm_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            registry=r,
        )
        self.relay_failures = Counter(
            "ikm_outbox_relay_failures", "Relay rounds that failed and will retry", registry=r
        )
        self.http_requests = Counter(
            "ikm_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "ikm_http_request_duration_seconds",
            "HTTP latency by route",
            ["method", "route"],
            registry=r,
        )
        self.db_pool_checked_out = Gauge(
            "ikm_db_pool_connections_in_use", "Database connections checked out", registry=r
        )
        self.ready = Gauge("ikm_ready", "1 when database and broker are reachable", registry=r)
        self.info = Gauge(
            "ikm_service_info", "The service this process runs", ["service"], registry=r
        )
        self.info.labels(**labels).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def http_middleware(self, app: ASGIApp) -> ASGIApp:
        """Counts and times each request by route template. Plain ASGI, not Starlette's
        ``BaseHTTPMiddleware``, which costs a task and a stream per request."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_with_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_with_status)
            finally:
                path = route_template(Request(scope))
                if path not in ("/metrics", "/healthz"):
                    self.http_requests.labels(scope["method"], path, str(status)).inc()
                    self.http_seconds.labels(scope["method"], path).observe(
                        time.perf_counter() - started
                    )

        return measured
