"""The flows of DESIGN.md end to end: all four services on the real broker and databases.

Flow 1 (certification assistance) is also one trace across every service and Kafka hop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.partnerships.app import create_app as partnerships_app
from services.partnerships.settings import PartnershipsSettings
from services.programs.app import create_app as programs_app
from services.programs.settings import ProgramsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from services.reporting.app import create_app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.events.topics import ALL_TOPICS
from shared.settings import KafkaSettings
from tests.support.kafka import read_topic
from tests.support.platform import Databases, eventually, running, service_settings

pytestmark = pytest.mark.integration
TODAY = date.today()
PARTNER = "9900000000042"
PII = {"nik": "3517010101800009", "phone": "+6281299990000", "email": "pemilik@ikm.example"}


@dataclass
class Platform:
    registry: httpx.AsyncClient
    programs: httpx.AsyncClient
    partnerships: httpx.AsyncClient
    reporting: httpx.AsyncClient
    spans: InMemorySpanExporter
    kafka: KafkaSettings

    async def ok(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
        response = await client.request(method, path, **kw)
        assert response.status_code < 300, (path, response.text)
        return response.json()


@pytest.fixture
async def platform(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[Platform]:
    spans = InMemorySpanExporter()
    processors = (SimpleSpanProcessor(spans),)
    apps = []
    for create, settings_class in (
        (registry_app, RegistrySettings),
        (programs_app, ProgramsSettings),
        (partnerships_app, PartnershipsSettings),
        (reporting_app, ReportingSettings),
    ):
        settings = await service_settings(settings_class, kafka, databases, tmp_path)
        apps.append(create(settings, span_processors=processors))
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        yield Platform(*clients, spans=spans, kafka=kafka)


async def register(
    platform: Platform, nib: str, province: str = "35", regency: str = "3517"
) -> None:
    await platform.ok(
        platform.registry,
        "POST",
        "/api/v1/enterprises",
        json={
            "nib": nib,
            "name": f"CV Komponen {nib[-3:]}",
            "province_code": province,
            "regency_code": regency,
            "kbli": "29300",
            "workforce": 15,
            "investment_idr": 600_000_000,
            "owner": PII,
        },
    )
    # Each consumer applies the registration in its own time: wait for both that act on it.
    await eventually(
        lambda: platform.programs.get(f"/api/v1/enterprise-replica/{nib}"),
        lambda r: r.status_code == 200,
    )
    await eventually(
        lambda: platform.partnerships.get(f"/api/v1/enterprises/{nib}/readiness"),
        lambda r: r.status_code == 200,
    )


async def open_line(
    platform: Platform, code: str, scheme: str, year: int, pagu: int, quota: int
) -> str:
    await platform.ok(
        platform.programs,
        "POST",
        "/api/v1/programs",
        json={
            "code": code,
            "name": f"Pendampingan sertifikasi {scheme}",
            "program_type": "certification_assistance",
            "certificate_scheme": scheme,
            "directorate": "Direktorat IKM Logam, Mesin, Elektronika dan Alat Angkut",
            "eligibility": {"size_classes": ["small", "medium"], "kbli_prefixes": ["29", "30"]},
            "benefit": {"amount_per_enterprise_idr": 25_000_000},
            "opened_on": str(TODAY - timedelta(days=30)),
        },
    )
    line = await platform.ok(
        platform.programs,
        "POST",
        "/api/v1/budget-lines",
        json={
            "program_code": code,
            "fiscal_year": year,
            "mechanism": "pusat",
            "pagu_idr": pagu,
            "quota_enterprises": quota,
        },
    )
    return str(line["id"])


async def readiness(platform: Platform, nib: str) -> dict[str, Any]:
    answer = await platform.partnerships.get(f"/api/v1/enterprises/{nib}/readiness")
    return answer.json() if answer.status_code == 200 else {}


def state_for(answer: dict[str, Any]) -> str | None:
    for entry in answer.get("partners", answer.get("readiness", [])):
        if entry.get("partner_nib") == PARTNER:
            return str(entry.get("state") or entry.get("status"))
    return None


def trace_of(spans: list[ReadableSpan], route: str) -> list[ReadableSpan]:
    server = next(
        s
        for s in spans
        if s.kind.name == "SERVER" and str(s.attributes.get("http.route", "")).endswith(route)
    )
    return [s for s in spans if s.context.trace_id == server.context.trace_id]


async def test_certification_assistance_is_one_trace_across_all_services(
    platform: Platform,
) -> None:
    nib = "2900000000101"
    await register(platform, nib)
    await platform.ok(
        platform.partnerships,
        "POST",
        "/api/v1/partners",
        json={
            "partner_nib": PARTNER,
            "name": "PT Astra Komponen Indonesia",
            "sector": "automotive",
            "tier": 1,
            "requirements": {"required_certificates": ["ISO_9001"]},
        },
    )
    await platform.ok(
        platform.partnerships,
        "POST",
        "/api/v1/partnerships",
        json={
            "partner_nib": PARTNER,
            "ikm_nibs": [nib],
            "component": "brake pads",
            "proposed_on": str(TODAY - timedelta(days=5)),
        },
    )
    line = await open_line(platform, "ISO9001-2024", "ISO_9001", TODAY.year, 500_000_000, 10)
    enrollment = await platform.ok(
        platform.programs,
        "POST",
        "/api/v1/enrollments",
        json={"nib": nib, "budget_line_id": line, "approve": True},
    )
    assert enrollment["status"] == "approved", enrollment
    eid = enrollment["id"]
    await platform.ok(platform.programs, "POST", f"/api/v1/enrollments/{eid}/start")
    platform.spans.clear()
    await platform.ok(
        platform.programs,
        "POST",
        f"/api/v1/enrollments/{eid}/complete",
        json={
            "certificate": {
                "scheme": "ISO_9001",
                "number": "QMS/2024/0117",
                "issuer": "BBLM",
                "issued_on": str(TODAY),
                "expires_on": str(TODAY + timedelta(days=1095)),
            },
            "realised_idr": 25_000_000,
        },
    )

    # registry records the certificate, partnerships qualifies the supplier, reporting counts
    await eventually(
        lambda: readiness(platform, nib), lambda r: state_for(r) == "qualified", timeout_s=30
    )
    certified = await eventually(
        lambda: platform.reporting.get("/api/v1/kpis/certificates"),
        lambda r: any(row["scheme"] == "ISO_9001" for row in r.json()["rows"]),
    )
    assert certified.json()["rows"][0]["certificates"] == 1
    funnel = (await platform.reporting.get("/api/v1/kpis/enrollments")).json()["rows"]
    assert funnel[0]["completed"] == 1

    async def whole_trace() -> list[ReadableSpan]:
        return trace_of(list(platform.spans.get_finished_spans()), "/complete")

    def reached_reporting(trace: list[ReadableSpan]) -> bool:
        return any(
            s.name == "process ikm.partnerships.supplier-readiness"
            and s.resource.attributes["service.name"] == "ikm-reporting"
            for s in trace
        )

    trace = await eventually(whole_trace, reached_reporting)
    by_service: dict[str, set[str]] = {}
    for span in trace:
        by_service.setdefault(str(span.resource.attributes["service.name"]), set()).add(span.name)
    assert set(by_service) == {"ikm-programs", "ikm-registry", "ikm-partnerships", "ikm-reporting"}
    # each Kafka hop: the writer's outbox span, then the reader's process span
    assert "outbox ikm.programs.enrollments" in by_service["ikm-programs"]
    assert "process ikm.programs.enrollments" in by_service["ikm-registry"]
    assert "outbox ikm.registry.enterprises" in by_service["ikm-registry"]
    assert "process ikm.registry.enterprises" in by_service["ikm-partnerships"]
    assert "outbox ikm.partnerships.supplier-readiness" in by_service["ikm-partnerships"]
    assert {
        "process ikm.programs.enrollments",
        "process ikm.registry.enterprises",
        "process ikm.partnerships.supplier-readiness",
    } <= by_service["ikm-reporting"]
    # the tree is connected: every span's parent is in the trace, except the request's root
    ids = {s.context.span_id for s in trace}
    roots = [s for s in trace if s.parent is None or s.parent.span_id not in ids]
    assert len(roots) == 1 and roots[0].kind.name == "SERVER", [r.name for r in roots]
    process = next(
        s
        for s in trace
        if s.name == "process ikm.programs.enrollments"
        and s.resource.attributes["service.name"] == "ikm-registry"
    )
    assert process.attributes["messaging.message.id"]
    assert process.attributes["messaging.destination.name"] == "ikm.programs.enrollments"
    assert "messaging.kafka.offset" in process.attributes

    # no personal data in any event of the flow, in payloads or headers
    for topic in ALL_TOPICS:
        for record in await read_topic(platform.kafka.bootstrap_servers, topic.name, idle_s=0.3):
            blob = (record.value or b"") + b"".join(v for _, v in record.headers or ())
            assert not any(secret.encode() in blob for secret in PII.values()), topic.name


async def test_budget_postponement_suspends_blocks_and_resumes(platform: Platform) -> None:
    nibs = ["3000000000201", "3000000000202"]
    await register(platform, nibs[0])
    await register(platform, nibs[1], "72", "7271")
    await platform.ok(
        platform.partnerships,
        "POST",
        "/api/v1/partners",
        json={
            "partner_nib": PARTNER,
            "name": "PT Astra Komponen Indonesia",
            "sector": "automotive",
            "tier": 1,
            "requirements": {"required_certificates": ["ISO_14001"]},
        },
    )
    await platform.ok(
        platform.partnerships,
        "POST",
        "/api/v1/partnerships",
        json={
            "partner_nib": PARTNER,
            "ikm_nibs": nibs,
            "component": "mufflers",
            "proposed_on": str(TODAY - timedelta(days=5)),
        },
    )
    line = await open_line(platform, "ISO14001-2025", "ISO_14001", TODAY.year, 300_000_000, 5)
    for nib in nibs:
        enrolled = await platform.ok(
            platform.programs,
            "POST",
            "/api/v1/enrollments",
            json={"nib": nib, "budget_line_id": line, "approve": True},
        )
        assert enrolled["status"] == "approved"
    await platform.ok(
        platform.programs,
        "POST",
        f"/api/v1/budget-lines/{line}/postpone",
        json={"reason": "keadaan ekonomi: anggaran sertifikasi ditunda"},
    )

    # enrolling on a postponed line is refused with the reason
    third = "3000000000203"
    await register(platform, third)
    refused = await platform.programs.post(
        "/api/v1/enrollments", json={"nib": third, "budget_line_id": line}
    )
    assert refused.status_code == 409
    assert "postponed" in refused.text

    impact = await eventually(
        lambda: platform.reporting.get("/api/v1/kpis/postponements"),
        lambda r: bool(r.json()["rows"]) and r.json()["rows"][0]["enterprises_suspended"] == 2,
    )
    row = impact.json()["rows"][0]
    assert row["provinces"] == ["35", "72"]
    assert row["reserved_suspended_idr"] == 50_000_000
    for nib in nibs:
        await eventually(lambda n=nib: readiness(platform, n), lambda r: state_for(r) == "blocked")

    await platform.ok(
        platform.programs,
        "POST",
        f"/api/v1/budget-lines/{line}/resume",
        json={"reason": "anggaran dibuka kembali"},
    )
    for nib in nibs:
        await eventually(lambda n=nib: readiness(platform, n), lambda r: state_for(r) == "missing")
    await eventually(
        lambda: platform.reporting.get("/api/v1/kpis/postponements"),
        lambda r: r.json()["rows"][0]["enterprises_suspended"] == 0,
    )
    suspended = [
        json.loads(r.value)["enrollment_id"]
        for r in await read_topic(
            platform.kafka.bootstrap_servers, "ikm.programs.enrollments", idle_s=0.3
        )
        if dict(r.headers)["ce_type"].endswith(b"EnrollmentSuspended.v1")
    ]
    assert len(suspended) == 2
