"""The benchmarks' CPU readings: PostgreSQL's total must not fall when a backend exits."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.run import process_cpu_seconds

BUSY_CHILD = [sys.executable, "-c", "sum(range(30_000_000))"]  # a few tenths of a second


def test_the_cpu_of_children_that_have_exited_counts_only_when_asked() -> None:
    own_before = process_cpu_seconds(os.getpid())
    with_children_before = process_cpu_seconds(os.getpid(), reaped_children=True)
    subprocess.run(BUSY_CHILD, check=True)  # waited for: reaped by this process
    own = process_cpu_seconds(os.getpid()) - own_before
    with_children = process_cpu_seconds(os.getpid(), reaped_children=True) - with_children_before
    assert with_children - own >= 0.1
