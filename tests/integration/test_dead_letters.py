"""Dead letters can be listed and re-driven once their cause is fixed; nothing applies twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared import dlq
from shared.envelope import encode
from shared.events.programs import CertificateOutcome, EnrollmentCompleted, EnrollmentFacts
from shared.events.topics import ENROLLMENTS
from shared.events.vocabulary import CertificateScheme
from shared.settings import KafkaSettings
from tests.support.kafka import produce
from tests.support.platform import Databases, eventually, running, service_settings

pytestmark = pytest.mark.integration
NIB = "5100000000077"


@pytest.fixture
async def registry(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as client:
        yield client


async def test_a_dead_letter_redriven_after_the_fix_is_applied_once(
    registry: httpx.AsyncClient, kafka: KafkaSettings
) -> None:
    completed = EnrollmentCompleted(
        enrollment_id="enr-halal-1",
        enrollment=EnrollmentFacts(
            enrollment_id="enr-halal-1",
            nib=NIB,
            province_code="51",
            program_code="HALAL-2025",
            budget_line_id="line-h",
            fiscal_year=2025,
            certificate_scheme=CertificateScheme.HALAL,
        ),
        certificate=CertificateOutcome(
            scheme=CertificateScheme.HALAL,
            number="ID51110000123",
            issuer="BPJPH",
            issued_on=date.today(),
            expires_on=date.today() + timedelta(days=1460),
        ),
        completed_at=datetime.now(UTC),
    )
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    message = encode(
        completed,
        source="/ikm/programs",
        extra_headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    # the enterprise is not in the register yet: the registry rejects the outcome
    await produce(
        kafka.bootstrap_servers,
        ENROLLMENTS.name,
        message.value,
        key=message.key.encode(),
        headers=message.headers,
    )

    letters = await eventually(
        lambda: dlq.read_dead_letters(kafka, dlq.dead_letter_topics(ENROLLMENTS.name)),
        lambda found: len(found) == 1,
    )
    (letter,) = letters
    assert letter.event_id == message.event_id
    assert letter.original_topic == ENROLLMENTS.name
    assert "no enterprise with NIB" in letter.reason
    assert letter.headers["dlq_consumer_group"] == "ikm-registry"
    # still in the trace of the event that failed, so an operator finds the two together
    assert letter.headers["traceparent"].split("-")[1] == trace_id

    # the cause is fixed: the enterprise is registered; then the letter is re-driven (twice)
    created = await registry.post(
        "/api/v1/enterprises",
        json={"nib": NIB, "name": "UD Halal Bali", "province_code": "51", "kbli": "10110"},
    )
    assert created.status_code == 201
    assert await dlq.redrive(kafka, letters) == 1
    assert await dlq.redrive(kafka, letters) == 1

    async def certificates() -> list[dict[str, object]]:
        return (await registry.get(f"/api/v1/enterprises/{NIB}")).json()["certificates"]

    found = await eventually(certificates, lambda c: len(c) >= 1)
    await asyncio.sleep(1.5)
    assert [c["number"] for c in found] == ["ID51110000123"]
    assert [c["number"] for c in await certificates()] == ["ID51110000123"]
