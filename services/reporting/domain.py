"""Reporting rules: how facts change the ministry's figures. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProvinceCount:
    province_code: str
    enterprises: int


def national_share(count: int, total: int) -> float:
    """Share of the national total in percent, rounded for display."""
    return round(100.0 * count / total, 2) if total else 0.0
