"""Programs on the real broker and real databases: the certification flow up to
``EnrollmentCompleted``, the postponement saga, deadlines, refocusing, concurrent approvals,
eligibility from the registry replica, and the errors a caller sees."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.programs.app import create_app as create_programs
from services.programs.clock import ministry_today
from services.programs.handlers import deadlines
from services.programs.settings import ProgramsSettings
from services.registry.app import create_app as create_registry
from services.registry.settings import RegistrySettings
from shared.envelope import encode
from shared.events.base import Event
from shared.events.registry import (
    CertificateFacts,
    CertificateRevoked,
    EnterpriseCertified,
    EnterpriseClosed,
    EnterpriseProfile,
    EnterpriseRegistered,
    EnterpriseUpdated,
)
from shared.events.topics import BUDGET_LINES, ENROLLMENTS, PROGRAMS, Topic
from shared.events.vocabulary import CertificateScheme, SizeClass
from shared.settings import KafkaSettings
from tests.support.kafka import read_topic
from tests.support.platform import Databases, eventually, running, service_settings

pytestmark = pytest.mark.integration

YEAR = 2025
AMOUNT = 25_000_000
ACTOR = "officer-1"
MANUFACTURING = [str(division) for division in range(10, 34)]  # KBLI 2020 category C


def a_nib() -> str:
    return "9" + "".join(random.choices("0123456789", k=12))


@dataclass(frozen=True)
class Published:
    name: str  # the event type, e.g. "EnrollmentCompleted"
    key: str
    data: dict[str, Any]
    headers: dict[str, str]


async def published(kafka: KafkaSettings, topic: Topic) -> list[Published]:
    records = await read_topic(kafka.bootstrap_servers, topic.name, idle_s=0.3)
    result = []
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        name = headers["ce_type"].rsplit(".", 2)[-2]
        result.append(Published(name, record.key.decode(), json.loads(record.value), headers))
    return result


async def published_for(
    kafka: KafkaSettings, topic: Topic, key: str, count: int
) -> list[Published]:
    """The events of one aggregate (one key, so in order), once ``count`` have arrived."""
    events = await eventually(
        lambda: published(kafka, topic),
        lambda events: sum(e.key == key for e in events) >= count,
    )
    return [e for e in events if e.key == key]


async def publish_as_registry(kafka: KafkaSettings, *events: Event) -> None:
    """Registry facts, encoded exactly as the registry's outbox encodes them."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            message = encode(event, source="/ikm/registry")
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()


def registered(
    nib: str,
    *,
    province: str = "35",
    kbli: str = "24202",
    size: SizeClass | None = SizeClass.SMALL,
    version: int = 1,
) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        nib=nib,
        version=version,
        profile=EnterpriseProfile(
            name=f"CV Uji {nib[-4:]}", province_code=province, kbli=kbli, size_class=size
        ),
        registered_at=datetime.now(UTC),
    )


def certificate(scheme: CertificateScheme = CertificateScheme.ISO_9001) -> dict[str, Any]:
    return {
        "scheme": scheme.value,
        "number": f"CERT-{random.randint(1000, 9999)}",
        "issuer": "PT Sucofindo (Persero)",
        "issued_on": f"{YEAR}-09-15",
        "expires_on": f"{YEAR + 3}-09-14",
    }


@dataclass
class Programs:
    """The programs service in-process, with the calls a program officer makes."""

    client: httpx.AsyncClient
    kafka: KafkaSettings

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        return await self.client.request(
            method, f"/api/v1{path}", json=body, headers={"X-Actor": ACTOR, **headers}
        )

    @property
    def actor(self) -> str:
        """Who the service records as acting: the subject of the bearer token the client
        sends when authentication is on, else the ``X-Actor`` header."""
        _, _, token = self.client.headers.get("authorization", "").partition(" ")
        if not token:
            return ACTOR
        claims = token.split(".")[1]
        subject: str = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))[
            "sub"
        ]
        return subject

    async def ok(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.call("POST", path, body)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, path: str) -> Any:
        response = await self.call("GET", path)
        assert response.status_code == 200, response.text
        return response.json()

    async def open_program(
        self, code: str, scheme: CertificateScheme | None = CertificateScheme.ISO_9001, **rules: Any
    ) -> dict[str, Any]:
        return await self.ok(
            "/programs",
            {
                "code": code,
                "name": f"Program {code}",
                "program_type": "certification_assistance" if scheme else "bimtek",
                "certificate_scheme": scheme.value if scheme else None,
                "directorate": "Direktorat IKM Logam, Mesin, Elektronika dan Alat Angkut",
                "eligibility": {"kbli_prefixes": MANUFACTURING, **rules},
                "benefit": {"amount_per_enterprise_idr": AMOUNT},
            },
        )

    async def allocate(self, program_code: str, **fields: Any) -> dict[str, Any]:
        body = {
            "program_code": program_code,
            "fiscal_year": YEAR,
            "mechanism": "pusat",
            "pagu_idr": 10 * AMOUNT,
            "quota_enterprises": 10,
            **fields,
        }
        return await self.ok("/budget-lines", body)

    async def enroll(self, nib: str, line_id: str, *, approve: bool = False) -> dict[str, Any]:
        return await self.ok(
            "/enrollments", {"nib": nib, "budget_line_id": line_id, "approve": approve}
        )

    async def line(self, line_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/budget-lines/{line_id}")
        return result

    async def statuses(self, line_id: str) -> dict[str, str]:
        page = await self.get(f"/enrollments?budget_line_id={line_id}")
        return {e["id"]: e["status"] for e in page["items"]}

    async def replica_has(self, *nibs: str) -> None:
        async def known() -> list[bool]:
            answers = [await self.call("GET", f"/enterprise-replica/{nib}") for nib in nibs]
            return [a.status_code == 200 and a.json()["registered"] for a in answers]

        await eventually(known, all)


@pytest.fixture
async def settings(
    kafka: KafkaSettings, databases: Databases, tmp_path: object
) -> ProgramsSettings:
    return await service_settings(ProgramsSettings, kafka, databases, tmp_path)


@pytest.fixture
async def programs(settings: ProgramsSettings, kafka: KafkaSettings) -> AsyncIterator[Programs]:
    async with running(create_programs(settings)) as client:
        yield Programs(client, kafka)


async def test_certification_flow_ends_in_enrollment_completed_for_the_registry(
    kafka: KafkaSettings, databases: Databases, tmp_path: object
) -> None:
    registry_app = create_registry(
        await service_settings(RegistrySettings, kafka, databases, tmp_path)
    )
    programs_app = create_programs(
        await service_settings(ProgramsSettings, kafka, databases, tmp_path)
    )
    async with running(registry_app) as registry, running(programs_app) as client:
        p = Programs(client, kafka)
        nib = a_nib()
        response = await registry.post(
            "/api/v1/enterprises",
            json={"nib": nib, "name": "CV Presisi Logam", "province_code": "35", "kbli": "25920"},
        )
        assert response.status_code == 201, response.text

        program = await p.open_program(f"ISO9001-{YEAR}", excluded_certificates=["ISO_9001"])
        assert program["status"] == "open"
        line = await p.allocate(program["code"], pagu_idr=250_000_000, quota_enterprises=10)

        # The replica hears of the enterprise from the registry's topic.
        verdict = await eventually(
            lambda: p.get(f"/budget-lines/{line['id']}/eligibility/{nib}"),
            lambda v: v["eligible"],
        )
        assert verdict["reasons"] == []

        enrollment = await p.enroll(nib, line["id"], approve=True)
        assert (enrollment["status"], enrollment["reserved_idr"]) == ("approved", AMOUNT)
        assert enrollment["province_code"] == "35"
        await p.ok(f"/enrollments/{enrollment['id']}/start")
        outcome = certificate()
        completed = await p.ok(
            f"/enrollments/{enrollment['id']}/complete",
            {"certificate": outcome, "realised_idr": 22_500_000},
        )
        assert completed["status"] == "completed"
        assert completed["certificate"]["number"] == outcome["number"]

        after = await p.line(line["id"])
        assert (after["reserved_idr"], after["realised_idr"]) == (0, 22_500_000)
        assert (after["quota_used"], after["available_idr"]) == (1, 227_500_000)

        events = await published_for(kafka, ENROLLMENTS, enrollment["id"], 4)
        assert [e.name for e in events] == [
            "EnrollmentRequested",
            "EnrollmentApproved",
            "EnrollmentAssistanceStarted",
            "EnrollmentCompleted",
        ]
        done = events[-1]
        assert done.headers["ce_specversion"] == "1.0"
        assert done.headers["ce_type"] == "id.go.kemenperin.ikm.programs.EnrollmentCompleted.v1"
        assert done.headers["ce_source"] == "/ikm/programs"
        assert done.headers["ce_subject"] == enrollment["id"]
        assert done.headers["content-type"] == "application/json"
        assert done.headers["ce_dataschema"]
        assert done.headers["traceparent"].startswith("00-")
        assert done.data["enrollment"]["nib"] == nib
        assert done.data["enrollment"]["program_code"] == f"ISO9001-{YEAR}"
        assert done.data["enrollment"]["certificate_scheme"] == "ISO_9001"
        assert done.data["certificate"] == outcome | {"tkdn_pct": None}
        assert done.data["realised_idr"] == 22_500_000
        assert done.data["actor"] == p.actor

        budget = await published_for(kafka, BUDGET_LINES, line["id"], 2)
        assert [e.name for e in budget] == ["BudgetAllocated", "BudgetRealised"]
        assert budget[1].data["amount_idr"] == 22_500_000
        assert budget[1].data["enrollment_id"] == enrollment["id"]


async def test_ineligible_enterprises_are_rejected_with_every_reason(programs: Programs) -> None:
    p = programs
    misfit, closed, fine = a_nib(), a_nib(), a_nib()
    await publish_as_registry(
        p.kafka,
        registered(misfit, province="51", kbli="13121", size=SizeClass.MEDIUM),
        registered(closed),
        EnterpriseClosed(
            nib=closed, version=2, province_code="35", closed_on=date(YEAR, 1, 31), reason="tutup"
        ),
        registered(fine),
    )
    await p.replica_has(misfit, closed, fine)
    program = await p.open_program(
        f"ISO9001-{YEAR}",
        size_classes=["micro", "small"],
        kbli_prefixes=["24", "25"],
        province_codes=["35"],
    )
    line = await p.allocate(program["code"])

    refused = await p.enroll(misfit, line["id"], approve=True)
    assert refused["status"] == "ineligible"
    assert refused["reserved_idr"] == 0
    assert refused["reasons"] == [
        "size class medium not in [micro, small]",
        "KBLI 13121 not in prefixes [24, 25]",
        "province 51 not in [35]",
    ]
    unknown = a_nib()
    assert (await p.enroll(unknown, line["id"]))["reasons"] == [
        f"enterprise {unknown} is not in the register"
    ]
    assert (await p.enroll(closed, line["id"]))["reasons"] == [
        f"enterprise {closed} is closed, not active"
    ]
    events = await published_for(p.kafka, ENROLLMENTS, refused["id"], 2)
    assert [e.name for e in events] == ["EnrollmentRequested", "EnrollmentRejected"]
    assert events[1].data["reasons"] == refused["reasons"]
    assert events[1].data["enrollment"]["province_code"] == "51"

    approve = await p.call("POST", f"/enrollments/{refused['id']}/approve")
    assert approve.status_code == 409
    assert approve.json()["detail"][0]["loc"] == ["body", "status"]

    # One open enrollment per enterprise, program and year; a finished one frees the way.
    # A retry with the same Idempotency-Key gets the first answer, not a conflict.
    body = {"nib": fine, "budget_line_id": line["id"]}
    first_answer = await p.call("POST", "/enrollments", body, **{"Idempotency-Key": "req-1"})
    assert first_answer.status_code == 201
    first = first_answer.json()
    assert first["status"] == "eligible"
    retried = await p.call("POST", "/enrollments", body, **{"Idempotency-Key": "req-1"})
    assert (retried.status_code, retried.json()) == (201, first)
    assert retried.headers["Idempotent-Replayed"] == "true"
    twice = await p.call("POST", "/enrollments", body)
    assert twice.status_code == 409
    assert twice.json()["detail"][0]["loc"] == ["body", "nib"]
    assert first["id"] in twice.json()["detail"][0]["msg"]
    await p.ok(f"/enrollments/{first['id']}/withdraw", {"reason": "wrong program"})
    assert (await p.enroll(fine, line["id"]))["status"] == "eligible"
    assert (await p.line(line["id"]))["reserved_idr"] == 0


async def test_postponement_suspends_exactly_the_open_enrollments_and_resume_restores_them(
    programs: Programs,
) -> None:
    p = programs
    nibs = [a_nib() for _ in range(5)]
    await publish_as_registry(p.kafka, *(registered(n) for n in nibs))
    await p.replica_has(*nibs)
    iso14001 = await p.open_program(f"ISO14001-{YEAR}", CertificateScheme.ISO_14001)
    iso9001 = await p.open_program(f"ISO9001-{YEAR}")
    line = (await p.allocate(iso14001["code"]))["id"]
    other = (await p.allocate(iso9001["code"]))["id"]

    eligible = await p.enroll(nibs[0], line)
    approved = await p.enroll(nibs[1], line, approve=True)
    assisted = await p.enroll(nibs[2], line, approve=True)
    await p.ok(f"/enrollments/{assisted['id']}/start")
    completed = await p.enroll(nibs[3], line, approve=True)
    await p.ok(
        f"/enrollments/{completed['id']}/complete",
        {"certificate": certificate(CertificateScheme.ISO_14001), "realised_idr": AMOUNT},
    )
    withdrawn = await p.enroll(nibs[4], line, approve=True)
    await p.ok(f"/enrollments/{withdrawn['id']}/withdraw", {"reason": "moved abroad"})
    elsewhere = await p.enroll(nibs[0], other, approve=True)
    before = await p.statuses(line)

    reason = "Efisiensi anggaran: pendampingan ISO 14001 ditunda"
    postponed = await p.ok(f"/budget-lines/{line}/postpone", {"reason": reason})
    assert (postponed["status"], postponed["status_reason"]) == ("postponed", reason)
    open_ones = {eligible["id"], approved["id"], assisted["id"]}
    assert await p.statuses(line) == {
        **before,
        **{e: "suspended" for e in open_ones},
    }
    assert (await p.get(f"/enrollments/{elsewhere['id']}"))["status"] == "approved"
    suspended = await p.get(f"/enrollments/{approved['id']}")
    assert reason in suspended["status_reason"]
    assert suspended["reserved_idr"] == AMOUNT, "a suspension keeps the reservation"

    refused = await p.call("POST", "/enrollments", {"nib": a_nib(), "budget_line_id": line})
    assert refused.status_code == 409
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "budget_line_id"]
    assert f"is postponed: {reason}" in problem["msg"]

    all_enrollment_events = await eventually(
        lambda: published(p.kafka, ENROLLMENTS),
        lambda events: sum(e.name == "EnrollmentSuspended" for e in events) >= 3,
    )
    suspensions = [e for e in all_enrollment_events if e.name == "EnrollmentSuspended"]
    assert {e.key for e in suspensions} == open_ones
    assert all(reason in e.data["reason"] for e in suspensions)
    budget_postponed = (await published_for(p.kafka, BUDGET_LINES, line, 2))[-1]
    assert budget_postponed.name == "BudgetPostponed"
    assert budget_postponed.data["certificate_scheme"] == "ISO_14001"
    assert budget_postponed.data["reserved_idr"] == 2 * AMOUNT
    assert budget_postponed.data["reason"] == reason

    resumed = await p.ok(f"/budget-lines/{line}/resume", {"reason": "DIPA revision approved"})
    assert resumed["status"] == "open"
    assert resumed["reserved_idr"] == 2 * AMOUNT
    assert await p.statuses(line) == before
    events = await eventually(
        lambda: published(p.kafka, ENROLLMENTS),
        lambda events: sum(e.name == "EnrollmentResumed" for e in events) >= 3,
    )
    assert {e.key for e in events if e.name == "EnrollmentResumed"} == open_ones


async def test_deadline_cancels_suspended_enrollments_after_a_restart(
    settings: ProgramsSettings, kafka: KafkaSettings
) -> None:
    nibs = [a_nib(), a_nib()]
    deadline = ministry_today() + timedelta(days=30)
    first = create_programs(settings)
    async with running(first) as client:
        p = Programs(client, kafka)
        await publish_as_registry(kafka, *(registered(n) for n in nibs))
        await p.replica_has(*nibs)
        program = await p.open_program(f"ISO14001-{YEAR}", CertificateScheme.ISO_14001)
        line = (await p.allocate(program["code"]))["id"]
        waiting = await p.enroll(nibs[0], line)
        approved = await p.enroll(nibs[1], line, approve=True)
        await p.ok(
            f"/budget-lines/{line}/postpone",
            {"reason": "menunggu revisi DIPA", "deadline": deadline.isoformat()},
        )
        # On the deadline itself nothing is cancelled yet.
        runtime = first.state.runtime
        assert await deadlines.expire_postponements(runtime.unit_of_work, deadline) == []

    # A new process, the day after the deadline: the schedule finds the persisted deadline.
    def day_after_deadline() -> date:
        return deadline + timedelta(days=1)

    restarted = create_programs(
        settings.model_copy(update={"postponement_check_interval_s": 0.2}),
        today=day_after_deadline,
    )
    async with running(restarted) as client:
        p = Programs(client, kafka)
        await eventually(lambda: p.statuses(line), lambda s: set(s.values()) == {"cancelled"})
        after = await p.line(line)
        assert after["status"] == "postponed"
        assert (after["reserved_idr"], after["quota_used"]) == (0, 0)
        cancelled = await p.get(f"/enrollments/{approved['id']}")
        assert f"after its deadline {deadline}" in cancelled["status_reason"]

    events = await eventually(
        lambda: published(kafka, ENROLLMENTS),
        lambda events: sum(e.name == "EnrollmentCancelled" for e in events) >= 2,
    )
    released = {e.key: e.data for e in events if e.name == "EnrollmentCancelled"}
    assert released[waiting["id"]]["released_idr"] == 0
    assert released[approved["id"]]["released_idr"] == AMOUNT
    assert {d["actor"] for d in released.values()} == {"system"}


async def test_refocusing_moves_free_pagu_and_keeps_totals_exact(programs: Programs) -> None:
    p = programs
    nib = a_nib()
    await publish_as_registry(p.kafka, registered(nib, province="63"))
    await p.replica_has(nib)
    iso = await p.open_program(f"ISO14001-{YEAR}", CertificateScheme.ISO_14001)
    masks = await p.open_program(f"BIMTEK-APD-{YEAR}", scheme=None)
    source = await p.allocate(iso["code"], pagu_idr=500_000_000)
    target = await p.allocate(
        masks["code"], mechanism="tugas_pembantuan", province_code="63", pagu_idr=100_000_000
    )
    await p.enroll(nib, source["id"], approve=True)

    moved = await p.ok(
        f"/budget-lines/{source['id']}/refocus",
        {
            "target_budget_line_id": target["id"],
            "amount_idr": 300_000_000,
            "reason": "Refocusing untuk IKM terdampak Covid-19",
        },
    )
    assert moved["source"]["pagu_idr"] == 200_000_000
    assert moved["target"]["pagu_idr"] == 400_000_000
    assert moved["source"]["allocated_idr"] == 500_000_000
    assert moved["source"]["available_idr"] == 200_000_000 - AMOUNT

    too_much = await p.call(
        "POST",
        f"/budget-lines/{source['id']}/refocus",
        {"target_budget_line_id": target["id"], "amount_idr": 175_000_001, "reason": "more"},
    )
    assert too_much.status_code == 409
    assert too_much.json()["detail"][0]["loc"] == ["body", "amount_idr"]

    next_year = await p.allocate(masks["code"], fiscal_year=YEAR + 1)
    across_years = await p.call(
        "POST",
        f"/budget-lines/{source['id']}/refocus",
        {"target_budget_line_id": next_year["id"], "amount_idr": 1, "reason": "x"},
    )
    assert across_years.status_code == 422

    lines = await p.get(f"/budget-lines?fiscal_year={YEAR}")
    assert sum(line["pagu_idr"] for line in lines) == 600_000_000
    assert sum(line["allocated_idr"] for line in lines) == 600_000_000

    (refocused,) = [
        e
        for e in await published_for(p.kafka, BUDGET_LINES, source["id"], 2)
        if e.name == "BudgetRefocused"
    ]
    assert refocused.data["amount_idr"] == 300_000_000
    assert refocused.data["pagu_after_idr"] + refocused.data["target_pagu_after_idr"] == (
        600_000_000
    )
    assert refocused.data["target"]["budget_line_id"] == target["id"]
    assert refocused.data["actor"] == p.actor


async def test_concurrent_approvals_never_over_commit_quota_or_pagu(programs: Programs) -> None:
    p = programs
    nibs = [a_nib() for _ in range(40)]
    await publish_as_registry(p.kafka, *(registered(n) for n in nibs))
    await p.replica_has(*nibs)
    program = await p.open_program(f"ISO9001-{YEAR}")

    # Quota binds: 20 officers approve at once, 5 places.
    by_quota = (await p.allocate(program["code"], quota_enterprises=5, pagu_idr=10 * AMOUNT))["id"]
    waiting = [await p.enroll(nib, by_quota) for nib in nibs[:20]]
    answers = await asyncio.gather(
        *(p.call("POST", f"/enrollments/{e['id']}/approve") for e in waiting)
    )
    assert sorted(a.status_code for a in answers) == [200] * 5 + [409] * 15
    assert all(
        "quota exhausted: 5 of 5" in a.json()["detail"][0]["msg"]
        for a in answers
        if a.status_code == 409
    )
    line = await p.line(by_quota)
    assert (line["quota_used"], line["reserved_idr"]) == (5, 5 * AMOUNT)
    assert list((await p.statuses(by_quota)).values()).count("approved") == 5

    # Pagu binds: 20 requests with approval at once, money for 3.
    by_pagu = (
        await p.allocate(
            program["code"], fiscal_year=YEAR + 1, quota_enterprises=20, pagu_idr=4 * AMOUNT - 1
        )
    )["id"]
    requests = await asyncio.gather(
        *(
            p.call("POST", "/enrollments", {"nib": n, "budget_line_id": by_pagu, "approve": True})
            for n in nibs[20:]
        )
    )
    assert all(r.status_code == 201 for r in requests)
    outcomes = [r.json() for r in requests]
    assert sum(o["status"] == "approved" for o in outcomes) == 3
    assert all(
        o["reasons"]
        == [
            f"pagu exhausted: Rp24.999.999 left on budget line {by_pagu} (ISO9001-{YEAR}, "
            f"{YEAR + 1}), Rp25.000.000 needed"
        ]
        for o in outcomes
        if o["status"] == "ineligible"
    )
    line = await p.line(by_pagu)
    assert (line["quota_used"], line["reserved_idr"]) == (3, 3 * AMOUNT)


async def test_replica_applies_registry_events_once_and_in_version_order(
    programs: Programs,
) -> None:
    p = programs
    nib = a_nib()
    program = await p.open_program(f"ISO9001-{YEAR}", excluded_certificates=["ISO_9001"])
    line = (await p.allocate(program["code"]))["id"]
    certified = EnterpriseCertified(
        nib=nib,
        version=2,
        province_code="51",
        certificate=CertificateFacts(
            certificate_id="cert-1",
            scheme=CertificateScheme.ISO_9001,
            number="QMS-1",
            issuer="PT Sucofindo",
            issued_on=date(YEAR - 1, 1, 1),
            expires_on=date(YEAR + 2, 1, 1),
        ),
        certified_at=datetime.now(UTC),
    )
    updated = EnterpriseUpdated(
        nib=nib,
        version=3,
        changed_fields=["province_code"],
        profile=EnterpriseProfile(
            name="CV Uji", province_code="35", kbli="24202", size_class=SizeClass.SMALL
        ),
        updated_at=datetime.now(UTC),
    )
    # Newest first: the registration (v1) and the certificate (v2) arrive after the update (v3).
    await publish_as_registry(
        p.kafka, updated, registered(nib, province="51", size=SizeClass.MEDIUM), certified
    )
    replica = await eventually(
        lambda: p.call("GET", f"/enterprise-replica/{nib}"),
        lambda r: r.status_code == 200 and len(r.json()["certificates"]) == 1,
    )
    view = replica.json()
    assert (view["version"], view["province_code"], view["size_class"]) == (3, "35", "small")
    assert view["certificates"][0]["in_force"] is True
    verdict = await p.get(f"/budget-lines/{line}/eligibility/{nib}")
    assert verdict["reasons"] == ["already holds a valid ISO_9001 certificate"]

    # The same update delivered twice has no second effect; a newer revocation does.
    await publish_as_registry(
        p.kafka,
        updated,
        CertificateRevoked(
            nib=nib,
            version=4,
            province_code="35",
            certificate_id="cert-1",
            scheme=CertificateScheme.ISO_9001,
            revoked_on=date(YEAR, 5, 1),
            reason="audit failed",
        ),
    )
    verdict = await eventually(
        lambda: p.get(f"/budget-lines/{line}/eligibility/{nib}"), lambda v: v["eligible"]
    )
    view = await p.get(f"/enterprise-replica/{nib}")
    assert (view["version"], view["province_code"]) == (3, "35")


async def test_cancelled_and_closed_lines_release_reservations_and_refuse_enrollments(
    programs: Programs,
) -> None:
    p = programs
    nibs = [a_nib() for _ in range(4)]
    await publish_as_registry(p.kafka, *(registered(n) for n in nibs))
    await p.replica_has(*nibs)
    program = await p.open_program(f"ISO9001-{YEAR}")

    blocked = (await p.allocate(program["code"]))["id"]
    approved = await p.enroll(nibs[0], blocked, approve=True)
    eligible = await p.enroll(nibs[1], blocked)
    cancelled = await p.ok(f"/budget-lines/{blocked}/cancel", {"reason": "blokir anggaran"})
    assert (cancelled["status"], cancelled["reserved_idr"], cancelled["quota_used"]) == (
        "cancelled",
        0,
        0,
    )
    assert set((await p.statuses(blocked)).values()) == {"cancelled"}
    refused = await p.call("POST", "/enrollments", {"nib": nibs[2], "budget_line_id": blocked})
    assert refused.status_code == 409
    assert "is cancelled: blokir anggaran" in refused.json()["detail"][0]["msg"]
    budget = await published_for(p.kafka, BUDGET_LINES, blocked, 2)
    assert budget[-1].name == "BudgetCancelled"
    assert budget[-1].data["released_idr"] == AMOUNT
    for enrollment, released, count in ((approved, AMOUNT, 3), (eligible, 0, 2)):
        last = (await published_for(p.kafka, ENROLLMENTS, enrollment["id"], count))[-1]
        assert last.name == "EnrollmentCancelled"
        assert last.data["released_idr"] == released
        assert "blokir anggaran" in last.data["reason"]

    year_end = (await p.allocate(program["code"], fiscal_year=YEAR + 1))["id"]
    done = await p.enroll(nibs[2], year_end, approve=True)
    await p.ok(
        f"/enrollments/{done['id']}/complete",
        {"certificate": certificate(), "realised_idr": 20_000_000},
    )
    unfinished = await p.enroll(nibs[3], year_end, approve=True)
    closed = await p.ok(f"/budget-lines/{year_end}/close", {"reason": "tutup buku akhir tahun"})
    assert (closed["status"], closed["realised_idr"], closed["reserved_idr"]) == (
        "closed",
        20_000_000,
        0,
    )
    assert (await p.get(f"/enrollments/{unfinished['id']}"))["status"] == "cancelled"
    assert (await p.get(f"/enrollments/{done['id']}"))["status"] == "completed"
    refused = await p.call("POST", "/enrollments", {"nib": nibs[0], "budget_line_id": year_end})
    assert "is closed: tutup buku akhir tahun" in refused.json()["detail"][0]["msg"]
    closing = (await published_for(p.kafka, BUDGET_LINES, year_end, 3))[-1]
    assert closing.name == "BudgetClosed"
    assert (closing.data["realised_idr"], closing.data["released_idr"]) == (20_000_000, AMOUNT)


async def test_bad_input_is_refused_naming_the_field_and_publishes_nothing(
    programs: Programs,
) -> None:
    p = programs
    program = await p.open_program(f"ISO9001-{YEAR}")
    line = await p.allocate(program["code"])
    valid_program = {
        "code": "OVOP-2025",
        "name": "OVOP",
        "program_type": "ovop",
        "directorate": "Direktorat Jenderal IKMA",
    }
    cases: list[tuple[str, str, dict[str, Any] | None, int, str, str]] = [
        ("POST", "/programs", {**valid_program, "code": "ovop"}, 422, "code", "capital"),
        (
            "POST",
            "/programs",
            {**valid_program, "program_type": "certification_assistance"},
            422,
            "certificate_scheme",
            "needs the certificate_scheme",
        ),
        (
            "POST",
            "/programs",
            {**valid_program, "eligibility": {"kbli_prefix": ["10"]}},
            422,
            "kbli_prefix",
            "Extra inputs",
        ),
        (
            "POST",
            "/budget-lines",
            {
                "program_code": "NOPE",
                "fiscal_year": YEAR,
                "mechanism": "pusat",
                "pagu_idr": 1,
                "quota_enterprises": 1,
            },
            404,
            "program_code",
            "no program NOPE",
        ),
        (
            "POST",
            "/budget-lines",
            {
                "program_code": program["code"],
                "fiscal_year": YEAR,
                "mechanism": "pusat",
                "province_code": "35",
                "pagu_idr": 1,
                "quota_enterprises": 1,
            },
            422,
            "province_code",
            "spent centrally",
        ),
        (
            "POST",
            "/enrollments",
            {"nib": "12345", "budget_line_id": line["id"]},
            422,
            "nib",
            "13 digits",
        ),
        (
            "POST",
            "/enrollments",
            {"nib": a_nib(), "budget_line_id": "no-such-line"},
            404,
            "budget_line_id",
            "no budget line",
        ),
        ("POST", f"/budget-lines/{line['id']}/resume", {"reason": "x"}, 409, "status", "only a"),
        ("POST", f"/budget-lines/{line['id']}/postpone", {"reason": ""}, 422, "reason", ""),
    ]
    for method, path, body, status, field, message in cases:
        response = await p.call(method, path, body)
        assert response.status_code == status, (path, body, response.text)
        problem = response.json()["detail"][0]
        assert problem["loc"][-1] == field, (path, problem)
        assert message in problem["msg"], (path, problem)

    stale = await p.call(
        "POST", f"/budget-lines/{line['id']}/postpone", {"reason": "x"}, **{"If-Match": '"7"'}
    )
    assert stale.status_code == 409
    assert stale.json()["detail"][0]["loc"] == ["body", "If-Match"]
    current = await p.call("GET", f"/budget-lines/{line['id']}")
    assert current.headers["ETag"] == f'"{current.json()["version"]}"'
    assert current.json()["status"] == "open"

    # The allocation's event is on the topic; anything wrongly published would be by now too.
    await published_for(p.kafka, BUDGET_LINES, line["id"], 1)
    await asyncio.sleep(0.5)
    assert [e.key for e in await published(p.kafka, PROGRAMS)] == [program["code"]]
    assert [e.name for e in await published(p.kafka, BUDGET_LINES)] == ["BudgetAllocated"]
    assert await published(p.kafka, ENROLLMENTS) == []
