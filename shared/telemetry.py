"""OpenTelemetry per service: a tracer provider named ``ikm-<service>`` and its instrumentation.

Each service gets its own provider (not the global one), so several services can run in one
process, as they do in the integration tests, and still report under their own names.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import TelemetrySettings


def tracer_provider(
    service: str,
    settings: TelemetrySettings,
    extra_processors: tuple[SpanProcessor, ...] = (),
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": f"ikm-{service}"}))
    if settings.traces_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    elif settings.traces_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return provider


def instrument_fastapi(app: FastAPI, provider: TracerProvider) -> None:
    # No spans for each ASGI send/receive: three spans per request where one says it all.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="healthz,readyz,metrics",
        exclude_spans=["send", "receive"],
    )


@dataclass(frozen=True)
class _SqlTracing:
    tracer: trace.Tracer
    attributes: dict[str, str | int]  # the same for every statement of the engine
    database: str | None


_SQL_TRACING: weakref.WeakKeyDictionary[Engine, _SqlTracing] = weakref.WeakKeyDictionary()


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = NoOpMeterProvider().get_meter("sqlalchemy").create_up_down_counter("db.connections")
    EngineTracer(tracer, engine.sync_engine, usage)
    url = engine.sync_engine.url
    attributes: dict[str, str | int] = {"db.system": engine.sync_engine.dialect.name}
    if url.database:
        attributes["db.name"] = url.database
    if url.host:
        attributes["net.peer.name"] = url.host
    if url.port:
        attributes["net.peer.port"] = url.port
    _SQL_TRACING[engine.sync_engine] = _SqlTracing(tracer, attributes, url.database)


@contextlib.contextmanager
def sql_span(engine: Engine, statement: str) -> Iterator[trace.Span]:
    """A CLIENT span for a statement sent past SQLAlchemy's cursor (``shared.db``'s driver
    path), named and attributed as the SQLAlchemy instrumentation names its own spans."""
    tracing = _SQL_TRACING.get(engine)
    if tracing is None:
        yield trace.INVALID_SPAN
        return
    operation = statement.split(None, 1)[0]
    span = tracing.tracer.start_span(
        f"{operation} {tracing.database}" if tracing.database else operation,
        kind=trace.SpanKind.CLIENT,
        attributes={**tracing.attributes, "db.statement": statement},
    )
    try:
        yield span
    except Exception as error:
        span.set_status(trace.StatusCode.ERROR, str(error))
        raise
    finally:
        span.end()


def current_trace_headers() -> dict[str, str]:
    """W3C ``traceparent``/``tracestate`` of the active span, to store beside an outgoing event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(headers))


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
