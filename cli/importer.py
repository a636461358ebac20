"""Bulk import of enterprises from a CSV or JSONL file, through the registry's bulk API.

Every row is validated by the registry; bad rows come back with their line number and reasons
while the good ones are registered. Each batch carries an Idempotency-Key derived from the file
and the batch, so re-running an interrupted import gives the same answers, not duplicates.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

INTEGER_COLUMNS = {
    "workforce",
    "investment_idr",
    "business_capital_idr",
    "annual_sales_idr",
}
OWNER_COLUMNS = {"owner_nik": "nik", "owner_phone": "phone", "owner_email": "email"}


@dataclass
class RejectedLine:
    line: int
    nib: str | None
    reasons: list[str]


@dataclass
class ImportResult:
    accepted: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + len(self.rejected)


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value  # left as text: the registry names the field and the rule


def row_from_csv(record: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for column, raw in record.items():
        value = (raw or "").strip()
        if not value or column is None:
            continue
        if column in OWNER_COLUMNS:
            owner[OWNER_COLUMNS[column]] = value
        elif column == "secondary_kbli":
            row[column] = [k.strip() for k in value.split(";") if k.strip()]
        elif column in INTEGER_COLUMNS:
            row[column] = _number(value)
        elif column == "production_quantity":
            row.setdefault("production", {})["quantity"] = _number(value)
        elif column == "production_unit":
            row.setdefault("production", {})["unit"] = value
        else:
            row[column] = value
    if owner:
        row["owner"] = owner
    return row


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for every data line; a line that cannot be parsed yields its error."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield line_number, f"not valid JSON: {exc.msg}"
                    continue
                yield line_number, parsed if isinstance(parsed, dict) else "not a JSON object"
        else:
            reader = csv.DictReader(handle)
            for record in reader:
                yield reader.line_num, row_from_csv(record)


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


async def import_enterprises(
    client: httpx.AsyncClient,
    path: Path,
    *,
    batch_size: int = 1000,
    headers: dict[str, str] | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    result = ImportResult()
    file_key = _fingerprint(path)
    rows = read_rows(path)
    batch_number = 0
    while batch := list(islice(rows, batch_size)):
        batch_number += 1
        payload = []
        for line, row in batch:
            if isinstance(row, str):
                result.rejected.append(RejectedLine(line, None, [row]))
            else:
                payload.append({**row, "line": line})
        if payload:
            response = await _post_batch(
                client,
                payload,
                {**(headers or {}), "Idempotency-Key": f"import-{file_key}-{batch_number}"},
            )
            answer = response.json()
            result.accepted += answer["accepted"]
            result.rejected.extend(
                RejectedLine(
                    r["line"],
                    r["nib"],
                    [
                        f"{p['field']}: {p['msg']}" if p["field"] else p["msg"]
                        for p in r["problems"]
                    ],
                )
                for r in answer["rejected"]
            )
        if on_progress is not None:
            on_progress(result)
    result.rejected.sort(key=lambda r: r.line)
    return result


# A 503 says the platform is behind (or a backing service is away) and nothing was written;
# the batch is sent again after Retry-After under the same Idempotency-Key.
BUSY_RETRIES = 60


async def _post_batch(
    client: httpx.AsyncClient, payload: list[dict[str, Any]], headers: dict[str, str]
) -> httpx.Response:
    for _ in range(BUSY_RETRIES):
        response = await client.post(
            "/api/v1/enterprises/bulk", json={"rows": payload}, headers=headers, timeout=120
        )
        if response.status_code != 503:
            break
        await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
    response.raise_for_status()
    return response


def write_report(result: ImportResult, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "nib", "reasons"])
        for rejected in result.rejected:
            writer.writerow([rejected.line, rejected.nib or "", " | ".join(rejected.reasons)])
