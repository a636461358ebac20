"""``python -m bench.commands`` keeps working: a registration, a bulk import and a dashboard poll,
each sent to its service started as a process on PostgreSQL and the embedded broker."""

from __future__ import annotations

import pytest

from bench.commands import REQUESTS, measure
from tests.support.platform import Databases

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("request_kind", REQUESTS)
async def test_each_request_is_measured_on_postgres(
    request_kind: str, databases: Databases
) -> None:
    if not databases.use_postgres:
        pytest.skip("the requests' benchmark runs on PostgreSQL")
    request = REQUESTS[request_kind]
    count = request.count(40)
    result = await measure(request_kind, count, callgrind=False)
    assert (result["service"], result["requests"], result["rows"]) == (
        request.service,
        count,
        request.rows,
    )
    assert result["cpu_ms_per_request"] > 0
