"""Who may do what: bearer JWTs, roles, and each service's access policy as data.

Development and tests sign HS256 tokens with a secret from settings (``ikm token`` prints one);
production verifies RS256 tokens against the identity provider's JWKS, checking issuer,
audience, expiry and clock skew, and refuses to start with the development secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from fastapi import HTTPException, Request
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "ikm-development-secret-not-for-production"
ROLES = ("admin", "program-officer", "partnership-officer", "provincial-operator", "viewer")

# What each role may write; reading needs any valid token. "own-province" permissions are
# narrowed by the service to the enterprises of the token's province.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "program-officer": frozenset({"programs:write", "enrollments:write", "enrollments:manage"}),
    "partnership-officer": frozenset({"partnerships:write"}),
    "provincial-operator": frozenset(
        {"enterprises:write:own-province", "enrollments:write:own-province"}
    ),
    "viewer": frozenset(),
}


class AuthSettings(BaseSettings):
    """``AUTH_*``."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    required: bool = True
    algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    jwks_url: str | None = None
    issuer: str = "ikm-platform-dev"
    audience: str = "ikm-platform"
    leeway_s: int = 30

    def check_fit_for(self, environment: str) -> None:
        """Refuse to run production with development credentials."""
        if environment != "production":
            return
        if not self.required:
            raise RuntimeError("AUTH_REQUIRED=false is not allowed in production")
        if self.algorithm != "RS256" or not self.jwks_url:
            raise RuntimeError("production needs AUTH_ALGORITHM=RS256 and AUTH_JWKS_URL")
        if self.jwt_secret.get_secret_value() == DEVELOPMENT_SECRET:
            raise RuntimeError("production must not carry the development JWT secret")


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    province_code: str | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset().union(*(ROLE_PERMISSIONS.get(r, frozenset()) for r in self.roles))

    def may(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions

    def may_in_province(self, permission: str, province_code: str | None) -> bool:
        """Whether this principal may ``permission`` for something in ``province_code``."""
        if self.may(permission):
            return True
        return (
            f"{permission}:own-province" in self.permissions
            and province_code is not None
            and province_code == self.province_code
        )


ANONYMOUS = Principal("anonymous", frozenset({"admin"}))  # only when AUTH_REQUIRED=false


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            if s.algorithm == "RS256":
                if self._jwks is None:
                    raise jwt.InvalidTokenError("no JWKS configured")
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
            else:
                key = s.jwt_secret.get_secret_value()
            claims = jwt.decode(
                token,
                key,
                algorithms=[s.algorithm],  # never "none", never another family than configured
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise HTTPException(
                401, f"invalid bearer token: {exc}", headers={"WWW-Authenticate": "Bearer"}
            ) from exc
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise HTTPException(403, f"token carries no known role (got {sorted(roles)})")
        return Principal(str(claims["sub"]), frozenset(roles), claims.get("province_code"))


def issue_token(
    settings: AuthSettings,
    *,
    subject: str,
    roles: Iterable[str],
    province_code: str | None = None,
    ttl_s: int = 8 * 3600,
) -> str:
    """An HS256 token signed with the configured secret (development and tests)."""
    if settings.algorithm != "HS256":
        raise RuntimeError("tokens are issued by the identity provider in RS256 deployments")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": list(roles),
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if province_code is not None:
        claims["province_code"] = province_code
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


@dataclass(frozen=True)
class Rule:
    """Writes matching ``method`` and a route template pattern need ``permission``."""

    method: str
    route: str
    permission: str

    def matches(self, method: str, route: str) -> bool:
        return method == self.method and re.fullmatch(self.route, route) is not None


class AccessPolicy:
    """A service's rules. Reads need a valid token; a write no rule names is admin-only."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules

    def permission_for(self, method: str, route: str) -> str | None:
        if method in ("GET", "HEAD", "OPTIONS"):
            return None
        return next((r.permission for r in self.rules if r.matches(method, route)), "admin")


def principal_of(request: Request) -> Principal:
    """The authenticated caller (set by the kernel's guard on every API route)."""
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return principal
