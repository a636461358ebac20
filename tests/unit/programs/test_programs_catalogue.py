"""Programs: what they offer and to whom, as data, and what their outcomes must be."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from programs_builders import NOW, open_iso9001

from services.programs.domain import programs
from services.programs.domain.programs import Program, ProgramStatus
from shared.errors import Conflict, DomainError
from shared.events.programs import Benefit, CertificateOutcome, EligibilityRules
from shared.events.vocabulary import CertificateScheme, ProgramType


def test_opening_a_program_publishes_its_rules_and_benefit() -> None:
    program, opened = programs.open_program(
        code="ISO14001-2025",
        name="  Pendampingan ISO 14001 ",
        program_type=ProgramType.CERTIFICATION_ASSISTANCE,
        certificate_scheme=CertificateScheme.ISO_14001,
        directorate="Direktorat IKM LMEA",
        eligibility=EligibilityRules(kbli_prefixes=["29"]),
        benefit=Benefit(amount_per_enterprise_idr=40_000_000),
        opened_on=date(2025, 1, 2),
        actor="officer-1",
    )
    assert program.name == "Pendampingan ISO 14001"
    assert program.status is ProgramStatus.OPEN
    assert opened.subject == "ISO14001-2025"
    assert opened.eligibility.kbli_prefixes == ["29"]
    assert opened.benefit.amount_per_enterprise_idr == 40_000_000
    assert opened.actor == "officer-1"


def test_certification_assistance_needs_the_scheme_it_leads_to() -> None:
    with pytest.raises(DomainError) as caught:
        open_iso9001(certificate_scheme=None)
    assert caught.value.field == "certificate_scheme"


def test_facilitation_programs_imply_their_certificate() -> None:
    tkdn = open_iso9001(
        code="TKDN-2025", program_type=ProgramType.TKDN_IK_FACILITATION, certificate_scheme=None
    )
    assert tkdn.certificate_scheme is CertificateScheme.TKDN_IK
    with pytest.raises(DomainError, match="leads to HALAL"):
        open_iso9001(
            program_type=ProgramType.HALAL_FACILITATION,
            certificate_scheme=CertificateScheme.ISO_9001,
        )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": "iso9001"}, "code", "capital letters"),
        ({"code": "X"}, "code", "2–40"),
        ({"name": "  "}, "name", "must not be empty"),
        ({"directorate": ""}, "directorate", "must not be empty"),
        (
            {"eligibility": EligibilityRules(kbli_prefixes=["C10"])},
            "eligibility.kbli_prefixes",
            "1–5 digits",
        ),
        (
            {"eligibility": EligibilityRules(province_codes=["3"])},
            "eligibility.province_codes",
            "2-digit",
        ),
        (
            {
                "eligibility": EligibilityRules(
                    required_certificates=[CertificateScheme.SNI],
                    excluded_certificates=[CertificateScheme.SNI],
                )
            },
            "eligibility.excluded_certificates",
            "both required and excluded",
        ),
        (
            {"benefit": Benefit(min_amount_idr=300_000_000, max_amount_idr=5_000_000)},
            "benefit.min_amount_idr",
            "above max_amount_idr",
        ),
        (
            {"benefit": Benefit(max_amount_idr=5_000_000, amount_per_enterprise_idr=6_000_000)},
            "benefit.amount_per_enterprise_idr",
            "outside min/max",
        ),
    ],
)
def test_bad_programs_are_refused_naming_the_field(
    overrides: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(DomainError) as caught:
        open_iso9001(**overrides)
    assert caught.value.field == field
    assert message in caught.value.message


def test_a_closed_program_takes_no_budget_or_enrollments(program: Program) -> None:
    closed, event = programs.close_program(
        program, reason="ISO 9001 support stopped", closed_on=NOW.date(), actor="officer-1"
    )
    assert closed.status is ProgramStatus.CLOSED
    assert closed.version == program.version + 1
    assert event.reason == "ISO 9001 support stopped"
    with pytest.raises(Conflict, match="closed since 2025-03-01: ISO 9001 support stopped"):
        programs.check_takes_budget_and_enrollments(closed)
    with pytest.raises(Conflict):
        programs.close_program(closed, reason="again", closed_on=NOW.date(), actor="officer-1")


def test_a_program_cannot_close_before_it_opened(program: Program) -> None:
    with pytest.raises(DomainError) as caught:
        programs.close_program(
            program, reason="x", closed_on=NOW.date() - timedelta(days=1), actor="a"
        )
    assert caught.value.field == "closed_on"


def restructuring() -> Program:
    """Machine restructuring: reimbursement between Rp5 m and Rp300 m per company (C18)."""
    return open_iso9001(
        code="RESTRUKTURISASI-2025",
        program_type=ProgramType.MACHINE_RESTRUCTURING,
        certificate_scheme=None,
        benefit=Benefit(
            reimbursement_rate_pct=30, min_amount_idr=5_000_000, max_amount_idr=300_000_000
        ),
    )


def test_reservation_is_the_fixed_amount_or_what_was_asked_within_bounds(
    program: Program,
) -> None:
    assert programs.reservation_amount(program, None) == 25_000_000
    assert programs.reservation_amount(program, 10_000_000) == 10_000_000
    claim = restructuring()
    assert programs.reservation_amount(claim, None) == 300_000_000
    assert programs.reservation_amount(claim, 120_000_000) == 120_000_000
    with pytest.raises(DomainError, match=re.escape("below the program's minimum Rp5.000.000")):
        programs.reservation_amount(claim, 1_000_000)
    with pytest.raises(DomainError, match=re.escape("above the program's maximum Rp300.000.000")):
        programs.reservation_amount(claim, 300_000_001)
    bimtek = replace(program, benefit=Benefit())
    assert programs.reservation_amount(bimtek, None) == 0


def certificate(**overrides: object) -> CertificateOutcome:
    fields: dict[str, object] = {
        "scheme": CertificateScheme.ISO_9001,
        "number": "QMS-2025-0042",
        "issuer": "PT Sucofindo",
        "issued_on": date(2025, 6, 1),
        "expires_on": date(2028, 5, 31),
    }
    return CertificateOutcome(**{**fields, **overrides})  # type: ignore[arg-type]


def test_outcomes_must_be_the_certificate_the_program_leads_to(program: Program) -> None:
    programs.check_outcome(program, certificate())
    with pytest.raises(DomainError) as missing:
        programs.check_outcome(program, None)
    assert missing.value.field == "certificate"
    with pytest.raises(DomainError) as wrong:
        programs.check_outcome(program, certificate(scheme=CertificateScheme.ISO_14001))
    assert wrong.value.field == "certificate.scheme"
    with pytest.raises(DomainError) as backwards:
        programs.check_outcome(program, certificate(expires_on=date(2025, 5, 1)))
    assert backwards.value.field == "certificate.expires_on"
    with pytest.raises(DomainError, match="leads to no certificate"):
        programs.check_outcome(restructuring(), certificate())
    programs.check_outcome(restructuring(), None)
