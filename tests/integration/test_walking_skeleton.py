"""One event from registry to reporting on the real broker and real databases."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.registry.app import create_app as create_registry
from services.registry.settings import RegistrySettings
from services.reporting.app import create_app as create_reporting
from services.reporting.settings import ReportingSettings
from shared.broker import EmbeddedBroker, free_port
from shared.envelope import OutgoingMessage, encode
from shared.events.programs import EnrollmentFacts, EnrollmentRequested
from shared.events.topics import ENTERPRISES, all_topic_names
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support.kafka import committed_offset, produce, read_topic, wait_for_records
from tests.support.platform import Databases, eventually, running, service_settings
from tests.support.proxy import CuttableProxy

pytestmark = pytest.mark.integration


def a_nib() -> str:
    return "9" + "".join(random.choices("0123456789", k=12))


def enterprise(nib: str, province: str = "35", kbli: str = "24202") -> dict[str, str]:
    return {"nib": nib, "name": f"CV Uji {nib[-4:]}", "province_code": province, "kbli": kbli}


@dataclass
class Platform:
    registry: httpx.AsyncClient
    reporting: httpx.AsyncClient
    kafka: KafkaSettings
    spans: InMemorySpanExporter

    async def province_count(self, province: str) -> int:
        response = await self.reporting.get("/api/v1/kpis/enterprises")
        response.raise_for_status()
        rows = {r["province_code"]: r["enterprises"] for r in response.json()["rows"]}
        return rows.get(province, 0)


@pytest.fixture
async def platform(
    kafka: KafkaSettings, databases: Databases, tmp_path: object
) -> AsyncIterator[Platform]:
    async with _platform(kafka, databases, tmp_path) as p:
        yield p


class _platform:
    def __init__(self, kafka: KafkaSettings, databases: Databases, tmp_path: object) -> None:
        self.kafka, self.databases, self.tmp_path = kafka, databases, tmp_path

    async def __aenter__(self) -> Platform:
        spans = InMemorySpanExporter()
        processors = (SimpleSpanProcessor(spans),)
        registry = create_registry(
            await service_settings(RegistrySettings, self.kafka, self.databases, self.tmp_path),
            span_processors=processors,
        )
        reporting = create_reporting(
            await service_settings(ReportingSettings, self.kafka, self.databases, self.tmp_path),
            span_processors=processors,
        )
        self._registry = running(registry)
        self._reporting = running(reporting)
        registry_client = await self._registry.__aenter__()
        reporting_client = await self._reporting.__aenter__()
        return Platform(registry_client, reporting_client, self.kafka, spans)

    async def __aexit__(self, *exc: object) -> None:
        await self._reporting.__aexit__(None, None, None)
        await self._registry.__aexit__(None, None, None)


async def test_registered_enterprise_reaches_topic_and_kpi(platform: Platform) -> None:
    nib = a_nib()
    response = await platform.registry.post("/api/v1/enterprises", json=enterprise(nib, "63"))
    assert response.status_code == 201, response.text

    records = await wait_for_records(platform.kafka.bootstrap_servers, ENTERPRISES.name, 1)
    assert len(records) == 1
    record = records[0]
    headers = {k: v.decode() for k, v in record.headers}
    assert record.key == nib.encode()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1"
    assert headers["ce_source"] == "/ikm/registry"
    assert headers["ce_subject"] == nib
    assert headers["content-type"] == "application/json"
    assert len(headers["ce_id"]) == 36
    assert headers["ce_time"].endswith("Z")
    assert headers["ce_dataschema"]
    assert headers["traceparent"].startswith("00-")

    await eventually(lambda: platform.province_count("63"), lambda n: n == 1)
    kpis = (await platform.reporting.get("/api/v1/kpis/enterprises")).json()
    assert kpis["total"]["enterprises"] == 1
    (row,) = kpis["rows"]
    assert (row["province_code"], row["enterprises"], row["share_pct"]) == ("63", 1, 100.0)
    assert kpis["freshness"]["as_of_event_time"] is not None
    assert kpis["freshness"]["lag"] == 0


async def test_same_event_delivered_twice_is_counted_once(platform: Platform) -> None:
    # A funnel counter adds one per event, so only the inbox stands between a redelivery and a
    # double count.
    def requested(enrollment_id: str) -> OutgoingMessage:
        return encode(
            EnrollmentRequested(
                enrollment_id=enrollment_id,
                enrollment=EnrollmentFacts(
                    enrollment_id=enrollment_id,
                    nib=a_nib(),
                    province_code="51",
                    program_code="ISO9001-2024",
                    budget_line_id="line-1",
                    fiscal_year=2024,
                ),
                requested_at=datetime(2024, 3, 1, tzinfo=UTC),
            ),
            source="/ikm/programs",
        )

    first = requested("enr-1")
    # the second enrollment shares the first one's key, so it lands behind the duplicate on
    # the same partition: once it is counted, the duplicate has been seen
    second = replace(requested("enr-2"), key=first.key)
    for message in (first, first, second):
        await produce(
            platform.kafka.bootstrap_servers,
            message.topic,
            message.value,
            key=message.key.encode(),
            headers=message.headers,
        )

    async def requested_count() -> int:
        rows = (await platform.reporting.get("/api/v1/kpis/enrollments")).json()["rows"]
        return rows[0]["requested"] if rows else 0

    await eventually(requested_count, lambda n: n >= 2)
    await asyncio.sleep(0.5)
    assert await requested_count() == 2


async def test_malformed_and_unknown_messages_go_to_dead_letters(platform: Platform) -> None:
    bootstrap = platform.kafka.bootstrap_servers
    key = b"9000000000001"
    good = {
        "nib": "9000000000001",
        "profile": {"name": "CV Masker Palu", "province_code": "72", "kbli": "14120"},
    }
    base_headers = {
        "ce_specversion": "1.0",
        "ce_source": "/ikm/registry",
        "ce_time": "2026-01-05T03:00:00Z",
        "content-type": "application/json",
    }
    registered = "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1"
    good_value = json.dumps({**good, "registered_at": "2026-01-05T03:00:00Z"}).encode()
    messages: list[tuple[bytes, dict[str, str | bytes]]] = [
        (b"{not json", {"ce_id": "bad-json-1", "ce_type": registered}),
        (b'{"x": 1}', {"ce_id": "unknown-1", "ce_type": "id.go.kemenperin.ikm.registry.Nope.v1"}),
        (b'{"nib": "9000000000001"}', {"ce_id": "invalid-1", "ce_type": registered}),
        (
            good_value,
            {
                "ce_id": "latin1-1",
                "ce_type": registered,
                "ce_subject": "CV Masker Palu – Sulawesi".encode("cp1252"),
            },
        ),
        # a good event behind the poison ones, on the same partition: the consumer must go on
        (good_value, {"ce_id": "good-1", "ce_type": registered}),
    ]
    for value, headers in messages:
        await produce(bootstrap, ENTERPRISES.name, value, key=key, headers=base_headers | headers)

    await eventually(lambda: platform.province_count("72"), lambda n: n == 1)
    dead = await wait_for_records(bootstrap, ENTERPRISES.dead_letter, 4)
    reasons = {
        dict(r.headers)["ce_id"].decode(): {k: v.decode(errors="replace") for k, v in r.headers}
        for r in dead
    }
    assert set(reasons) == {"bad-json-1", "unknown-1", "invalid-1", "latin1-1"}
    assert reasons["latin1-1"]["dlq_reason"].startswith("malformed: headers: not UTF-8")
    assert reasons["bad-json-1"]["dlq_reason"].startswith("malformed:")
    assert reasons["unknown-1"]["dlq_reason"].startswith("unknown-type:")
    assert "Nope" in reasons["unknown-1"]["dlq_reason"]
    assert reasons["invalid-1"]["dlq_reason"].startswith("schema-invalid:")
    assert "profile: Field required" in reasons["invalid-1"]["dlq_reason"]
    for headers in reasons.values():
        assert headers["dlq_original_topic"] == ENTERPRISES.name
        assert headers["dlq_consumer_group"] == "ikm-reporting"
        assert int(headers["dlq_original_offset"]) >= 0
        assert headers["dlq_original_partition"].isdigit()
    assert next(r for r in dead if dict(r.headers)["ce_id"] == b"bad-json-1").value == b"{not json"
    # and its offsets are committed past the poison: a restart would not read it again
    partition = int(reasons["bad-json-1"]["dlq_original_partition"])
    last_poison = max(int(h["dlq_original_offset"]) for h in reasons.values())
    await eventually(
        lambda: committed_offset(bootstrap, "ikm-reporting", ENTERPRISES.name, partition),
        lambda offset: offset is not None and offset > last_poison + 1,
    )


async def test_post_succeeds_while_broker_unreachable_and_event_arrives_after(
    databases: Databases, tmp_path: object
) -> None:
    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port) as broker:
        proxy = CuttableProxy(proxy_port, "127.0.0.1", broker.port)
        await proxy.start()
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{proxy_port}")
        await ensure_topics(kafka, all_topic_names())
        try:
            async with _platform(kafka, databases, tmp_path) as platform:
                proxy.cut()
                nib = a_nib()
                response = await platform.registry.post(
                    "/api/v1/enterprises", json=enterprise(nib, "16")
                )
                assert response.status_code == 201, response.text
                await asyncio.sleep(3)
                assert await platform.province_count("16") == 0

                proxy.restore()
                await eventually(
                    lambda: platform.province_count("16"), lambda n: n == 1, timeout_s=60
                )
                records = await read_topic(kafka.bootstrap_servers, ENTERPRISES.name)
                assert [r.key for r in records] == [nib.encode()]
                await asyncio.sleep(1)
                assert await platform.province_count("16") == 1
        finally:
            await proxy.stop()


async def test_one_trace_spans_request_publish_and_consumer(platform: Platform) -> None:
    nib = a_nib()
    await platform.registry.post("/api/v1/enterprises", json=enterprise(nib, "35"))
    await eventually(lambda: platform.province_count("35"), lambda n: n == 1)

    spans = platform.spans.get_finished_spans()
    server = next(
        s
        for s in spans
        if s.kind.name == "SERVER" and s.attributes.get("http.route") == "/api/v1/enterprises"
    )
    trace_id = server.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    services = {s.resource.attributes["service.name"] for s in in_trace}
    assert services == {"ikm-registry", "ikm-reporting"}
    process = next(s for s in in_trace if s.name == f"process {ENTERPRISES.name}")
    assert process.resource.attributes["service.name"] == "ikm-reporting"
    assert process.attributes["messaging.destination.name"] == ENTERPRISES.name
    assert any(s.kind.name == "PRODUCER" for s in in_trace), [s.name for s in in_trace]
    assert any(
        s.name.startswith("INSERT") or "INSERT" in (s.attributes.get("db.statement") or "")
        for s in in_trace
    )
    # Consuming starts no trace of its own: an operator finds no orphan batch traces.
    orphans = [s.name for s in spans if s.kind.name == "CONSUMER" and s.parent is None]
    assert not orphans, orphans


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("nib", "12345", "13 digits"),
        ("nib", "12345678901ab", "13 digits"),
        ("province_code", "99", "not a Kemendagri province"),
        ("kbli", "47111", "not manufacturing"),
        ("kbli", "1011", "5 digits"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    platform: Platform, field: str, value: str, rule: str
) -> None:
    nib = a_nib()
    body = {**enterprise(nib), field: value}
    response = await platform.registry.post("/api/v1/enterprises", json=body)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", field]
    assert rule in problem["msg"]

    assert (await platform.registry.get(f"/api/v1/enterprises/{body['nib']}")).status_code == 404
    # a good registration afterwards is the only event on the topic
    good = a_nib()
    assert (
        await platform.registry.post("/api/v1/enterprises", json=enterprise(good))
    ).status_code == 201
    records = await wait_for_records(platform.kafka.bootstrap_servers, ENTERPRISES.name, 1)
    await asyncio.sleep(0.5)
    records = await read_topic(platform.kafka.bootstrap_servers, ENTERPRISES.name, idle_s=0.5)
    assert [r.key for r in records] == [good.encode()]


async def test_duplicate_nib_is_a_conflict(platform: Platform) -> None:
    nib = a_nib()
    assert (
        await platform.registry.post("/api/v1/enterprises", json=enterprise(nib))
    ).status_code == 201
    again = await platform.registry.post("/api/v1/enterprises", json=enterprise(nib))
    assert again.status_code == 409
    assert again.json()["detail"][0]["loc"] == ["body", "nib"]


async def test_readiness_reports_database_and_broker(platform: Platform) -> None:
    for client in (platform.registry, platform.reporting):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert (await client.get("/healthz")).json()["status"] == "ok"
    await platform.registry.post("/api/v1/enterprises", json=enterprise(a_nib()))
    await eventually(lambda: platform.province_count("35"), lambda n: n == 1)
    registry_status = (await platform.registry.get("/status")).json()
    assert registry_status["ready"] is True
    assert registry_status["outbox"]["backlog"] == 0
    reporting_status = (await platform.reporting.get("/status")).json()
    assert reporting_status["consumer_lag"] == 0
    assert reporting_status["consumer_lag_by_partition"]
