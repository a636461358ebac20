"""Enrollments: from request to outcome, and what each step does to the line's money."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from programs_builders import AMOUNT, NIB, NOW

from services.programs.domain import budget_lines, enrollments
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.domain.programs import Program
from shared.errors import Conflict, DomainError
from shared.events.programs import (
    BudgetRealised,
    CertificateOutcome,
    EnrollmentCompleted,
    EnrollmentRejected,
)
from shared.events.vocabulary import CertificateScheme

S = EnrollmentStatus


def requested(program: Program, line: BudgetLine, nib: str = NIB) -> Enrollment:
    enrollment, _ = enrollments.request(
        enrollment_id=f"e-{nib[-3:]}",
        nib=nib,
        province_code="35",
        program=program,
        line=line,
        amount_idr=AMOUNT,
        actor="officer-1",
        now=NOW,
    )
    return enrollment


def eligible(program: Program, line: BudgetLine, nib: str = NIB) -> Enrollment:
    enrollment, _ = enrollments.assess(requested(program, line, nib), [], actor="a", now=NOW)
    return enrollment


def approved(program: Program, line: BudgetLine) -> tuple[Enrollment, BudgetLine]:
    enrollment, line, _ = enrollments.approve(eligible(program, line), line, [], actor="a", now=NOW)
    return enrollment, line


def iso9001_certificate() -> CertificateOutcome:
    return CertificateOutcome(
        scheme=CertificateScheme.ISO_9001,
        number="QMS-2025-0042",
        issuer="PT Sucofindo",
        issued_on=date(2025, 6, 1),
        expires_on=date(2028, 5, 31),
    )


def test_a_request_says_who_enrolled_where(program: Program, line: BudgetLine) -> None:
    enrollment, event = enrollments.request(
        enrollment_id="e-1",
        nib=NIB,
        province_code="35",
        program=program,
        line=line,
        amount_idr=AMOUNT,
        actor="officer-1",
        now=NOW,
    )
    assert enrollment.status is S.REQUESTED
    assert event.subject == "e-1"
    facts = event.enrollment
    assert (facts.nib, facts.province_code, facts.program_code) == (NIB, "35", "ISO9001-2025")
    assert (facts.budget_line_id, facts.fiscal_year) == ("line-1", 2025)
    assert facts.certificate_scheme is CertificateScheme.ISO_9001
    assert event.actor == "officer-1"


def test_an_enterprise_unknown_to_the_register_has_no_province(
    program: Program, line: BudgetLine
) -> None:
    enrollment, event = enrollments.request(
        enrollment_id="e-1",
        nib=NIB,
        province_code=None,
        program=program,
        line=line,
        amount_idr=AMOUNT,
        actor="a",
        now=NOW,
    )
    assert enrollment.province_code == event.enrollment.province_code == ""


@pytest.mark.parametrize("nib", ["912000123456", "91200012345678", "912000123456x"])
def test_a_malformed_nib_is_refused(program: Program, line: BudgetLine, nib: str) -> None:
    with pytest.raises(DomainError) as caught:
        requested(program, line, nib)
    assert caught.value.field == "nib"


def test_the_verdict_is_eligible_or_ineligible_with_every_reason(
    program: Program, line: BudgetLine
) -> None:
    ok, events = enrollments.assess(requested(program, line), [], actor="a", now=NOW)
    assert ok.status is S.ELIGIBLE
    assert events == []
    reasons = ["size class large not in [micro, small, medium]", "KBLI 47111 not in prefixes [10]"]
    refused, events = enrollments.assess(requested(program, line), reasons, actor="a", now=NOW)
    assert refused.status is S.INELIGIBLE
    assert refused.reasons == tuple(reasons)
    (rejected,) = events
    assert isinstance(rejected, EnrollmentRejected)
    assert rejected.reasons == reasons


def test_approval_reserves_a_place_and_the_amount(program: Program, line: BudgetLine) -> None:
    enrollment, reserved_line, event = enrollments.approve(
        eligible(program, line), line, [], actor="officer-2", now=NOW
    )
    assert enrollment.status is S.APPROVED
    assert enrollment.reserved_idr == AMOUNT
    assert (reserved_line.reserved_idr, reserved_line.quota_used) == (AMOUNT, 1)
    assert (event.reserved_idr, event.actor) == (AMOUNT, "officer-2")


def test_approval_is_refused_while_a_rule_fails_and_changes_nothing(
    program: Program, line: BudgetLine
) -> None:
    enrollment = eligible(program, line)
    with pytest.raises(Conflict, match="quota exhausted"):
        enrollments.approve(enrollment, line, ["quota exhausted: 3 of 3"], actor="a", now=NOW)
    with pytest.raises(Conflict, match="only eligible enrollments can be approved"):
        enrollments.approve(requested(program, line), line, [], actor="a", now=NOW)


def test_an_officer_rejects_an_eligible_enrollment_with_reasons(
    program: Program, line: BudgetLine
) -> None:
    rejected, event = enrollments.reject(
        eligible(program, line), ["site visit: no production"], actor="a", now=NOW
    )
    assert rejected.status is S.REJECTED
    assert event.reasons == ["site visit: no production"]
    with pytest.raises(DomainError) as caught:
        enrollments.reject(eligible(program, line), ["  "], actor="a", now=NOW)
    assert caught.value.field == "reasons"


def test_completion_realises_the_spending_and_sends_the_certificate(
    program: Program, line: BudgetLine
) -> None:
    enrollment, line = approved(program, line)
    enrollment, _ = enrollments.start_assistance(enrollment, actor="a", now=NOW)
    assert enrollment.status is S.IN_ASSISTANCE
    completed, settled, events = enrollments.complete(
        enrollment,
        line,
        program,
        certificate=iso9001_certificate(),
        realised_idr=20_000_000,
        actor="officer-3",
        now=NOW,
    )
    assert completed.status is S.COMPLETED
    assert (completed.reserved_idr, completed.realised_idr) == (0, 20_000_000)
    assert (settled.reserved_idr, settled.realised_idr, settled.quota_used) == (0, 20_000_000, 1)
    done, realised = events
    assert isinstance(done, EnrollmentCompleted)
    assert isinstance(realised, BudgetRealised)
    assert done.certificate == iso9001_certificate()
    assert done.realised_idr == 20_000_000
    assert done.actor == "officer-3"
    assert realised.amount_idr == 20_000_000


def test_completion_cannot_spend_more_than_was_reserved(program: Program, line: BudgetLine) -> None:
    enrollment, line = approved(program, line)
    with pytest.raises(DomainError) as caught:
        enrollments.complete(
            enrollment,
            line,
            program,
            certificate=iso9001_certificate(),
            realised_idr=AMOUNT + 1,
            actor="a",
            now=NOW,
        )
    assert caught.value.field == "realised_idr"


def test_only_approved_or_assisted_enrollments_complete(program: Program, line: BudgetLine) -> None:
    with pytest.raises(Conflict, match="only approved, in_assistance enrollments"):
        enrollments.complete(
            eligible(program, line),
            line,
            program,
            certificate=iso9001_certificate(),
            realised_idr=0,
            actor="a",
            now=NOW,
        )


@pytest.mark.parametrize("before", [S.ELIGIBLE, S.APPROVED, S.IN_ASSISTANCE])
def test_a_suspension_resumes_to_exactly_where_it_was(
    program: Program, line: BudgetLine, before: EnrollmentStatus
) -> None:
    enrollment = replace(eligible(program, line), status=before)
    suspended, event = enrollments.suspend(enrollment, reason="postponed", actor="a", now=NOW)
    assert suspended.status is S.SUSPENDED
    assert event.reason == "postponed"
    assert suspended.holds_place == (before is not S.ELIGIBLE)
    resumed, resumed_event = enrollments.resume(suspended, reason="resumed", actor="a", now=NOW)
    assert resumed.status is before
    assert resumed.suspended_from is None
    assert resumed_event.reason == "resumed"


@pytest.mark.parametrize("finished", [S.COMPLETED, S.REJECTED, S.INELIGIBLE, S.CANCELLED])
def test_finished_enrollments_are_neither_suspended_nor_cancelled(
    program: Program, line: BudgetLine, finished: EnrollmentStatus
) -> None:
    enrollment = replace(eligible(program, line), status=finished)
    with pytest.raises(Conflict):
        enrollments.suspend(enrollment, reason="x", actor="a", now=NOW)
    with pytest.raises(Conflict):
        enrollments.cancel(enrollment, line, reason="x", actor="a", now=NOW)
    with pytest.raises(Conflict):
        enrollments.withdraw(enrollment, line, reason="x", actor="a", now=NOW)


def test_cancelling_an_approved_enrollment_releases_its_reservation(
    program: Program, line: BudgetLine
) -> None:
    enrollment, line = approved(program, line)
    cancelled, released_line, event = enrollments.cancel(
        enrollment, line, reason="duplicate application", actor="a", now=NOW
    )
    assert cancelled.status is S.CANCELLED
    assert cancelled.reserved_idr == 0
    assert (released_line.reserved_idr, released_line.quota_used) == (0, 0)
    assert event.released_idr == AMOUNT


def test_withdrawing_a_suspended_approval_releases_it_too(
    program: Program, line: BudgetLine
) -> None:
    enrollment, line = approved(program, line)
    suspended, _ = enrollments.suspend(enrollment, reason="postponed", actor="a", now=NOW)
    withdrawn, released_line, event = enrollments.withdraw(
        suspended, line, reason="no longer interested", actor="ikm", now=NOW
    )
    assert withdrawn.status is S.WITHDRAWN
    assert released_line.reserved_idr == 0
    assert event.released_idr == AMOUNT


def test_cancelling_an_eligible_enrollment_releases_nothing(
    program: Program, line: BudgetLine
) -> None:
    _, same_line, event = enrollments.cancel(
        eligible(program, line), line, reason="x", actor="a", now=NOW
    )
    assert same_line == line
    assert event.released_idr == 0
    with pytest.raises(DomainError) as caught:
        enrollments.cancel(eligible(program, line), line, reason=" ", actor="a", now=NOW)
    assert caught.value.field == "reason"


def test_an_enrollment_moves_only_money_of_its_own_line(program: Program, line: BudgetLine) -> None:
    enrollment, reserved = approved(program, line)
    other = budget_lines.reserve(replace(reserved, id="other"), 0)
    with pytest.raises(ValueError):
        enrollments.cancel(enrollment, other, reason="x", actor="a", now=NOW)
