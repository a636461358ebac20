"""The reporting dashboard: one HTML page whose script draws the KPIs from the JSON API.

Everything the page needs is served from this package (``static/``): no CDN, no web fonts, so it
works on an offline machine or ministry network. The Content-Security-Policy says so to the
browser as well: the page may only talk to this service.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["dashboard"])

ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)$")
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static(name: str) -> bytes:
    return resources.files("services.reporting").joinpath("static", name).read_bytes()


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(
        _static("dashboard.html"), headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    )


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def asset(name: str, request: Request) -> Response:
    """The page's script, stylesheet and data files; revalidated by ETag on every load."""
    match = ASSET_NAME.match(name)
    if match is None or match.group(1) not in ASSET_TYPES:
        raise HTTPException(404)
    try:
        body = _static(name)
    except (FileNotFoundError, IsADirectoryError):
        raise HTTPException(404) from None
    etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=ASSET_TYPES[match.group(1)], headers=headers)
