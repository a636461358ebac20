"""The registry on the real broker and database: every event, privacy, concurrency, bulk import."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from cli.importer import import_enterprises
from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.broker import free_port
from shared.envelope import encode
from shared.events.programs import CertificateOutcome, EnrollmentCompleted, EnrollmentFacts
from shared.events.topics import ENROLLMENTS, ENTERPRISES, SENTRA
from shared.events.vocabulary import CertificateScheme
from shared.settings import KafkaSettings
from tests.support.kafka import produce, read_topic, wait_for_records
from tests.support.platform import Databases, bearer, eventually, running, service_settings
from tests.support.proxy import CuttableProxy

pytestmark = pytest.mark.integration

OWNER = {"nik": "3517010101800001", "phone": "+6281234567890", "email": "pemilik@example.id"}


def a_nib() -> str:
    return "8" + "".join(random.choices("0123456789", k=12))


def enterprise(nib: str, **extra: object) -> dict[str, object]:
    return {
        "nib": nib,
        "name": f"CV Aluminium {nib[-4:]}",
        "province_code": "35",
        "regency_code": "3517",
        "kbli": "24202",
        "workforce": 12,
        "investment_idr": 400_000_000,
        **extra,
    }


@pytest.fixture
async def registry(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as client:
        yield client


def types_of(records: list, key: str | None = None) -> list[str]:  # type: ignore[type-arg]
    return [
        dict(r.headers)["ce_type"].decode().split(".")[-2]
        for r in records
        if key is None or r.key == key.encode()
    ]


async def test_every_enterprise_and_certificate_event_with_its_data(
    registry: httpx.AsyncClient, kafka: KafkaSettings
) -> None:
    nib = a_nib()
    created = await registry.post(
        "/api/v1/enterprises",
        json=enterprise(
            nib,
            owner=OWNER,
            npwp="0123456789012345",
            legal_form="CV",
            production={"quantity": 60, "unit": "tonnes/year"},
        ),
        headers=bearer("admin", subject="officer-1"),
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    assert created.json()["size_class"] == "small"

    updated = await registry.patch(
        f"/api/v1/enterprises/{nib}", json={"workforce": 45}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["size_class"] == "medium"
    assert updated.headers["ETag"] == '"3"'

    certificate = await registry.post(
        f"/api/v1/enterprises/{nib}/certificates",
        json={
            "scheme": "ISO_9001",
            "number": "QMS-77",
            "issuer": "Sucofindo",
            "issued_on": str(date.today() - timedelta(days=400)),
            "expires_on": str(date.today() + timedelta(days=30)),
        },
    )
    assert certificate.status_code == 201, certificate.text
    certificate_id = certificate.json()["certificate_id"]
    tkdn = await registry.post(
        f"/api/v1/enterprises/{nib}/certificates",
        json={
            "scheme": "TKDN_IK",
            "number": "TKDN-1",
            "issuer": "Kemenperin",
            "issued_on": str(date.today()),
            "expires_on": str(date.today() + timedelta(days=1000)),
            "tkdn_pct": 41.5,
        },
    )
    assert tkdn.status_code == 201, tkdn.text

    expiry = await registry.post(
        "/api/v1/certificates/expire", params={"today": str(date.today() + timedelta(days=31))}
    )
    assert expiry.json()["expired"] == 1
    renewed = await registry.post(
        f"/api/v1/enterprises/{nib}/certificates/{certificate_id}/renew",
        json={"expires_on": str(date.today() + timedelta(days=400))},
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["status"] == "active"
    revoked = await registry.post(
        f"/api/v1/enterprises/{nib}/certificates/{certificate_id}/revoke",
        json={"reason": "audit found nonconformities"},
    )
    assert revoked.json()["status"] == "revoked"
    closed = await registry.post(
        f"/api/v1/enterprises/{nib}/close", json={"closed_on": "2026-11-01", "reason": "merged"}
    )
    assert closed.json()["status"] == "closed"

    records = await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 9)
    assert types_of(records, nib) == [
        "EnterpriseRegistered",
        "EnterpriseUpdated",
        "EnterpriseReclassified",
        "EnterpriseCertified",
        "EnterpriseCertified",
        "CertificateExpired",
        "CertificateRenewed",
        "CertificateRevoked",
        "EnterpriseClosed",
    ]
    data = [json.loads(r.value) for r in records]
    assert [d["version"] for d in data] == list(range(1, 10))
    registered = data[0]
    assert registered["actor"] == "officer-1"
    assert registered["profile"]["regency_code"] == "3517"
    assert registered["profile"]["size_class"] == "small"
    assert data[1]["changed_fields"] == ["workforce"]
    assert (data[2]["previous_size_class"], data[2]["size_class"]) == ("small", "medium")
    assert data[3]["certificate"]["number"] == "QMS-77"
    assert data[4]["certificate"]["tkdn_pct"] == 41.5
    assert data[5]["certificate_id"] == certificate_id
    assert data[8]["reason"] == "merged"

    # no personal data anywhere: payloads and headers of every event
    for record in records:
        blob = record.value + b"".join(v for _, v in record.headers)
        for secret in OWNER.values():
            assert secret.encode() not in blob
        assert b"0123456789012345" not in blob  # NPWP stays in the register too


async def test_sentra_events(registry: httpx.AsyncClient, kafka: KafkaSettings) -> None:
    nibs = [a_nib() for _ in range(6)]
    for nib in nibs:
        assert (await registry.post("/api/v1/enterprises", json=enterprise(nib))).status_code == 201
    too_small = await registry.post(
        "/api/v1/sentra",
        json={
            "name": "Sentra Kecil",
            "province_code": "35",
            "regency_code": "3517",
            "commodity": "aluminium",
            "designated_on": "2016-01-01",
            "member_nibs": nibs[:4],
        },
    )
    assert too_small.status_code == 422
    assert too_small.json()["detail"][0]["loc"] == ["body", "member_nibs"]

    sentra = await registry.post(
        "/api/v1/sentra",
        json={
            "name": "Sentra IKM Slag Aluminium Kendalsari",
            "province_code": "35",
            "regency_code": "3517",
            "village": "Kendalsari, Sumobito",
            "managing_body": "Koperasi",
            "commodity": "aluminium slag",
            "designated_on": "2016-01-01",
            "member_nibs": nibs[:5],
        },
    )
    assert sentra.status_code == 201, sentra.text
    sentra_id = sentra.json()["sentra_id"]
    joined = await registry.post(
        f"/api/v1/sentra/{sentra_id}/members", json={"nib": nibs[5], "joined_on": "2017-01-01"}
    )
    assert joined.json()["member_count"] == 6
    left = await registry.delete(f"/api/v1/sentra/{sentra_id}/members/{nibs[0]}")
    assert left.json()["member_count"] == 5
    refused = await registry.delete(f"/api/v1/sentra/{sentra_id}/members/{nibs[1]}")
    assert refused.status_code == 409
    outcome = await registry.post(
        f"/api/v1/sentra/{sentra_id}/outcomes",
        json={
            "period": "2019",
            "source": "Kemenperin 2019",
            "revenue_idr": {"min": 1.5e9, "max": 2e9, "unit": "IDR/year"},
            "production": {"min": 400, "max": 700, "unit": "tonnes/year"},
        },
    )
    assert outcome.status_code == 201, outcome.text
    inverted = await registry.post(
        f"/api/v1/sentra/{sentra_id}/outcomes",
        json={"period": "2016", "revenue_idr": {"min": 3e8, "max": 2e8, "unit": "IDR/year"}},
    )
    assert inverted.status_code == 422
    assert (await registry.get(f"/api/v1/enterprises/{nibs[2]}")).json()["sentra_id"] == sentra_id

    records = await wait_for_records(kafka.bootstrap_servers, SENTRA.name, 9)
    assert types_of(records) == [
        "SentraDesignated",
        *["SentraMemberJoined"] * 6,
        "SentraMemberLeft",
        "SentraOutcomeReported",
    ]
    assert {r.key for r in records} == {sentra_id.encode()}
    reported = json.loads(records[-1].value)
    assert reported["revenue_idr"] == {"min": 1.5e9, "max": 2e9, "unit": "IDR/year"}
    assert reported["members"] == 5


async def test_concurrent_updates_give_exactly_one_conflict(registry: httpx.AsyncClient) -> None:
    nib = a_nib()
    await registry.post("/api/v1/enterprises", json=enterprise(nib))
    responses = await asyncio.gather(
        *(
            registry.patch(
                f"/api/v1/enterprises/{nib}",
                json={"name": f"CV Baru {i}"},
                headers={"If-Match": '"1"'},
            )
            for i in range(2)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert (await registry.get(f"/api/v1/enterprises/{nib}")).json()["version"] == 2
    missing = await registry.patch(f"/api/v1/enterprises/{nib}", json={"name": "x"})
    assert missing.status_code == 428


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        ({"regency_code": "3201"}, "regency_code", "not in province 35"),
        ({"workforce": -3}, "workforce", "must not be negative"),
        ({"npwp": "01.234.567.8-901"}, "npwp", "16 digits"),
        (
            {"workforce": 45, "investment_idr": 2_000_000_000, "size_class": "small"},
            "size_class",
            "contradicts",
        ),
        ({"secondary_kbli": ["47111", "2420"]}, "secondary_kbli", "not 5 digits"),
    ],
)
async def test_bad_input_names_field_and_rule(
    registry: httpx.AsyncClient,
    kafka: KafkaSettings,
    extra: dict[str, object],
    field: str,
    rule: str,
) -> None:
    nib = a_nib()
    response = await registry.post("/api/v1/enterprises", json=enterprise(nib, **extra))
    assert response.status_code == 422
    problems = {tuple(p["loc"]): p["msg"] for p in response.json()["detail"]}
    assert rule in problems[("body", field)]
    assert (await registry.get(f"/api/v1/enterprises/{nib}")).status_code == 404


async def test_idempotency_key_replays_the_first_answer(
    registry: httpx.AsyncClient, kafka: KafkaSettings
) -> None:
    nib = a_nib()
    headers = {"Idempotency-Key": "req-123"}
    first = await registry.post("/api/v1/enterprises", json=enterprise(nib), headers=headers)
    second = await registry.post("/api/v1/enterprises", json=enterprise(nib), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await registry.post("/api/v1/enterprises", json=enterprise(a_nib()), headers=headers)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["body", "Idempotency-Key"]
    await asyncio.sleep(1)
    assert types_of(await read_topic(kafka.bootstrap_servers, ENTERPRISES.name)) == [
        "EnterpriseRegistered"
    ]


async def test_search_filters_and_cursor_pagination(registry: httpx.AsyncClient) -> None:
    nibs = sorted(a_nib() for _ in range(7))
    for i, nib in enumerate(nibs):
        body = (
            enterprise(nib)
            if i % 2 == 0
            else enterprise(nib, province_code="51", regency_code="5106", kbli="10110")
        )
        assert (await registry.post("/api/v1/enterprises", json=body)).status_code == 201
    await registry.post(
        f"/api/v1/enterprises/{nibs[0]}/certificates",
        json={"scheme": "HALAL", "number": "H-1", "issuer": "BPJPH", "issued_on": "2026-01-01"},
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await registry.get(
                "/api/v1/enterprises",
                params={
                    "province_code": "35",
                    "limit": 2,
                    **({"cursor": cursor} if cursor else {}),
                },
            )
        ).json()
        seen += [item["nib"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == nibs[0::2]
    bangli = (await registry.get("/api/v1/enterprises", params={"regency_code": "5106"})).json()
    assert [i["nib"] for i in bangli["items"]] == nibs[1::2]
    halal = await registry.get("/api/v1/enterprises", params={"certificate_scheme": "HALAL"})
    assert [i["nib"] for i in halal.json()["items"]] == [nibs[0]]
    small = (await registry.get("/api/v1/enterprises", params={"size_class": "small"})).json()
    assert len(small["items"]) == 7
    too_many = await registry.get("/api/v1/enterprises", params={"limit": 10_000})
    assert too_many.status_code == 422


async def test_enrollment_completed_records_the_certificate_once(
    registry: httpx.AsyncClient, kafka: KafkaSettings
) -> None:
    nib = a_nib()
    await registry.post("/api/v1/enterprises", json=enterprise(nib))
    completed = EnrollmentCompleted(
        enrollment_id="enr-iso9001-1",
        enrollment=EnrollmentFacts(
            enrollment_id="enr-iso9001-1",
            nib=nib,
            province_code="35",
            program_code="ISO9001-2024",
            budget_line_id="bl-1",
            fiscal_year=2024,
            certificate_scheme=CertificateScheme.ISO_9001,
        ),
        certificate=CertificateOutcome(
            scheme=CertificateScheme.ISO_9001,
            number="ISO-9001-2024-17",
            issuer="BBLM",
            issued_on=date.today(),
            expires_on=date.today() + timedelta(days=3 * 365),
        ),
        realised_idr=25_000_000,
        completed_at="2024-10-01T00:00:00Z",  # type: ignore[arg-type]
    )
    message = encode(completed, source="/ikm/programs")
    for event_id in (message.event_id, message.event_id, "another-delivery-of-the-outcome"):
        await produce(
            kafka.bootstrap_servers,
            ENROLLMENTS.name,
            message.value,
            key=message.key.encode(),
            headers={**message.headers, "ce_id": event_id},
        )

    async def certificates() -> list[dict[str, object]]:
        return (await registry.get(f"/api/v1/enterprises/{nib}")).json()["certificates"]

    found = await eventually(certificates, lambda c: len(c) >= 1)
    await asyncio.sleep(1.5)
    assert len(await certificates()) == 1
    assert found[0]["enrollment_id"] == "enr-iso9001-1"
    assert found[0]["number"] == "ISO-9001-2024-17"
    certified = [
        r
        for r in await read_topic(kafka.bootstrap_servers, ENTERPRISES.name)
        if types_of([r]) == ["EnterpriseCertified"]
    ]
    assert len(certified) == 1
    assert json.loads(certified[0].value)["enrollment_id"] == "enr-iso9001-1"


async def test_bulk_import_of_ten_thousand_rows_counts_exactly(
    registry: httpx.AsyncClient, kafka: KafkaSettings, tmp_path: Path
) -> None:
    rng = random.Random(7)
    path = tmp_path / "register.csv"
    bad_lines: dict[int, str] = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "nib",
                "name",
                "province_code",
                "regency_code",
                "kbli",
                "workforce",
                "investment_idr",
                "owner_nik",
            ]
        )
        for i in range(10_000):
            line = i + 2
            row = [
                f"7{i:012d}",
                f"IKM {i}",
                "35",
                "3517",
                "10110",
                str(rng.randint(1, 19)),
                str(rng.randint(1, 900) * 1_000_000),
                f"35170101{i:08d}",
            ]
            if i % 97 == 0:
                row[0] = "123"
                bad_lines[line] = "nib"
            elif i % 89 == 0:
                row[4] = "47111"
                bad_lines[line] = "kbli"
            elif i % 83 == 0:
                row[5] = "-4"
                bad_lines[line] = "workforce"
            elif i % 79 == 0:
                row[5] = "lots"
                bad_lines[line] = "workforce"
            elif i % 73 == 0:
                row[0] = "7000000000001"  # the same NIB as line 3
                bad_lines[line] = "nib"
            writer.writerow(row)

    result = await import_enterprises(registry, path)

    assert result.accepted == 10_000 - len(bad_lines)
    assert {r.line: r.reasons[0].split(":")[0] for r in result.rejected} == bad_lines
    records = await wait_for_records(
        kafka.bootstrap_servers, ENTERPRISES.name, result.accepted, timeout_s=60
    )
    assert len(records) == result.accepted
    assert len({r.key for r in records}) == result.accepted
    again = await import_enterprises(registry, path)
    assert (again.accepted, len(again.rejected)) == (result.accepted, len(result.rejected))


async def test_database_outage_answers_503_and_writes_nothing(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> None:
    if not databases.use_postgres:
        pytest.skip("needs PostgreSQL behind a proxy")
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    host, port = settings.database_url.split("@")[-1].split("/")[0].rsplit(":", 1)
    proxy = CuttableProxy(free_port(), host, int(port))
    await proxy.start()
    proxied = settings.database_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.listen_port}")
    try:
        async with running(
            create_app(settings.model_copy(update={"database_url": proxied}))
        ) as api:
            proxy.cut()
            nib = a_nib()
            refused = await api.post("/api/v1/enterprises", json=enterprise(nib))
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["detail"][0]["type"] == "unavailable"
            proxy.restore()
            assert (await api.get(f"/api/v1/enterprises/{nib}")).status_code == 404
            accepted = await api.post("/api/v1/enterprises", json=enterprise(nib))
            assert accepted.status_code == 201, accepted.text
    finally:
        await proxy.stop()


async def test_a_bulk_import_waits_for_the_relay_and_answers_503_when_it_stays_behind(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> None:
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    settings = settings.model_copy(update={"relay_max_backlog": 5, "relay_max_wait_s": 0.5})
    app = create_app(settings)
    async with running(app) as registry:
        relay = app.state.runtime.relay
        relay.stop()  # nothing publishes: the backlog stays
        first = [enterprise(a_nib()) for _ in range(10)]
        answer = await registry.post("/api/v1/enterprises/bulk", json={"rows": first})
        assert answer.status_code == 200 and answer.json()["accepted"] == 10

        late = [enterprise(a_nib()) for _ in range(3)]
        answer = await registry.post("/api/v1/enterprises/bulk", json={"rows": late})
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["detail"][0]["type"] == "busy"
        assert (await registry.get(f"/api/v1/enterprises/{late[0]['nib']}")).status_code == 404

        while await relay.publish_pending():
            pass
        answer = await registry.post("/api/v1/enterprises/bulk", json={"rows": late})
        assert answer.status_code == 200 and answer.json()["accepted"] == 3
    records = await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 10)
    nibs = {json.loads(r.value)["nib"] for r in records}
    assert {row["nib"] for row in first} <= nibs
