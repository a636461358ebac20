"""The benchmark's stand-in collector counts what the OpenTelemetry SDK's OTLP/HTTP exporter
sends it, per service, as a collector would receive it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from bench.trace_sink import TraceSink
from shared.broker import free_port


def export(endpoint: str, service: str, spans: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("test")
    for n in range(spans):
        with tracer.start_as_current_span(f"span {n}", attributes={"n": n}):
            pass
    provider.shutdown()  # sends what the processor still holds, as a stopping service does


async def test_it_counts_the_spans_and_bytes_each_service_exported(tmp_path: Path) -> None:
    async with TraceSink(free_port(), tmp_path / "sink.log") as sink:
        export(sink.endpoint, "ikm-registry", 1200)  # more than one export of 512
        export(sink.endpoint, "ikm-reporting", 3)
        received = await sink.received()

    assert received["spans"] == {"ikm-registry": 1200, "ikm-reporting": 3}
    assert received["exports"] >= 4
    assert received["bytes"]["ikm-registry"] > 1200 * 20 > received["bytes"]["ikm-reporting"]


async def test_it_refuses_an_export_that_is_not_otlp_protobuf(tmp_path: Path) -> None:
    async with (
        TraceSink(free_port(), tmp_path / "sink.log") as sink,
        aiohttp.ClientSession() as client,
        client.post(f"{sink.endpoint}/v1/traces", json={"resourceSpans": []}) as answer,
    ):
        assert answer.status == 415


async def test_a_sink_that_cannot_listen_says_so(tmp_path: Path) -> None:
    async with TraceSink(free_port(), tmp_path / "first.log") as first:
        with pytest.raises(RuntimeError, match="the trace sink exited"):
            async with TraceSink(first.port, tmp_path / "second.log"):
                pass
