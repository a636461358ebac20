"""Partnerships on the real broker: the registry's and programs' facts are produced on their topics
exactly as those services publish them, and the readiness they cause is read back from the API and
from `ikm.partnerships.*`."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from services.partnerships.app import create_app
from services.partnerships.settings import PartnershipsSettings
from shared.envelope import OutgoingMessage, encode
from shared.events.base import Event
from shared.events.partnerships import (
    PartnershipSigned,
    SupplierQualified,
    SupplierReadinessBlocked,
    SupplierReadinessUnblocked,
)
from shared.events.programs import EnrollmentFacts, EnrollmentResumed, EnrollmentSuspended
from shared.events.registry import (
    CertificateFacts,
    EnterpriseCertified,
    EnterpriseProfile,
    EnterpriseRegistered,
    EnterpriseUpdated,
)
from shared.events.topics import PARTNERSHIP_TARGETS, PARTNERSHIPS, SUPPLIER_READINESS
from shared.events.vocabulary import CertificateScheme
from shared.settings import KafkaSettings
from tests.support.kafka import produce, read_topic, wait_for_records
from tests.support.platform import Databases, bearer, eventually, running, service_settings

pytestmark = pytest.mark.integration

ISO_9001, ISO_14001 = CertificateScheme.ISO_9001, CertificateScheme.ISO_14001
AT = datetime(2025, 4, 29, 3, 0, tzinfo=UTC)


def a_nib(first: str = "9") -> str:
    return first + "".join(random.choices("0123456789", k=12))


@dataclass
class Service:
    client: httpx.AsyncClient
    kafka: KafkaSettings

    async def publish(self, event: Event) -> OutgoingMessage:
        """Put an upstream fact on its topic exactly as its owner's outbox relay does."""
        message = encode(event, source=f"/ikm/{event.topic.owner}")
        await self.redeliver(message)
        return message

    async def redeliver(self, message: OutgoingMessage) -> None:
        await produce(
            self.kafka.bootstrap_servers,
            message.topic,
            message.value,
            key=message.key.encode(),
            headers=message.headers,
        )

    async def readiness(self, nib: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/enterprises/{nib}/readiness")
        return response.json() if response.status_code == 200 else {}

    async def ikm(self, *held: CertificateScheme) -> str:
        """An IKM registered (and certified) in the registry, as partnerships' replica sees it."""
        nib = a_nib()
        await self.publish(
            EnterpriseRegistered(
                nib=nib,
                profile=EnterpriseProfile(
                    name=f"CV Uji {nib[-4:]}", province_code="35", kbli="29300"
                ),
                registered_at=AT,
            )
        )
        for version, scheme in enumerate(held, start=2):
            await self.publish(certified(nib, version, scheme))
        await eventually(
            lambda: self.readiness(nib),
            lambda r: bool(r) and len(r["certificates"]) == len(held),
        )
        return nib

    async def partner(self, tier: int, *required: CertificateScheme) -> str:
        partner_nib = a_nib("8")
        response = await self.client.post(
            "/api/v1/partners",
            json={
                "partner_nib": partner_nib,
                "name": f"PT Komponen {partner_nib[-4:]}",
                "sector": "automotive",
                "tier": tier,
                "requirements": {"required_certificates": list(required)},
            },
        )
        assert response.status_code == 201, response.text
        return partner_nib

    async def propose(
        self, partner_nib: str, *nibs: str, on: str = "2025-03-10", actor: str = "officer-1"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/partnerships",
            json={
                "partner_nib": partner_nib,
                "ikm_nibs": list(nibs),
                "component": "brake pads",
                "facilitated_by": "Link and Match 2025",
                "proposed_on": on,
            },
            headers=bearer("partnership-officer", subject=actor),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def sign(self, partnership_id: str, on: str, **headers: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/partnerships/{partnership_id}/sign", json={"signed_on": on}, headers=headers
        )

    async def status_for(self, nib: str, partner_nib: str) -> str | None:
        readiness = await self.readiness(nib)
        return next(
            (p["status"] for p in readiness.get("partners", ()) if p["partner_nib"] == partner_nib),
            None,
        )

    async def events(self, topic: str, event_type: type[Event]) -> list[dict[str, Any]]:
        records = await read_topic(self.kafka.bootstrap_servers, topic, idle_s=0.5)
        return [
            json.loads(r.value)
            for r in records
            if dict(r.headers)["ce_type"].decode() == event_type.ce_type()
        ]


def certified(
    nib: str, version: int, scheme: CertificateScheme, certificate_id: str | None = None
) -> EnterpriseCertified:
    return EnterpriseCertified(
        nib=nib,
        version=version,
        province_code="35",
        certificate=CertificateFacts(
            certificate_id=certificate_id or f"{nib}-{scheme.value}",
            scheme=scheme,
            number=f"QMS/{version}/{nib[-4:]}",
            issuer="PT Sucofindo",
            issued_on=date(2025, 1, 15),
            expires_on=date(2028, 1, 14),
        ),
        certified_at=AT,
    )


def enrollment(nib: str, scheme: CertificateScheme) -> EnrollmentFacts:
    return EnrollmentFacts(
        enrollment_id=f"enr-{nib[-6:]}",
        nib=nib,
        province_code="35",
        program_code="ISO14001-2025",
        budget_line_id="bl-2025-iso14001-pusat",
        fiscal_year=2025,
        certificate_scheme=scheme,
    )


@pytest.fixture
async def service(
    kafka: KafkaSettings, databases: Databases, tmp_path: object
) -> AsyncIterator[Service]:
    settings = await service_settings(PartnershipsSettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as client:
        yield Service(client, kafka)


async def test_the_last_missing_certificate_qualifies_exactly_once(service: Service) -> None:
    nib = await service.ikm(ISO_9001)
    partner = await service.partner(1, ISO_9001, ISO_14001)
    await service.propose(partner, nib)
    assert await service.status_for(nib, partner) == "missing"
    assert (await service.readiness(nib))["partners"][0]["missing"] == ["ISO_14001"]

    last = await service.publish(certified(nib, 3, ISO_14001))
    await eventually(lambda: service.status_for(nib, partner), lambda s: s == "qualified")

    # The same event redelivered, the same fact re-published (not newer than the replica) and
    # facts that change nothing for this partner: none of them may announce anything.
    await service.redeliver(last)
    await service.publish(certified(nib, 3, ISO_14001))
    await service.publish(certified(nib, 4, CertificateScheme.HALAL))
    renamed = EnterpriseProfile(name="CV Uji Berganti Nama", province_code="35", kbli="29300")
    await service.publish(
        EnterpriseUpdated(
            nib=nib, version=5, changed_fields=["name"], profile=renamed, updated_at=AT
        )
    )
    await eventually(
        lambda: service.readiness(nib), lambda r: r.get("name") == "CV Uji Berganti Nama"
    )

    await wait_for_records(service.kafka.bootstrap_servers, SUPPLIER_READINESS.name, 1)
    qualified = await service.events(SUPPLIER_READINESS.name, SupplierQualified)
    assert [(e["nib"], e["partner_nib"]) for e in qualified] == [(nib, partner)]
    readiness = await service.readiness(nib)
    assert sorted(c["scheme"] for c in readiness["certificates"]) == [
        "HALAL",
        "ISO_14001",
        "ISO_9001",
    ]
    assert readiness["partners"] == [
        {"nib": nib, "partner_nib": partner, "status": "qualified", "missing": [], "blocked_by": []}
    ]


async def test_a_suspended_iso_14001_enrollment_blocks_a_tier1_candidate_until_resumed(
    service: Service,
) -> None:
    nib = await service.ikm(ISO_9001)
    tier1 = await service.partner(1, ISO_9001, ISO_14001)
    tier2 = await service.partner(2, ISO_9001)  # needs nothing the suspension withholds
    await service.propose(tier1, nib)
    await service.propose(tier2, nib)

    facts = enrollment(nib, ISO_14001)
    await service.publish(
        EnrollmentSuspended(
            enrollment_id=facts.enrollment_id,
            enrollment=facts,
            reason="budget postponed: ISO 14001 assistance 2025",
            suspended_at=AT,
        )
    )
    await eventually(lambda: service.status_for(nib, tier1), lambda s: s == "blocked")
    (candidate,) = [
        p for p in (await service.readiness(nib))["partners"] if p["partner_nib"] == tier1
    ]
    assert candidate["missing"] == ["ISO_14001"]
    assert candidate["blocked_by"] == [
        {
            "enrollment_id": facts.enrollment_id,
            "budget_line_id": "bl-2025-iso14001-pusat",
            "program_code": "ISO14001-2025",
            "certificate_scheme": "ISO_14001",
        }
    ]
    assert await service.status_for(nib, tier2) == "qualified"
    blocked = await service.events(SUPPLIER_READINESS.name, SupplierReadinessBlocked)
    assert [(e["partner_nib"], e["missing"]) for e in blocked] == [(tier1, ["ISO_14001"])]
    assert blocked[0]["blocked_by"][0]["enrollment_id"] == facts.enrollment_id

    await service.publish(
        EnrollmentResumed(enrollment_id=facts.enrollment_id, enrollment=facts, resumed_at=AT)
    )
    await eventually(lambda: service.status_for(nib, tier1), lambda s: s == "missing")
    unblocked = await eventually(
        lambda: service.events(SUPPLIER_READINESS.name, SupplierReadinessUnblocked),
        lambda events: len(events) >= 1,
    )
    assert [(e["nib"], e["partner_nib"], e["missing"]) for e in unblocked] == [
        (nib, tier1, ["ISO_14001"])
    ]
    assert len(await service.events(SUPPLIER_READINESS.name, SupplierReadinessBlocked)) == 1


async def test_signing_with_an_unqualified_ikm_is_refused_naming_what_it_misses(
    service: Service,
) -> None:
    ready = await service.ikm(ISO_9001, ISO_14001)
    lacking = await service.ikm(ISO_9001)
    partner = await service.partner(1, ISO_9001, ISO_14001)

    unknown = await service.client.post(
        "/api/v1/partnerships",
        json={
            "partner_nib": partner,
            "ikm_nibs": [a_nib()],
            "component": "brake pads",
            "proposed_on": "2025-03-10",
        },
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "ikm_nibs"]
    assert "not in the register" in unknown.json()["detail"][0]["msg"]

    proposal = await service.propose(partner, ready, lacking, actor="officer-7")
    pid = proposal["partnership_id"]

    refused = await service.sign(pid, "2025-04-01")
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "ikm_nibs"]
    assert (
        f"IKM {lacking} (CV Uji {lacking[-4:]}) misses ISO_14001 required by tier-1 partner"
        in (problem["msg"])
    )
    assert ready not in problem["msg"]
    unchanged = (await service.client.get(f"/api/v1/partnerships/{pid}")).json()
    assert (unchanged["stage"], unchanged["version"]) == ("proposed", 1)

    await service.publish(certified(lacking, 3, ISO_14001))
    await eventually(lambda: service.status_for(lacking, partner), lambda s: s == "qualified")

    signed = await service.sign(
        pid,
        "2025-04-01",
        **{"If-Match": '"1"', **bearer("partnership-officer", subject="officer-8")},
    )
    assert signed.status_code == 200, signed.text
    assert signed.headers["ETag"] == '"2"'
    body = signed.json()
    assert (body["stage"], body["fiscal_year"], body["version"]) == ("mou_signed", 2025, 2)
    assert body["next_stages"] == ["coaching", "ended"]

    skipped = await service.client.post(
        f"/api/v1/partnerships/{pid}/stage", json={"stage": "trial_supply", "on": "2025-05-01"}
    )
    assert skipped.status_code == 409
    assert "can move to coaching or ended, not trial_supply" in skipped.json()["detail"][0]["msg"]
    stale = await service.client.post(
        f"/api/v1/partnerships/{pid}/stage",
        json={"stage": "coaching", "on": "2025-05-01"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 409
    assert stale.json()["detail"][0]["loc"] == ["body", "If-Match"]

    (event,) = await eventually(
        lambda: service.events(PARTNERSHIPS.name, PartnershipSigned), lambda e: len(e) >= 1
    )
    assert (event["partnership_id"], event["fiscal_year"], event["actor"]) == (
        pid,
        2025,
        "officer-8",
    )
    assert event["ikm_nibs"] == [ready, lacking]


async def test_attainment_counts_agreements_ikm_and_partner_firms_exactly(
    service: Service,
) -> None:
    i1, i2, i3, i4, i5 = [await service.ikm() for _ in range(5)]
    p1, p2 = await service.partner(0), await service.partner(1)

    async def signed_agreement(partner: str, *nibs: str, on: str) -> str:
        pid: str = (await service.propose(partner, *nibs, on=on))["partnership_id"]
        assert (await service.sign(pid, on)).status_code == 200
        return pid

    # 2018: three agreements, two partner firms, four distinct IKM (i2 is in two agreements)
    await signed_agreement(p1, i1, i2, on="2018-11-27")
    await signed_agreement(p1, i2, i3, on="2018-11-27")
    a3 = await signed_agreement(p2, i4, on="2018-12-03")
    await signed_agreement(p2, i5, on="2019-02-01")
    await service.propose(p1, i1, on="2019-03-01")  # proposed only: counts nowhere
    ended = await service.client.post(
        f"/api/v1/partnerships/{a3}/end",
        json={"ended_on": "2019-06-30", "reason": "component discontinued"},
    )
    assert ended.status_code == 200, ended.text
    assert (await service.readiness(i4))["partners"] == []  # no open partnership: no candidate

    for path, value in [("2019/ikm", 45), ("2019/ikm", 45), ("2018/agreements", 3)]:
        response = await service.client.put(f"/api/v1/targets/{path}", json={"target": value})
        assert response.status_code == 200, response.text
    assert (
        await service.client.put("/api/v1/targets/2019/firms", json={"target": 1})
    ).status_code == 422

    def by_unit(attainment: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        return {
            u["unit"]: (u["target"], u["achieved"], u["attainment_pct"])
            for u in attainment["units"]
        }

    y2018 = (await service.client.get("/api/v1/targets/2018")).json()
    assert by_unit(y2018) == {
        "agreements": (3, 3, 100.0),  # the ended one was signed in 2018: it still counts
        "ikm": (None, 4, None),
        "partner_firms": (None, 2, None),
    }
    y2019 = (await service.client.get("/api/v1/targets/2019")).json()
    assert by_unit(y2019) == {
        "agreements": (None, 1, None),
        "ikm": (45, 1, 2.2),
        "partner_firms": (None, 1, None),
    }

    await asyncio.sleep(0.3)
    targets = await wait_for_records(service.kafka.bootstrap_servers, PARTNERSHIP_TARGETS.name, 2)
    assert sorted(r.key for r in targets) == [b"2018-agreements", b"2019-ikm"]


async def test_a_retried_proposal_with_its_idempotency_key_proposes_once(
    service: Service, kafka: KafkaSettings
) -> None:
    nib = await service.ikm()
    partner = await service.partner(1)
    body = {
        "partner_nib": partner,
        "ikm_nibs": [nib],
        "component": "rem cakram",
        "proposed_on": "2025-03-10",
    }
    headers = {"Idempotency-Key": "matching-2025-03-10-17"}
    first = await service.client.post("/api/v1/partnerships", json=body, headers=headers)
    again = await service.client.post("/api/v1/partnerships", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["partnership_id"] == first.json()["partnership_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = await service.client.get("/api/v1/partnerships", params={"partner_nib": partner})
    assert len(listed.json()) == 1
