"""Fault suite (issue #12): the delivery guarantees of DESIGN.md under faults, on the real
embedded broker and PostgreSQL. Run with ``make test-faults``; ``make test`` leaves it out."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.harness import Report, Rig, rig
from tests.support.platform import Databases

RESULTS = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault-injection suite on the real broker and PostgreSQL (slow)"
    )
    config.stash[RESULTS] = []
    # in-process services set the root logger to INFO: keep the client's request lines out
    logging.getLogger("httpx").setLevel(logging.WARNING)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    results = terminalreporter.config.stash.get(RESULTS, [])
    if results:
        terminalreporter.section("fault suite: time to recover")
        for line in results:
            terminalreporter.write_line(line)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """``report(fault, seconds, details)``: print the time to recover and list it at the end."""
    results = request.config.stash[RESULTS]

    def record(fault: str, seconds: float, details: str = "") -> None:
        line = f"{fault}: recovery: {seconds:.1f}s" + (f" ({details})" if details else "")
        print(f"\n[faults] {line}")
        results.append(line)

    return record


@pytest.fixture
async def platform_rig(
    use_postgres: bool, databases: Databases, tmp_path: Path
) -> AsyncIterator[Rig]:
    if not use_postgres:
        if os.environ.get("IKM_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("the fault suite needs PostgreSQL on 127.0.0.1:5432")
        pytest.skip("the fault suite needs PostgreSQL on 127.0.0.1:5432")
    async with rig(databases, tmp_path) as r:
        yield r
