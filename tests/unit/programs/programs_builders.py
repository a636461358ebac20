"""Building blocks for the programs domain tests: a certification program, an open line on it,
and an enterprise that meets every rule. Tests vary them with ``dataclasses.replace``."""

from __future__ import annotations

from datetime import UTC, datetime

from services.programs.domain import budget_lines, programs
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.eligibility import Applicant
from services.programs.domain.programs import Program
from services.programs.domain.replica import EnterpriseReplica
from shared.events.programs import Benefit, EligibilityRules
from shared.events.vocabulary import (
    BudgetMechanism,
    CertificateScheme,
    EnterpriseStatus,
    ProgramType,
    SizeClass,
)

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
NIB = "9120001234567"
AMOUNT = 25_000_000


def open_iso9001(**overrides: object) -> Program:
    fields: dict[str, object] = {
        "code": "ISO9001-2025",
        "name": "Pendampingan sertifikasi ISO 9001",
        "program_type": ProgramType.CERTIFICATION_ASSISTANCE,
        "certificate_scheme": CertificateScheme.ISO_9001,
        "directorate": "Direktorat IKM Logam, Mesin, Elektronika dan Alat Angkut",
        "eligibility": EligibilityRules(
            size_classes=[SizeClass.MICRO, SizeClass.SMALL, SizeClass.MEDIUM],
            kbli_prefixes=["10", "24"],
            excluded_certificates=[CertificateScheme.ISO_9001],
        ),
        "benefit": Benefit(amount_per_enterprise_idr=AMOUNT),
        "opened_on": NOW.date(),
        "actor": "officer-1",
    }
    program, _ = programs.open_program(**{**fields, **overrides})  # type: ignore[arg-type]
    return program


def allocate(program: Program, **overrides: object) -> BudgetLine:
    fields: dict[str, object] = {
        "line_id": "line-1",
        "fiscal_year": 2025,
        "mechanism": BudgetMechanism.PUSAT,
        "province_code": None,
        "pagu_idr": 100_000_000,
        "quota_enterprises": 3,
        "actor": "officer-1",
        "now": NOW,
    }
    line, _ = budget_lines.allocate(program, **{**fields, **overrides})  # type: ignore[arg-type]
    return line


def qualified_applicant() -> Applicant:
    return Applicant(
        nib=NIB,
        enterprise=EnterpriseReplica(
            nib=NIB,
            province_code="35",
            kbli="24202",
            business_capital_idr=800_000_000,
            size_class=SizeClass.SMALL,
            status=EnterpriseStatus.ACTIVE,
            profile_version=1,
            size_class_version=1,
            status_version=1,
        ),
    )
