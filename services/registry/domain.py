"""The national IKM register: enterprises and the rules they obey. Pure: no I/O, no framework."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from services.registry import reference
from shared.errors import DomainError
from shared.events.registry import EnterpriseProfile, EnterpriseRegistered

NIB_PATTERN = re.compile(r"^\d{13}$")
KBLI_PATTERN = re.compile(r"^\d{5}$")
PROVINCE_PATTERN = re.compile(r"^\d{2}$")
MANUFACTURING_DIVISIONS = range(10, 34)  # KBLI 2020 category C: golongan pokok 10–33


def check_nib(nib: str) -> str:
    if not NIB_PATTERN.fullmatch(nib):
        raise DomainError("NIB must be exactly 13 digits", field="nib")
    return nib


def check_province(code: str, on: date | None = None) -> str:
    if not PROVINCE_PATTERN.fullmatch(code):
        raise DomainError(
            "province_code must be the 2-digit Kemendagri code", field="province_code"
        )
    if reference.province(code, on) is None:
        raise DomainError(
            f"province_code {code!r} is not a Kemendagri province code valid on "
            f"{(on or date.today()).isoformat()}",
            field="province_code",
        )
    return code


def check_manufacturing_kbli(code: str, field: str = "kbli") -> str:
    if not KBLI_PATTERN.fullmatch(code):
        raise DomainError("KBLI 2020 codes are exactly 5 digits", field=field)
    if int(code[:2]) not in MANUFACTURING_DIVISIONS:
        raise DomainError(
            f"KBLI {code} is not manufacturing: an IKM's primary KBLI must be in divisions 10–33",
            field=field,
        )
    if reference.kbli(code) is None:
        raise DomainError(f"KBLI {code} is not a KBLI 2020 manufacturing code", field=field)
    return code


@dataclass
class Enterprise:
    nib: str
    name: str
    province_code: str
    kbli: str
    registered_at: datetime
    version: int = 1


def register(
    *, nib: str, name: str, province_code: str, kbli: str, now: datetime
) -> tuple[Enterprise, EnterpriseRegistered]:
    name = name.strip()
    if not name:
        raise DomainError("name must not be empty", field="name")
    enterprise = Enterprise(
        nib=check_nib(nib),
        name=name,
        province_code=check_province(province_code, now.date()),
        kbli=check_manufacturing_kbli(kbli),
        registered_at=now,
    )
    event = EnterpriseRegistered(
        nib=enterprise.nib,
        profile=EnterpriseProfile(
            name=enterprise.name, province_code=enterprise.province_code, kbli=enterprise.kbli
        ),
        registered_at=now,
    )
    return enterprise, event
