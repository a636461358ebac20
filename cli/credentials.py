"""Tokens the command line sends for the operator, when authentication is on (development).

In RS256 deployments tokens come from the identity provider: export one as IKM_TOKEN.
"""

from __future__ import annotations

import os

from shared.auth import AuthSettings, issue_token


def bearer_headers(role: str = "admin", subject: str = "ikm-cli") -> dict[str, str]:
    token = os.environ.get("IKM_TOKEN")
    settings = AuthSettings()
    if token is None and settings.required and settings.algorithm == "HS256":
        token = issue_token(settings, subject=subject, roles=[role], ttl_s=8 * 3600)
    return {"Authorization": f"Bearer {token}"} if token else {}


def dashboard_fragment() -> str:
    """``#token=…`` for the dashboard URL: a viewer token the page keeps for its tab only."""
    headers = bearer_headers("viewer", subject="dashboard")
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    return f"#token={token}" if token else ""
