"""The example subscriber other ministries start from works on the real broker with nothing
of ours but the published schemas."""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from pathlib import Path

import pytest

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.envelope import encode
from shared.events.topics import ENTERPRISES
from shared.settings import KafkaSettings
from tests.support.kafka import produce, wait_for_records
from tests.support.platform import Databases, running, service_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "subscriber" / "consume.py"


def test_the_example_imports_nothing_of_the_platform() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    modules = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not modules & {"shared", "services", "cli"}
    assert {"aiokafka", "jsonschema"} <= modules


async def run_example(kafka: KafkaSettings, store: Path) -> list[dict[str, object]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--bootstrap",
        kafka.bootstrap_servers,
        "--group",
        "external-statistics",
        "--topic",
        ENTERPRISES.name,
        "--schemas",
        str(ROOT / "contracts" / "schemas"),
        "--store",
        str(store),
        "--idle-exit-s",
        "3",
        "--session-timeout-ms",
        "2000",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_the_example_validates_dedupes_and_resumes(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> None:
    settings = await service_settings(RegistrySettings, kafka, databases, tmp_path)
    async with running(create_app(settings)) as registry:
        for nib in ("9120000000201", "9120000000202"):
            body = {"nib": nib, "name": "CV Contoh", "province_code": "35", "kbli": "24202"}
            assert (await registry.post("/api/v1/enterprises", json=body)).status_code == 201
        (first, _) = await wait_for_records(kafka.bootstrap_servers, ENTERPRISES.name, 2)
    # a redelivery of the first event, and a type of a future version it does not know
    headers = {k: v.decode() for k, v in first.headers}
    await produce(
        kafka.bootstrap_servers, ENTERPRISES.name, first.value, key=first.key, headers=headers
    )
    await produce(
        kafka.bootstrap_servers,
        ENTERPRISES.name,
        b'{"nib": "1"}',
        key=b"1",
        headers={**headers, "ce_id": "v9", "ce_type": headers["ce_type"][:-3] + ".v9"},
    )

    store = tmp_path / "applied.sqlite3"
    lines = await run_example(kafka, store)
    # two keys, two partitions: no order between them, each applied once
    assert sorted(line["key"] for line in lines) == ["9120000000201", "9120000000202"]
    assert all(line["type"].endswith("EnterpriseRegistered.v1") for line in lines)
    assert lines[0]["data"]["profile"]["province_code"] == "35"  # type: ignore[index]

    assert await run_example(kafka, store) == []  # offsets committed: nothing again
    assert encode  # the platform's encoder is not what the example uses (see the import test)
