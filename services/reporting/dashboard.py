"""The reporting dashboard: one HTML page that draws the KPIs from the JSON API."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    page = resources.files("services.reporting").joinpath("static/dashboard.html").read_text()
    return HTMLResponse(page)
