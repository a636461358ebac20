"""The operators choose how much is traced: OpenTelemetry's own sampler variables apply."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from shared.settings import TelemetrySettings
from shared.telemetry import current_trace_headers, current_trace_id, tracer_provider


def test_every_request_is_recorded_unless_the_operators_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    tracer = tracer_provider("registry", TelemetrySettings()).get_tracer("test")
    with tracer.start_as_current_span("POST /api/v1/enterprises") as span:
        assert span.is_recording()
        assert _sampled(current_trace_headers()["traceparent"])


def test_a_trace_left_out_by_the_sampler_still_has_its_id_in_logs_and_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with ``OTEL_TRACES_SAMPLER_ARG``: the
    spans of the traces left out cost next to nothing, and their ids still reach the logs and
    the events' ``traceparent`` (flagged not sampled, so the services after follow)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    tracer = tracer_provider("registry", TelemetrySettings()).get_tracer("test")
    with tracer.start_as_current_span("POST /api/v1/enterprises") as span:
        assert not span.is_recording()
        trace_id = current_trace_id()
        traceparent = current_trace_headers()["traceparent"]
    assert trace_id is not None and trace_id != format(0, "032x")
    assert traceparent.startswith(f"00-{trace_id}-{span.get_span_context().span_id:016x}-")
    assert not _sampled(traceparent)
    assert trace.get_current_span() is trace.INVALID_SPAN


def _sampled(traceparent: str) -> bool:
    return bool(int(traceparent.rsplit("-", 1)[1], 16) & 0x01)  # W3C trace-flags "sampled"
