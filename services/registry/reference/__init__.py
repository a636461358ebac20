"""Packaged reference data for the registry service.

* Kemendagri region codes: provinces (2 digits) and regencies/cities (4 digits), with
  effective dates so that codes retired by the 2022 Papua split stay resolvable.
* KBLI 2020 five-digit *kelompok* codes of category C (manufacturing, divisions 10-33).

Sources and column meanings are documented in ``README.md`` next to this file.
Everything here is read-only, loaded lazily from the packaged CSV files and cached.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from importlib.resources import files
from types import MappingProxyType

__all__ = [
    "KbliCode",
    "Province",
    "Regency",
    "kbli",
    "kbli_manufacturing",
    "province",
    "provinces",
    "provinces_on",
    "regencies",
    "regencies_on",
    "regency",
]


def _valid(valid_from: date | None, valid_to: date | None, day: date) -> bool:
    """Both bounds are inclusive; ``None`` means open-ended."""
    return (valid_from is None or valid_from <= day) and (valid_to is None or day <= valid_to)


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    valid_from: date | None
    valid_to: date | None

    def valid_on(self, day: date) -> bool:
        return _valid(self.valid_from, self.valid_to, day)


@dataclass(frozen=True)
class Regency:
    code: str
    name: str
    kind: str  # "kabupaten" or "kota"
    province_code: str
    valid_from: date | None
    valid_to: date | None

    def valid_on(self, day: date) -> bool:
        return _valid(self.valid_from, self.valid_to, day)


@dataclass(frozen=True)
class KbliCode:
    code: str
    title: str

    @property
    def division(self) -> int:
        """KBLI *golongan pokok* (first two digits)."""
        return int(self.code[:2])


def _rows(filename: str) -> Iterator[dict[str, str]]:
    text = files(__name__).joinpath(filename).read_text(encoding="utf-8")
    yield from csv.DictReader(io.StringIO(text))


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _normalise(code: str) -> str:
    """Accept the dotted Kemendagri notation too (``"35.17"`` -> ``"3517"``)."""
    return code.strip().replace(".", "")


@cache
def provinces() -> Mapping[str, Province]:
    """All provinces ever listed, keyed by code (codes are never reused)."""
    return MappingProxyType(
        {
            row["code"]: Province(
                row["code"], row["name"], _date(row["valid_from"]), _date(row["valid_to"])
            )
            for row in _rows("provinces.csv")
        }
    )


@cache
def regencies() -> Mapping[str, tuple[Regency, ...]]:
    """Regency/city records keyed by code, oldest first (a code may have several periods)."""
    grouped: dict[str, list[Regency]] = {}
    for row in _rows("regencies.csv"):
        record = Regency(
            code=row["code"],
            name=row["name"],
            kind=row["kind"],
            province_code=row["province_code"],
            valid_from=_date(row["valid_from"]),
            valid_to=_date(row["valid_to"]),
        )
        grouped.setdefault(record.code, []).append(record)
    return MappingProxyType(
        {
            code: tuple(sorted(records, key=lambda r: r.valid_from or date.min))
            for code, records in grouped.items()
        }
    )


@cache
def kbli_manufacturing() -> Mapping[str, KbliCode]:
    """KBLI 2020 category C (divisions 10-33) five-digit codes keyed by code."""
    rows = _rows("kbli2020_manufacturing.csv")
    return MappingProxyType({row["code"]: KbliCode(row["code"], row["title"]) for row in rows})


def province(code: str, on: date | None = None) -> Province | None:
    """The province with this code valid on ``on`` (default: today), else ``None``."""
    record = provinces().get(_normalise(code))
    if record is None or not record.valid_on(on or date.today()):
        return None
    return record


def regency(code: str, on: date | None = None) -> Regency | None:
    """The regency/city with this code valid on ``on`` (default: today), else ``None``.

    Retired codes (e.g. ``9101`` before the Papua split) resolve only for dates in their
    period; ``regencies()[code]`` gives every period of a code regardless of date.
    """
    return _regency_on(code, on or date.today())


@lru_cache(maxsize=8192)  # a register import asks about the same few hundred codes and one day
def _regency_on(code: str, day: date) -> Regency | None:
    return next((r for r in regencies().get(_normalise(code), ()) if r.valid_on(day)), None)


def provinces_on(day: date) -> list[Province]:
    return [p for p in provinces().values() if p.valid_on(day)]


def regencies_on(day: date) -> list[Regency]:
    return [r for records in regencies().values() for r in records if r.valid_on(day)]


def kbli(code: str) -> KbliCode | None:
    """Manufacturing KBLI 2020 code, or ``None`` if unknown or outside category C."""
    return kbli_manufacturing().get(code.strip())
