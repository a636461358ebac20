"""A deterministic, realistic national register of IKM of any size.

Provinces are weighted roughly as IKM are spread across Indonesia (Java carries most units),
regencies are real Kemendagri codes of their province, KBLI codes are real manufacturing codes
weighted towards food, garments, wood and metal products, and the size inputs give mostly
small enterprises, some medium ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache
from typing import Any

from services.registry import reference

# Approximate share of IKM units per province (Java about 60%); others share the rest.
PROVINCE_WEIGHTS = {
    "33": 18,
    "35": 18,
    "32": 15,
    "34": 3,
    "36": 3,
    "31": 2,
    "51": 2,
    "73": 3,
    "12": 3,
    "13": 2,
    "16": 2,
    "18": 2,
    "52": 2,
    "53": 2,
    "63": 1.5,
    "61": 1.5,
    "72": 1,
    "71": 1,
}
DIVISION_WEIGHTS = {
    "10": 30,
    "11": 2,
    "13": 6,
    "14": 12,
    "15": 3,
    "16": 10,
    "22": 2,
    "23": 6,
    "24": 1,
    "25": 6,
    "29": 1,
    "31": 8,
    "32": 4,
}


@cache
def _regencies_by_province() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for code, periods in reference.regencies().items():
        if periods[-1].valid_to is None:
            grouped.setdefault(periods[-1].province_code, []).append(code)
    return grouped


@cache
def _kbli_by_division() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for code in reference.kbli_manufacturing():
        grouped.setdefault(code[:2], []).append(code)
    return grouped


def enterprises(
    count: int, seed: int = 2022, first_nib: int = 1_000_000_000_000
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    regencies = _regencies_by_province()
    provinces = sorted(regencies)
    weights = [PROVINCE_WEIGHTS.get(p, 0.5) for p in provinces]
    kbli = _kbli_by_division()
    divisions = [d for d in DIVISION_WEIGHTS if d in kbli]
    division_weights = [DIVISION_WEIGHTS[d] for d in divisions]
    for i in range(count):
        province = rng.choices(provinces, weights)[0]
        division = rng.choices(divisions, division_weights)[0]
        medium = rng.random() < 0.08
        yield {
            "nib": f"{first_nib + i:013d}",
            "name": f"IKM {i:07d}",
            "province_code": province,
            "regency_code": rng.choice(regencies[province]),
            "kbli": rng.choice(kbli[division]),
            "workforce": rng.randint(20, 99) if medium else rng.randint(1, 19),
            "investment_idr": rng.randint(1, 9) * 1_000_000_000
            if medium
            else rng.randint(5, 900) * 1_000_000,
            "annual_sales_idr": rng.randint(50, 5_000) * 1_000_000,
        }
