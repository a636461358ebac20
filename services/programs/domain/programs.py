"""Assistance programs: what they offer, to whom, and what their enrollments may produce."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from services.programs.domain.money import rupiah
from shared.errors import Conflict, DomainError
from shared.events.programs import (
    Benefit,
    CertificateOutcome,
    EligibilityRules,
    ProgramClosed,
    ProgramOpened,
)
from shared.events.vocabulary import CertificateScheme, ProgramType

PROGRAM_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,39}$")
KBLI_PREFIX = re.compile(r"^\d{1,5}$")
PROVINCE_CODE = re.compile(r"^\d{2}$")

# Facilitation programs lead to one certificate by definition (TKDN IK: Permenperin 46/2022).
IMPLIED_SCHEME = {
    ProgramType.TKDN_IK_FACILITATION: CertificateScheme.TKDN_IK,
    ProgramType.HALAL_FACILITATION: CertificateScheme.HALAL,
}


class ProgramStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Program:
    code: str
    name: str
    program_type: ProgramType
    certificate_scheme: CertificateScheme | None
    directorate: str
    eligibility: EligibilityRules
    benefit: Benefit
    opened_on: date
    status: ProgramStatus = ProgramStatus.OPEN
    closed_on: date | None = None
    close_reason: str | None = None
    version: int = 1


def open_program(
    *,
    code: str,
    name: str,
    program_type: ProgramType,
    certificate_scheme: CertificateScheme | None,
    directorate: str,
    eligibility: EligibilityRules,
    benefit: Benefit,
    opened_on: date,
    actor: str,
) -> tuple[Program, ProgramOpened]:
    if not PROGRAM_CODE.fullmatch(code):
        raise DomainError(
            "code must be 2–40 capital letters, digits, '.', '_' or '-', e.g. ISO9001-2024",
            field="code",
        )
    name, directorate = name.strip(), directorate.strip()
    if not name:
        raise DomainError("name must not be empty", field="name")
    if not directorate:
        raise DomainError("directorate must not be empty", field="directorate")
    program = Program(
        code=code,
        name=name,
        program_type=program_type,
        certificate_scheme=_scheme(program_type, certificate_scheme),
        directorate=directorate,
        eligibility=_checked_rules(eligibility),
        benefit=_checked_benefit(benefit),
        opened_on=opened_on,
    )
    event = ProgramOpened(
        program_code=program.code,
        name=program.name,
        program_type=program.program_type,
        certificate_scheme=program.certificate_scheme,
        directorate=program.directorate,
        eligibility=program.eligibility,
        benefit=program.benefit,
        opened_on=opened_on,
        actor=actor,
    )
    return program, event


def _scheme(
    program_type: ProgramType, scheme: CertificateScheme | None
) -> CertificateScheme | None:
    implied = IMPLIED_SCHEME.get(program_type)
    if implied is not None and scheme not in (None, implied):
        raise DomainError(
            f"a {program_type} program leads to {implied}, not {scheme}",
            field="certificate_scheme",
        )
    if program_type is ProgramType.CERTIFICATION_ASSISTANCE and scheme is None:
        raise DomainError(
            "a certification assistance program needs the certificate_scheme it leads to",
            field="certificate_scheme",
        )
    return scheme or implied


def _checked_rules(rules: EligibilityRules) -> EligibilityRules:
    for prefix in rules.kbli_prefixes:
        if not KBLI_PREFIX.fullmatch(prefix):
            raise DomainError(
                f"KBLI prefix {prefix!r} must be 1–5 digits (KBLI 2020 codes carry no letter)",
                field="eligibility.kbli_prefixes",
            )
    for code in rules.province_codes:
        if not PROVINCE_CODE.fullmatch(code):
            raise DomainError(
                f"province code {code!r} must be the 2-digit Kemendagri code",
                field="eligibility.province_codes",
            )
    both = set(rules.required_certificates) & set(rules.excluded_certificates)
    if both:
        raise DomainError(
            f"{', '.join(sorted(both))} cannot be both required and excluded",
            field="eligibility.excluded_certificates",
        )
    return rules


def _checked_benefit(benefit: Benefit) -> Benefit:
    low, high = benefit.min_amount_idr, benefit.max_amount_idr
    if low is not None and high is not None and low > high:
        raise DomainError(
            f"min_amount_idr {rupiah(low)} is above max_amount_idr {rupiah(high)}",
            field="benefit.min_amount_idr",
        )
    fixed = benefit.amount_per_enterprise_idr
    if fixed is not None and (
        (low is not None and fixed < low) or (high is not None and fixed > high)
    ):
        raise DomainError(
            f"amount_per_enterprise_idr {rupiah(fixed)} is outside min/max",
            field="benefit.amount_per_enterprise_idr",
        )
    return benefit


def close_program(
    program: Program, *, reason: str, closed_on: date, actor: str
) -> tuple[Program, ProgramClosed]:
    if program.status is ProgramStatus.CLOSED:
        raise Conflict(f"program {program.code} is already closed", field="status")
    reason = reason.strip()
    if not reason:
        raise DomainError("reason must not be empty", field="reason")
    if closed_on < program.opened_on:
        raise DomainError(
            f"closed_on must not be before the opening ({program.opened_on})", field="closed_on"
        )
    closed = replace(
        program,
        status=ProgramStatus.CLOSED,
        closed_on=closed_on,
        close_reason=reason,
        version=program.version + 1,
    )
    event = ProgramClosed(
        program_code=program.code, closed_on=closed_on, reason=reason, actor=actor
    )
    return closed, event


def check_takes_budget_and_enrollments(program: Program) -> None:
    if program.status is ProgramStatus.CLOSED:
        raise Conflict(
            f"program {program.code} is closed since {program.closed_on}: {program.close_reason}",
            field="program_code",
        )


def reservation_amount(program: Program, requested_idr: int | None) -> int:
    """What an approved enrollment reserves on its line: the amount asked for, within the
    benefit's bounds, or else the fixed amount per enterprise (0 when the program pays none)."""
    benefit = program.benefit
    ceiling = benefit.amount_per_enterprise_idr
    if ceiling is None:
        ceiling = benefit.max_amount_idr
    if requested_idr is None:
        return ceiling or 0
    if requested_idr < 0:
        raise DomainError("requested_idr must not be negative", field="requested_idr")
    if benefit.min_amount_idr is not None and requested_idr < benefit.min_amount_idr:
        raise DomainError(
            f"requested {rupiah(requested_idr)} is below the program's minimum "
            f"{rupiah(benefit.min_amount_idr)}",
            field="requested_idr",
        )
    if ceiling is not None and requested_idr > ceiling:
        raise DomainError(
            f"requested {rupiah(requested_idr)} is above the program's maximum {rupiah(ceiling)}",
            field="requested_idr",
        )
    return requested_idr


def check_outcome(program: Program, certificate: CertificateOutcome | None) -> None:
    """The certificate a completed enrollment reports must be the one the program leads to."""
    if program.program_type is ProgramType.CERTIFICATION_ASSISTANCE and certificate is None:
        raise DomainError(
            f"program {program.code} is certification assistance: the outcome needs the "
            f"{program.certificate_scheme} certificate obtained",
            field="certificate",
        )
    if certificate is None:
        return
    if program.certificate_scheme is None:
        raise DomainError(
            f"program {program.code} leads to no certificate", field="certificate.scheme"
        )
    if certificate.scheme != program.certificate_scheme:
        raise DomainError(
            f"program {program.code} leads to {program.certificate_scheme}, "
            f"not {certificate.scheme}",
            field="certificate.scheme",
        )
    if not certificate.number.strip():
        raise DomainError("certificate number must not be empty", field="certificate.number")
    if not certificate.issuer.strip():
        raise DomainError("certificate issuer must not be empty", field="certificate.issuer")
    if certificate.expires_on is not None and certificate.expires_on <= certificate.issued_on:
        raise DomainError(
            "a certificate must expire after it is issued", field="certificate.expires_on"
        )
