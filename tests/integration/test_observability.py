"""What operators rely on: metrics that move with traffic, logs that carry the trace id."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.events.topics import ENTERPRISES
from shared.logs import log_handler
from shared.settings import KafkaSettings
from tests.integration.test_walking_skeleton import Platform, _platform, a_nib, enterprise
from tests.support.kafka import produce
from tests.support.platform import Databases, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def platform(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[Platform]:
    async with _platform(kafka, databases, tmp_path) as p:
        yield p


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_follow_known_traffic(platform: Platform) -> None:
    for _ in range(2):
        await platform.registry.post("/api/v1/enterprises", json=enterprise(a_nib(), "35"))
    await platform.registry.post("/api/v1/enterprises", json=enterprise("123", "35"))
    await produce(
        platform.kafka.bootstrap_servers,
        ENTERPRISES.name,
        b"{broken",
        key=b"x",
        headers={
            "ce_specversion": "1.0",
            "ce_id": "m-1",
            "ce_source": "/test",
            "ce_type": "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1",
        },
    )
    await eventually(lambda: platform.province_count("35"), lambda n: n == 2)

    async def reporting_metrics() -> str:
        return (await platform.reporting.get("/metrics")).text

    text = await eventually(
        reporting_metrics,
        lambda t: metric(t, "ikm_dead_letters_total", topic=ENTERPRISES.name) == 1,
    )
    registered = "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1"
    assert (
        metric(text, "ikm_messages_consumed_total", event_type=registered, outcome="applied") == 2
    )
    assert metric(text, "ikm_messages_consumed_total", outcome="dead_lettered") == 1
    assert metric(text, "ikm_dead_letters_total", reason="malformed") == 1
    assert metric(text, "ikm_handler_duration_seconds_count", event_type=registered) == 2
    assert metric(text, "ikm_consumer_lag_messages", topic=ENTERPRISES.name) == 0
    assert metric(text, "ikm_ready") == 1

    registry = (await platform.registry.get("/metrics")).text
    assert metric(registry, "ikm_messages_published_total", event_type=registered) == 2
    assert (
        metric(
            registry,
            "ikm_http_requests_total",
            method="POST",
            route="/api/v1/enterprises",
            status="201",
        )
        == 2
    )
    assert (
        metric(
            registry,
            "ikm_http_requests_total",
            method="POST",
            route="/api/v1/enterprises",
            status="422",
        )
        == 1
    )
    assert metric(registry, "ikm_outbox_backlog") == 0
    assert 'service="ikm-registry"' in registry


async def test_a_log_line_carries_the_trace_id_of_its_request(platform: Platform) -> None:
    stream = io.StringIO()
    handler = log_handler(stream, "ikm-registry")
    logger = logging.getLogger("services.registry")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        nib = a_nib()
        response = await platform.registry.post("/api/v1/enterprises", json=enterprise(nib))
        assert response.status_code == 201
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (line,) = [entry for entry in lines if entry.get("nib") == nib]
    server = next(
        s
        for s in platform.spans.get_finished_spans()
        if s.kind.name == "SERVER" and s.attributes.get("http.route") == "/api/v1/enterprises"
    )
    assert line["trace_id"] == format(server.context.trace_id, "032x")
    assert line["service"] == "ikm-registry"
    assert line["level"] == "INFO"
    assert line["event_type"].endswith("EnterpriseRegistered.v1")
