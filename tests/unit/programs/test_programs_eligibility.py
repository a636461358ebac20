"""Eligibility: each rule, and every failed rule reported at once in words an officer uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from programs_builders import AMOUNT, NIB

from services.programs.domain import budget_lines
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.eligibility import Applicant, assess
from services.programs.domain.programs import Program
from shared.events.programs import EligibilityRules
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass


def with_enterprise(applicant: Applicant, **changes: Any) -> Applicant:
    assert applicant.enterprise is not None
    return replace(applicant, enterprise=replace(applicant.enterprise, **changes))


def with_rules(program: Program, **rules: object) -> Program:
    return replace(program, eligibility=EligibilityRules(**rules))  # type: ignore[arg-type]


def test_a_qualified_enterprise_fails_nothing(
    applicant: Applicant, program: Program, line: BudgetLine
) -> None:
    assert assess(applicant, program, line, AMOUNT) == []


def test_an_enterprise_missing_from_the_register_is_told_so(
    program: Program, line: BudgetLine
) -> None:
    assert assess(Applicant(nib=NIB, enterprise=None), program, line, AMOUNT) == [
        f"enterprise {NIB} is not in the register"
    ]


Case = Callable[[Applicant, Program, BudgetLine], tuple[Applicant, Program, BudgetLine]]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        (
            lambda a, p, line: (with_enterprise(a, size_class=SizeClass.LARGE), p, line),
            "size class large not in [micro, small, medium]",
        ),
        (
            lambda a, p, line: (with_enterprise(a, size_class=None), p, line),
            f"size class of enterprise {NIB} is unknown, needed in [micro, small, medium]",
        ),
        (
            lambda a, p, line: (with_enterprise(a, kbli="47111"), p, line),
            "KBLI 47111 not in prefixes [10, 24]",
        ),
        (
            lambda a, p, line: (a, with_rules(p, province_codes=["63", "72"]), line),
            "province 35 not in [63, 72]",
        ),
        (
            lambda a, p, line: (a, p, replace(line, province_code="51")),
            "enterprise is in province 35, budget line line-1 (ISO9001-2025, 2025) is spent "
            "in province 51",
        ),
        (
            lambda a, p, line: (
                a,
                with_rules(p, required_certificates=[CertificateScheme.ISO_9001]),
                line,
            ),
            "no valid ISO_9001 certificate, which the program requires",
        ),
        (
            lambda a, p, line: (
                replace(a, certificates_held=frozenset({CertificateScheme.ISO_9001})),
                p,
                line,
            ),
            "already holds a valid ISO_9001 certificate",
        ),
        (
            lambda a, p, line: (a, with_rules(p, max_business_capital_idr=500_000_000), line),
            "business capital Rp800.000.000 above the maximum Rp500.000.000",
        ),
        (
            lambda a, p, line: (
                with_enterprise(a, business_capital_idr=None),
                with_rules(p, max_business_capital_idr=5_000_000_000),
                line,
            ),
            f"business capital of enterprise {NIB} is unknown, needed at most Rp5.000.000.000",
        ),
        (
            lambda a, p, line: (with_enterprise(a, status=EnterpriseStatus.CLOSED), p, line),
            f"enterprise {NIB} is closed, not active",
        ),
        (
            lambda a, p, line: (a, p, replace(line, quota_used=3)),
            "quota exhausted: 3 of 3 places on budget line line-1 (ISO9001-2025, 2025) are taken",
        ),
        (
            lambda a, p, line: (a, p, budget_lines.reserve(line, 80_000_000)),
            "pagu exhausted: Rp20.000.000 left on budget line line-1 (ISO9001-2025, 2025), "
            "Rp25.000.000 needed",
        ),
    ],
)
def test_each_rule_says_what_failed(
    applicant: Applicant, program: Program, line: BudgetLine, case: Case, reason: str
) -> None:
    assert assess(*case(applicant, program, line), AMOUNT) == [reason]


def test_every_failed_rule_is_reported_together(
    applicant: Applicant, program: Program, line: BudgetLine
) -> None:
    failing = with_enterprise(applicant, size_class=SizeClass.LARGE, kbli="47111")
    full = replace(line, quota_used=3)
    reasons = assess(failing, program, full, AMOUNT)
    assert len(reasons) == 3
    assert reasons[0].startswith("size class large")
    assert reasons[1].startswith("KBLI 47111")
    assert reasons[2].startswith("quota exhausted")


def test_empty_rules_restrict_nothing(
    applicant: Applicant, program: Program, line: BudgetLine
) -> None:
    anyone = with_rules(program)
    odd = with_enterprise(applicant, size_class=None, kbli="47111", business_capital_idr=None)
    assert assess(odd, anyone, line, AMOUNT) == []
