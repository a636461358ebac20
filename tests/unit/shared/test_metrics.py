"""``observe_many`` records what ``observe`` called that many times records."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from shared.metrics import observe_many

BUCKETS = (0.001, 0.01, 0.1, 1)


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram(
        "apply_seconds", "test", ["event_type"], registry=registry, buckets=BUCKETS
    )


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    # the _created timestamps differ between two registries made one after the other
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "observations",
    [
        [(0.0005, 500)],  # the first bucket
        [(0.01, 3)],  # exactly on a bound: counted in that bucket, as observe does
        [(0.05, 1), (0.05, 499)],
        [(2.5, 7)],  # above every bound: only +Inf
        [(0.002, 250), (0.3, 2), (0.0, 1)],
    ],
)
def test_observe_many_matches_observe_called_as_many_times(
    observations: list[tuple[float, int]],
) -> None:
    one_by_one, each = _histogram()
    at_once, many = _histogram()
    for seconds, count in observations:
        for _ in range(count):
            each.labels("EnterpriseRegistered").observe(seconds)
        observe_many(many.labels("EnterpriseRegistered"), seconds, count)

    expected = _samples(one_by_one)
    # the sum: one product against many additions, equal up to rounding
    assert _samples(at_once) == {key: pytest.approx(value) for key, value in expected.items()}
    assert expected[("apply_seconds_count", "")] == sum(count for _, count in observations)
