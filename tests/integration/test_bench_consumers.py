"""``python -m bench.consumers`` keeps working: each consumer, built by its service's composition
root, applies the generated register's events on PostgreSQL."""

from __future__ import annotations

import pytest

from bench.consumers import CONSUMERS, measure
from tests.support.platform import Databases

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", CONSUMERS)
async def test_each_consumer_is_measured_on_postgres(service: str, databases: Databases) -> None:
    if not databases.use_postgres:
        pytest.skip("the consumer benchmark runs on PostgreSQL")
    result = await measure(service, events=40, batch=20, callgrind=False)
    assert result["events"] == 40
    assert result["cpu_us_per_event"] > 0
