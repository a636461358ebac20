"""The benchmarks' CPU readings: PostgreSQL's total must not fall when a backend exits, and
its split by database counts what each database's backends spent between two readings."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.run import cpu_by_database, process_cpu_seconds

BUSY_CHILD = [sys.executable, "-c", "sum(range(30_000_000))"]  # a few tenths of a second


def test_the_cpu_of_children_that_have_exited_counts_only_when_asked() -> None:
    own_before = process_cpu_seconds(os.getpid())
    with_children_before = process_cpu_seconds(os.getpid(), reaped_children=True)
    subprocess.run(BUSY_CHILD, check=True)  # waited for: reaped by this process
    own = process_cpu_seconds(os.getpid()) - own_before
    with_children = process_cpu_seconds(os.getpid(), reaped_children=True) - with_children_before
    assert with_children - own >= 0.1


def test_postgres_cpu_by_database_counts_what_each_backend_spent_in_between() -> None:
    before = {101: ("registry", 5.0), 102: ("programs", 1.0), 103: ("registry", 7.0)}
    after = {
        101: ("registry", 5.5),  # spent 0.5 in between
        102: ("programs", 1.25),
        104: ("registry", 0.75),  # connected in between: all of it
        103: ("reporting", 0.5),  # 103 exited and its pid went to another database's backend
    }
    assert cpu_by_database(before, after) == {
        "programs": 0.25,
        "registry": 1.25,
        "reporting": 0.5,
    }
