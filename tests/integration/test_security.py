"""Who may do what: every role against every registry write route, bad tokens, province scope."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.auth import ROLES, AuthSettings, issue_token
from shared.settings import KafkaSettings, PlatformSettings
from tests.support.platform import Databases, bearer, running, service_settings

pytestmark = pytest.mark.integration


def a_nib() -> str:
    return "6" + "".join(random.choices("0123456789", k=12))


def body(nib: str, province: str = "35", regency: str = "3517") -> dict[str, object]:
    return {
        "nib": nib,
        "name": "CV Uji",
        "province_code": province,
        "regency_code": regency,
        "kbli": "24202",
    }


@pytest.fixture
async def registry(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as client:
        yield client


# (method, path template, body factory, roles allowed); {nib} is an existing enterprise of 35
WRITE_ROUTES = [
    ("POST", "/api/v1/enterprises", lambda nib: body(a_nib()), {"admin", "provincial-operator"}),
    (
        "POST",
        "/api/v1/enterprises/bulk",
        lambda nib: {"rows": [body(a_nib())]},
        {"admin", "provincial-operator"},
    ),
    (
        "PATCH",
        "/api/v1/enterprises/{nib}",
        lambda nib: {"name": "CV Ganti"},
        {"admin", "provincial-operator"},
    ),
    (
        "POST",
        "/api/v1/enterprises/{nib}/close",
        lambda nib: {"closed_on": "2026-01-01", "reason": "test"},
        {"admin", "provincial-operator"},
    ),
    (
        "POST",
        "/api/v1/enterprises/{nib}/certificates",
        lambda nib: {
            "scheme": "HALAL",
            "number": a_nib(),
            "issuer": "BPJPH",
            "issued_on": "2026-01-01",
        },
        {"admin"},
    ),
    ("POST", "/api/v1/certificates/expire", lambda nib: None, {"admin"}),
    (
        "POST",
        "/api/v1/sentra",
        lambda nib: {
            "name": "S",
            "province_code": "35",
            "regency_code": "3517",
            "commodity": "x",
            "designated_on": "2020-01-01",
            "member_nibs": [nib],
        },
        {"admin"},
    ),
]


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_against_every_write_route(registry: httpx.AsyncClient, role: str) -> None:
    outcomes = {}
    for method, template, make_body, allowed in WRITE_ROUTES:
        nib = a_nib()
        assert (await registry.post("/api/v1/enterprises", json=body(nib))).status_code == 201
        headers = bearer(role, province_code="35")
        if method == "PATCH":
            headers["If-Match"] = '"1"'
        response = await registry.request(
            method, template.format(nib=nib), json=make_body(nib), headers=headers
        )
        outcomes[template] = response.status_code
        if role in allowed:
            assert response.status_code not in (401, 403), (template, response.text)
        else:
            assert response.status_code == 403, (template, response.text)
            assert "missing permission" in response.json()["detail"]
    # reading needs only a valid token
    listing = await registry.get("/api/v1/enterprises", headers=bearer(role, "35"))
    assert listing.status_code == 200, outcomes


def forged(claims: dict[str, object], *, key: str = "another-secret", alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def good_claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    settings = AuthSettings()
    return {
        "sub": "u1",
        "roles": ["admin"],
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": now,
        "exp": now + 600,
        **changes,
    }


def alg_none(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("name", "token"),
    [
        (
            "expired",
            forged(
                good_claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
                key=AuthSettings().jwt_secret.get_secret_value(),
            ),
        ),
        (
            "wrong audience",
            forged(
                good_claims(aud="someone-else"), key=AuthSettings().jwt_secret.get_secret_value()
            ),
        ),
        (
            "wrong issuer",
            forged(good_claims(iss="evil"), key=AuthSettings().jwt_secret.get_secret_value()),
        ),
        ("wrong signature", forged(good_claims())),
        ("alg none", alg_none(good_claims())),
        ("garbage", "not-a-jwt"),
    ],
)
async def test_bad_tokens_are_rejected(registry: httpx.AsyncClient, name: str, token: str) -> None:
    response = await registry.post(
        "/api/v1/enterprises", json=body(a_nib()), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, name
    assert response.headers["WWW-Authenticate"] == "Bearer"
    read = await registry.get("/api/v1/enterprises", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 401


async def test_no_token_is_401_but_health_metrics_and_contract_are_open(
    registry: httpx.AsyncClient,
) -> None:
    anonymous = {"Authorization": ""}
    assert (await registry.get("/api/v1/enterprises", headers=anonymous)).status_code == 401
    for path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json", "/asyncapi", "/openapi.json"):
        assert (await registry.get(path, headers=anonymous)).status_code == 200, path


async def test_a_provincial_operator_writes_only_their_province(
    registry: httpx.AsyncClient,
) -> None:
    jatim = bearer("provincial-operator", "35", subject="operator-jatim")
    own, other = a_nib(), a_nib()
    assert (
        await registry.post("/api/v1/enterprises", json=body(own), headers=jatim)
    ).status_code == 201
    bali = await registry.post("/api/v1/enterprises", json=body(other, "51", "5106"), headers=jatim)
    assert bali.status_code == 403
    assert bali.json()["detail"][0]["loc"] == ["body", "province_code"]
    assert (await registry.get(f"/api/v1/enterprises/{other}")).status_code == 404

    # an enterprise of Bali registered by an admin cannot be changed or closed from Jatim
    assert (
        await registry.post("/api/v1/enterprises", json=body(other, "51", "5106"))
    ).status_code == 201
    patch = await registry.patch(
        f"/api/v1/enterprises/{other}", json={"name": "x"}, headers={**jatim, "If-Match": '"1"'}
    )
    assert patch.status_code == 403
    close = await registry.post(
        f"/api/v1/enterprises/{other}/close",
        json={"closed_on": "2026-01-01", "reason": "x"},
        headers=jatim,
    )
    assert close.status_code == 403
    # nor can their own enterprise be moved to another province
    move = await registry.patch(
        f"/api/v1/enterprises/{own}",
        json={"province_code": "51", "regency_code": "5106"},
        headers={**jatim, "If-Match": '"1"'},
    )
    assert move.status_code == 403

    bulk = await registry.post(
        "/api/v1/enterprises/bulk",
        json={"rows": [body(a_nib()), body(a_nib(), "51", "5106")]},
        headers=jatim,
    )
    assert bulk.json()["accepted"] == 1
    (rejected,) = bulk.json()["rejected"]
    assert "may not write" in rejected["problems"][0]["msg"]

    # the actor recorded is the token's subject
    mine = await registry.get(f"/api/v1/enterprises/{own}")
    assert mine.status_code == 200


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    production = PlatformSettings(environment="production", data_dir=tmp_path)
    with pytest.raises(RuntimeError, match="RS256"):
        create_app(RegistrySettings(platform=production, auth=AuthSettings(required=True)))
    with pytest.raises(RuntimeError, match="development JWT secret"):
        create_app(
            RegistrySettings(
                platform=production,
                auth=AuthSettings(required=True, algorithm="RS256", jwks_url="https://idp/jwks"),
            )
        )
    with pytest.raises(RuntimeError, match="AUTH_REQUIRED"):
        create_app(RegistrySettings(platform=production, auth=AuthSettings(required=False)))


def test_issued_tokens_carry_role_and_province() -> None:
    token = issue_token(
        AuthSettings(), subject="op", roles=["provincial-operator"], province_code="63"
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["roles"], claims["province_code"]) == (["provincial-operator"], "63")
