"""Fault-injection suite (issue #12): ``make test-faults``."""
