"""The CSV importer sends a batch again, with the same Idempotency-Key, after a 503."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cli import importer
from cli.importer import import_enterprises


async def test_a_batch_answered_503_is_sent_again_after_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "register.csv"
    path.write_text("nib,name,province_code,kbli\n8123456789012,CV Uji,35,24202\n")
    seen: list[httpx.Request] = []
    slept: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": []})
        rows = json.loads(request.content)["rows"]
        return httpx.Response(200, json={"accepted": len(rows), "rejected": []})

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(importer.asyncio, "sleep", sleep)
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        result = await import_enterprises(client, path)

    assert result.accepted == 1
    assert slept == [2.0]
    assert len(seen) == 2
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


async def test_a_platform_that_stays_busy_fails_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "register.csv"
    path.write_text("nib,name,province_code,kbli\n8123456789012,CV Uji,35,24202\n")

    async def sleep(_seconds: float) -> None:
        return None

    monkeypatch.setattr(importer.asyncio, "sleep", sleep)
    transport = httpx.MockTransport(lambda _request: httpx.Response(503, json={"detail": []}))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        with pytest.raises(httpx.HTTPStatusError):
            await import_enterprises(client, path)
