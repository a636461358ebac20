"""Reporting read models against a known event sequence, redeliveries, and a full rebuild."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.envelope import encode
from shared.events import partnerships as pe
from shared.events import programs as pg
from shared.events import registry as rg
from shared.events.base import Event
from shared.events.vocabulary import (
    BudgetMechanism,
    CertificateScheme,
    CountingUnit,
    ProgramType,
    SizeClass,
)
from shared.settings import KafkaSettings
from tests.support.kafka import produce
from tests.support.platform import Databases, eventually, running, service_settings

pytestmark = pytest.mark.integration
T0 = datetime(2025, 1, 6, tzinfo=UTC)
KPIS = (
    "enterprises",
    "certificates",
    "budget",
    "enrollments",
    "postponements",
    "partnerships",
    "sentra",
)


@pytest.fixture
async def reporting(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = await service_settings(ReportingSettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as client:
        yield client


async def publish(kafka: KafkaSettings, *events: Event) -> None:
    """Publish as the owning service would; the same fact always gets the same ``ce_id``, as
    it does when a service re-publishes from its outbox."""
    for event in events:
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, event.ce_type() + event.model_dump_json()))
        message = encode(event, source=f"/ikm/{event.topic.owner}", event_id=event_id, time=T0)
        await produce(
            kafka.bootstrap_servers,
            message.topic,
            message.value,
            key=message.key.encode(),
            headers=message.headers,
        )


def profile(
    province: str,
    regency: str,
    workforce: int,
    size: SizeClass = SizeClass.SMALL,
    kbli: str = "24202",
) -> rg.EnterpriseProfile:
    return rg.EnterpriseProfile(
        name="IKM",
        province_code=province,
        regency_code=regency,
        kbli=kbli,
        workforce=workforce,
        investment_idr=100_000_000,
        size_class=size,
    )


def certificate(cid: str, scheme: CertificateScheme) -> rg.CertificateFacts:
    return rg.CertificateFacts(
        certificate_id=cid, scheme=scheme, number=cid, issuer="LSPro", issued_on=date(2024, 1, 1)
    )


LINE_9001 = pg.BudgetLineFacts(
    budget_line_id="L-9001-2025",
    program_code="ISO9001",
    fiscal_year=2025,
    mechanism=BudgetMechanism.PUSAT,
)
LINE_14001 = pg.BudgetLineFacts(
    budget_line_id="L-14001-2025",
    program_code="ISO14001",
    fiscal_year=2025,
    mechanism=BudgetMechanism.PUSAT,
)


def enrollment(eid: str, nib: str, province: str, line: pg.BudgetLineFacts) -> pg.EnrollmentFacts:
    return pg.EnrollmentFacts(
        enrollment_id=eid,
        nib=nib,
        province_code=province,
        program_code=line.program_code,
        budget_line_id=line.budget_line_id,
        fiscal_year=line.fiscal_year,
    )


async def tell_the_story(kafka: KafkaSettings) -> None:
    a, b, c = "3500000000001", "3500000000002", "7200000000003"
    await publish(
        kafka,
        rg.EnterpriseRegistered(nib=a, profile=profile("35", "3517", 10), registered_at=T0),
        rg.EnterpriseRegistered(
            nib=b, profile=profile("35", "3578", 30, SizeClass.MEDIUM), registered_at=T0
        ),
        rg.EnterpriseRegistered(
            nib=c, profile=profile("72", "7271", 8, kbli="14120"), registered_at=T0
        ),
        rg.EnterpriseUpdated(
            nib=a,
            version=3,
            changed_fields=["workforce"],
            profile=profile("35", "3517", 12),
            updated_at=T0,
        ),
        # an older version arriving late (a republished event) must not undo the newer one
        rg.EnterpriseUpdated(
            nib=a,
            version=2,
            changed_fields=["workforce"],
            profile=profile("35", "3517", 99),
            updated_at=T0,
        ),
        rg.EnterpriseReclassified(
            nib=b,
            version=2,
            province_code="35",
            previous_size_class=SizeClass.MEDIUM,
            size_class=SizeClass.LARGE,
            size_regime="permenperin-64-2016",
            reclassified_at=T0,
        ),
        rg.EnterpriseClosed(
            nib=c, version=2, province_code="72", closed_on=date(2025, 1, 5), reason="closed"
        ),
        rg.EnterpriseCertified(
            nib=a,
            version=4,
            province_code="35",
            certificate=certificate("C1", CertificateScheme.ISO_9001),
            certified_at=T0,
        ),
        rg.EnterpriseCertified(
            nib=b,
            version=3,
            province_code="35",
            certificate=certificate("C2", CertificateScheme.ISO_9001),
            certified_at=T0,
        ),
        rg.CertificateExpired(
            nib=b,
            version=4,
            province_code="35",
            certificate_id="C2",
            scheme=CertificateScheme.ISO_9001,
            expired_on=date(2025, 1, 1),
        ),
        pg.ProgramOpened(
            program_code="ISO14001",
            name="ISO 14001 assistance",
            program_type=ProgramType.CERTIFICATION_ASSISTANCE,
            certificate_scheme=CertificateScheme.ISO_14001,
            directorate="ILMATE",
            eligibility=pg.EligibilityRules(),
            benefit=pg.Benefit(),
            opened_on=date(2025, 1, 1),
        ),
        pg.BudgetAllocated(
            budget_line_id=LINE_9001.budget_line_id,
            line=LINE_9001,
            pagu_idr=1_000_000_000,
            quota_enterprises=20,
            allocated_at=T0,
        ),
        pg.BudgetAllocated(
            budget_line_id=LINE_14001.budget_line_id,
            line=LINE_14001,
            pagu_idr=500_000_000,
            quota_enterprises=10,
            allocated_at=T0,
        ),
        pg.BudgetRefocused(
            budget_line_id=LINE_9001.budget_line_id,
            line=LINE_9001,
            target=LINE_14001,
            amount_idr=200_000_000,
            pagu_after_idr=800_000_000,
            target_pagu_after_idr=700_000_000,
            reason="priorities",
            refocused_at=T0,
        ),
    )
    for eid, nib, province in (("E1", a, "35"), ("E2", b, "35"), ("E3", c, "72")):
        facts = enrollment(eid, nib, province, LINE_14001)
        await publish(
            kafka,
            pg.EnrollmentRequested(enrollment_id=eid, enrollment=facts, requested_at=T0),
            pg.EnrollmentApproved(
                enrollment_id=eid, enrollment=facts, reserved_idr=50_000_000, approved_at=T0
            ),
        )
    done = enrollment("E4", a, "35", LINE_9001)
    await publish(
        kafka,
        pg.EnrollmentRequested(enrollment_id="E4", enrollment=done, requested_at=T0),
        pg.EnrollmentApproved(
            enrollment_id="E4", enrollment=done, reserved_idr=40_000_000, approved_at=T0
        ),
        pg.EnrollmentCompleted(
            enrollment_id="E4", enrollment=done, realised_idr=40_000_000, completed_at=T0
        ),
        pg.BudgetRealised(
            budget_line_id=LINE_9001.budget_line_id,
            line=LINE_9001,
            amount_idr=40_000_000,
            realised_total_idr=40_000_000,
            enrollment_id="E4",
            realised_at=T0,
        ),
        pg.BudgetPostponed(
            budget_line_id=LINE_14001.budget_line_id,
            line=LINE_14001,
            reason="anggaran ditunda",
            pagu_idr=700_000_000,
            reserved_idr=150_000_000,
            postponed_at=T0,
        ),
        *(
            pg.EnrollmentSuspended(
                enrollment_id=eid,
                enrollment=enrollment(eid, nib, p, LINE_14001),
                reason="budget postponed",
                suspended_at=T0,
            )
            for eid, nib, p in (("E1", a, "35"), ("E3", c, "72"))
        ),
        pe.PartnerRegistered(
            partner_nib="9900000000001",
            name="PT Astra Komponen Indonesia",
            sector="automotive",
            tier=1,
            requirements=pe.SupplierRequirements(),
            registered_at=T0,
        ),
        pe.PartnershipTargetSet(
            target_id="2018-agreements",
            fiscal_year=2018,
            unit=CountingUnit.AGREEMENTS,
            target=3,
            set_at=T0,
        ),
        pe.PartnershipTargetSet(
            target_id="2018-ikm", fiscal_year=2018, unit=CountingUnit.IKM, target=10, set_at=T0
        ),
        *(
            pe.PartnershipSigned(
                partnership_id=f"P{i}",
                partner_nib="9900000000001",
                ikm_nibs=nibs,
                signed_on=date(2018, 11, 27),
                fiscal_year=2018,
            )
            for i, nibs in enumerate([[a, b], [b], [c]])
        ),
        rg.SentraDesignated(
            sentra_id="S1",
            name="Sentra IKM Slag Aluminium Kendalsari",
            province_code="35",
            regency_code="3517",
            commodity="aluminium",
            designated_on=date(2016, 1, 1),
        ),
        *(
            rg.SentraMemberJoined(
                sentra_id="S1",
                nib=f"35000000001{i:02d}",
                joined_on=date(2016, 1, 1),
                member_count=i + 1,
            )
            for i in range(25)
        ),
        rg.SentraOutcomeReported(
            sentra_id="S1",
            period="before",
            members=25,
            revenue_idr=rg.RangeFigure(min=2e8, max=3e8, unit="IDR/year"),
            production=rg.RangeFigure(min=50, max=70, unit="tonnes/year"),
            reported_on=date(2016, 1, 1),
        ),
    )


async def kpis(client: httpx.AsyncClient) -> dict[str, Any]:
    answers = {}
    for name in KPIS:
        body = (await client.get(f"/api/v1/kpis/{name}")).json()
        answers[name] = {"rows": body["rows"], "total": body["total"]}
    return answers


async def settled(client: httpx.AsyncClient) -> dict[str, Any]:
    def complete(answers: dict[str, Any]) -> bool:
        return bool(answers["sentra"]["rows"]) and bool(answers["sentra"]["rows"][0]["outcomes"])

    await eventually(lambda: kpis(client), complete, timeout_s=30)
    await asyncio.sleep(1)
    return await kpis(client)


async def test_read_models_from_a_known_sequence_and_rebuild(
    reporting: httpx.AsyncClient, kafka: KafkaSettings
) -> None:
    await tell_the_story(kafka)
    answers = await settled(reporting)

    by_province = {r["province_code"]: r for r in answers["enterprises"]["rows"]}
    assert set(by_province) == {"35"}  # the Sulteng enterprise closed
    assert by_province["35"]["enterprises"] == 2
    assert by_province["35"]["workforce"] == 12 + 30  # the late version 2 (99) was ignored
    assert by_province["35"]["share_pct"] == 100.0
    sizes = (await reporting.get("/api/v1/kpis/enterprises?group_by=size_class")).json()["rows"]
    assert {r["size_class"]: r["enterprises"] for r in sizes} == {"small": 1, "large": 1}

    certificates = {
        (r["scheme"], r["status"]): r["certificates"] for r in answers["certificates"]["rows"]
    }
    assert certificates == {("ISO_9001", "active"): 1, ("ISO_9001", "expired"): 1}

    lines = {r["budget_line_id"]: r for r in answers["budget"]["rows"]}
    assert lines["L-9001-2025"]["pagu_idr"] == 800_000_000
    assert lines["L-9001-2025"]["refocused_out_idr"] == 200_000_000
    assert lines["L-9001-2025"]["realised_idr"] == 40_000_000
    assert lines["L-9001-2025"]["absorption_pct"] == 5.0
    assert lines["L-14001-2025"]["pagu_idr"] == 700_000_000
    assert lines["L-14001-2025"]["refocused_in_idr"] == 200_000_000
    assert lines["L-14001-2025"]["reserved_idr"] == 150_000_000
    assert lines["L-14001-2025"]["postponed_idr"] == 700_000_000
    assert answers["budget"]["total"]["pagu_idr"] == 1_500_000_000  # refocusing keeps totals

    funnel = {r["program_code"]: r for r in answers["enrollments"]["rows"]}
    assert funnel["ISO14001"]["requested"] == 3
    assert funnel["ISO14001"]["approved"] == 3
    assert funnel["ISO14001"]["suspended"] == 2
    assert funnel["ISO9001"]["completed"] == 1

    (impact,) = answers["postponements"]["rows"]
    assert impact["enterprises_suspended"] == 2
    assert impact["provinces"] == ["35", "72"]
    assert impact["reserved_suspended_idr"] == 100_000_000

    attainment = {r["unit"]: r for r in answers["partnerships"]["total"]["attainment"]}
    assert attainment["agreements"] == {
        "fiscal_year": 2018,
        "unit": "agreements",
        "achieved": 3,
        "target": 3,
        "attainment_pct": 100.0,
    }
    assert (attainment["ikm"]["achieved"], attainment["ikm"]["target"]) == (3, 10)
    assert attainment["partner_firms"]["achieved"] == 1

    (sentra,) = answers["sentra"]["rows"]
    assert sentra["members"] == 25
    assert sentra["outcomes"][0]["revenue_min_idr"] == 2e8

    csv = await reporting.get("/api/v1/kpis/budget", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert "L-14001-2025" in csv.text

    # Delivering the whole story again changes nothing
    await tell_the_story(kafka)
    await asyncio.sleep(3)
    assert await kpis(reporting) == answers

    # Rebuild from offset 0 into the idle generation, then switch: the same figures
    before = (await reporting.get("/api/v1/kpis/enterprises")).json()["freshness"]["generation"]
    assert (await reporting.post("/api/v1/admin/rebuild")).status_code == 202
    status = await eventually(
        lambda: reporting.get("/api/v1/admin/rebuild"), lambda r: r.json()["state"] != "running"
    )
    assert status.json()["state"] == "done", status.json()
    after = (await reporting.get("/api/v1/kpis/enterprises")).json()["freshness"]
    assert after["generation"] != before
    assert await kpis(reporting) == answers

    # and the live consumer keeps applying new events to the rebuilt generation
    await publish(
        kafka,
        rg.EnterpriseRegistered(
            nib="5100000000009", profile=profile("51", "5106", 5), registered_at=T0
        ),
    )
    rows = await eventually(
        lambda: reporting.get("/api/v1/kpis/enterprises"),
        lambda r: any(row["province_code"] == "51" for row in r.json()["rows"]),
    )
    assert rows.json()["total"]["enterprises"] == 3
