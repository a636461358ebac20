"""The array-parameter check installed in asyncpg answers exactly as the ABC check it replaces."""

from __future__ import annotations

import array
from collections import OrderedDict, deque
from collections.abc import Iterable, Sized
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg.protocol.protocol as asyncpg_protocol
from hypothesis import given
from hypothesis import strategies as st

from shared.pg_arrays import FAST_ITERABLE, FAST_SIZED, speed_up_array_parameters

SAMPLES: list[object] = [
    "text",
    "",
    b"bytes",
    bytearray(b"x"),
    memoryview(b"x"),
    [1, 2],
    (1, 2),
    {1, 2},
    frozenset(),
    {"a": 1},
    OrderedDict(),
    deque([1]),
    range(3),
    array.array("i", [1]),
    iter([1]),
    (x for x in ()),
    {}.keys(),
    1,
    1.5,
    True,
    None,
    Decimal("1.5"),
    datetime.now(UTC),
    object(),
]


def test_the_fast_checks_agree_with_the_abcs_on_every_kind_of_value() -> None:
    for value in SAMPLES:
        assert isinstance(value, FAST_ITERABLE) == isinstance(value, Iterable), value
        assert isinstance(value, FAST_SIZED) == isinstance(value, Sized), value


@given(st.recursive(st.none() | st.integers() | st.text() | st.binary(), st.lists, max_leaves=8))
def test_the_fast_checks_agree_with_the_abcs_on_generated_values(value: object) -> None:
    assert isinstance(value, FAST_ITERABLE) == isinstance(value, Iterable)
    assert isinstance(value, FAST_SIZED) == isinstance(value, Sized)


def test_installing_replaces_the_checks_asyncpg_makes() -> None:
    assert speed_up_array_parameters() is True
    assert asyncpg_protocol.IterableABC is FAST_ITERABLE
    assert asyncpg_protocol.SizedABC is FAST_SIZED
