"""Eligibility: every rule an applicant fails, each as a sentence an officer can act on.

The program's rules are data (``EligibilityRules``); an empty list means no restriction. The
enterprise is judged on the local replica of the registry, the line on its state and capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.programs.domain.budget_lines import BudgetLine, capacity_shortfalls
from services.programs.domain.money import rupiah
from services.programs.domain.programs import Program
from services.programs.domain.replica import EnterpriseReplica
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus


@dataclass(frozen=True)
class Applicant:
    """What the replica knows of an enterprise on the day it applies."""

    nib: str
    enterprise: EnterpriseReplica | None
    certificates_held: frozenset[CertificateScheme] = frozenset()


def _listed(values: list[str]) -> str:
    return f"[{', '.join(values)}]"


def enterprise_shortfalls(applicant: Applicant, program: Program, line: BudgetLine) -> list[str]:
    enterprise = applicant.enterprise
    if enterprise is None or not enterprise.registered:
        return [f"enterprise {applicant.nib} is not in the register"]
    rules = program.eligibility
    failed: list[str] = []
    if enterprise.status is not EnterpriseStatus.ACTIVE:
        failed.append(f"enterprise {applicant.nib} is {enterprise.status}, not active")
    if rules.size_classes:
        allowed = _listed([s.value for s in rules.size_classes])
        if enterprise.size_class is None:
            failed.append(
                f"size class of enterprise {applicant.nib} is unknown, needed in {allowed}"
            )
        elif enterprise.size_class not in rules.size_classes:
            failed.append(f"size class {enterprise.size_class} not in {allowed}")
    kbli = enterprise.kbli or ""
    if rules.kbli_prefixes and not any(kbli.startswith(p) for p in rules.kbli_prefixes):
        failed.append(f"KBLI {kbli} not in prefixes {_listed(rules.kbli_prefixes)}")
    province = enterprise.province_code
    if rules.province_codes and province not in rules.province_codes:
        failed.append(f"province {province} not in {_listed(rules.province_codes)}")
    if line.province_code is not None and province != line.province_code:
        failed.append(
            f"enterprise is in province {province}, {line.describe()} is spent in province "
            f"{line.province_code}"
        )
    for scheme in rules.required_certificates:
        if scheme not in applicant.certificates_held:
            failed.append(f"no valid {scheme} certificate, which the program requires")
    for scheme in rules.excluded_certificates:
        if scheme in applicant.certificates_held:
            failed.append(f"already holds a valid {scheme} certificate")
    ceiling = rules.max_business_capital_idr
    if ceiling is not None:
        capital = enterprise.business_capital_idr
        if capital is None:
            failed.append(
                f"business capital of enterprise {applicant.nib} is unknown, needed at most "
                f"{rupiah(ceiling)}"
            )
        elif capital > ceiling:
            failed.append(f"business capital {rupiah(capital)} above the maximum {rupiah(ceiling)}")
    return failed


def assess(applicant: Applicant, program: Program, line: BudgetLine, amount_idr: int) -> list[str]:
    """Every rule failed: the enterprise's, then the line's capacity. Empty means eligible."""
    return enterprise_shortfalls(applicant, program, line) + capacity_shortfalls(line, amount_idr)
