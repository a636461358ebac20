"""Enrollments: an enterprise's way through one program on one budget line.

requested → eligible / ineligible → approved (reserves a place and an amount on the line) →
in assistance → completed; or rejected, withdrawn, cancelled; suspended while the line is
postponed, and resumed to where it was. Functions that move money take and return the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.programs.domain import budget_lines
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.programs import Program, check_outcome
from shared.errors import Conflict, DomainError
from shared.events.base import Event
from shared.events.programs import (
    CertificateOutcome,
    EnrollmentApproved,
    EnrollmentAssistanceStarted,
    EnrollmentCancelled,
    EnrollmentCompleted,
    EnrollmentFacts,
    EnrollmentRejected,
    EnrollmentRequested,
    EnrollmentResumed,
    EnrollmentSuspended,
    EnrollmentWithdrawn,
)
from shared.events.vocabulary import CertificateScheme

NIB = re.compile(r"^\d{13}$")


class EnrollmentStatus(StrEnum):
    REQUESTED = "requested"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    APPROVED = "approved"
    IN_ASSISTANCE = "in_assistance"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"


S = EnrollmentStatus
# Not finished: an enterprise has at most one of these per program and fiscal year.
OPEN = frozenset({S.REQUESTED, S.ELIGIBLE, S.APPROVED, S.IN_ASSISTANCE, S.SUSPENDED})
# What a postponement suspends: everything open that is not suspended already.
SUSPENDABLE = OPEN - {S.SUSPENDED}
RESERVING = frozenset({S.APPROVED, S.IN_ASSISTANCE})


@dataclass(frozen=True)
class Enrollment:
    id: str
    nib: str
    province_code: str  # empty when the enterprise is not in the register
    program_code: str
    budget_line_id: str
    fiscal_year: int
    certificate_scheme: CertificateScheme | None
    amount_idr: int  # what approval reserves on the line
    requested_at: datetime
    status: EnrollmentStatus = S.REQUESTED
    reserved_idr: int = 0  # held on the line now
    realised_idr: int = 0
    reasons: tuple[str, ...] = ()  # every rule failed, when ineligible or rejected
    status_reason: str | None = None
    suspended_from: EnrollmentStatus | None = None
    certificate: CertificateOutcome | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def holds_place(self) -> bool:
        """Whether it occupies a place (and ``reserved_idr``) on its line."""
        status = self.suspended_from if self.status is S.SUSPENDED else self.status
        return status in RESERVING

    def facts(self) -> EnrollmentFacts:
        return EnrollmentFacts(
            enrollment_id=self.id,
            nib=self.nib,
            province_code=self.province_code,
            program_code=self.program_code,
            budget_line_id=self.budget_line_id,
            fiscal_year=self.fiscal_year,
            certificate_scheme=self.certificate_scheme,
        )


def _require(enrollment: Enrollment, allowed: frozenset[EnrollmentStatus], action: str) -> None:
    if enrollment.status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise Conflict(
            f"enrollment {enrollment.id} is {enrollment.status}; only {names} enrollments "
            f"can be {action}",
            field="status",
        )


def _moved(enrollment: Enrollment, now: datetime, **changes: Any) -> Enrollment:
    return replace(enrollment, **changes, updated_at=now, version=enrollment.version + 1)


def request(
    *,
    enrollment_id: str,
    nib: str,
    province_code: str | None,
    program: Program,
    line: BudgetLine,
    amount_idr: int,
    actor: str,
    now: datetime,
) -> tuple[Enrollment, EnrollmentRequested]:
    if not NIB.fullmatch(nib):
        raise DomainError("NIB must be exactly 13 digits", field="nib")
    enrollment = Enrollment(
        id=enrollment_id,
        nib=nib,
        province_code=province_code or "",
        program_code=program.code,
        budget_line_id=line.id,
        fiscal_year=line.fiscal_year,
        certificate_scheme=program.certificate_scheme,
        amount_idr=amount_idr,
        requested_at=now,
        updated_at=now,
    )
    event = EnrollmentRequested(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        requested_at=now,
        actor=actor,
    )
    return enrollment, event


def assess(
    enrollment: Enrollment, failed_rules: Sequence[str], *, actor: str, now: datetime
) -> tuple[Enrollment, list[Event]]:
    """The eligibility verdict: eligible, or ineligible with every rule it failed."""
    _require(enrollment, frozenset({S.REQUESTED}), "assessed")
    if not failed_rules:
        return _moved(enrollment, now, status=S.ELIGIBLE), []
    reasons = tuple(failed_rules)
    ineligible = _moved(enrollment, now, status=S.INELIGIBLE, reasons=reasons)
    rejected = EnrollmentRejected(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reasons=list(reasons),
        rejected_at=now,
        actor=actor,
    )
    return ineligible, [rejected]


def approve(
    enrollment: Enrollment,
    line: BudgetLine,
    failed_rules: Sequence[str],
    *,
    actor: str,
    now: datetime,
) -> tuple[Enrollment, BudgetLine, EnrollmentApproved]:
    """Reserve a place and the amount on the line. Refused (nothing changes) while any rule
    fails: the quota may free up again, or the officer rejects the enrollment."""
    _require(enrollment, frozenset({S.ELIGIBLE}), "approved")
    if failed_rules:
        raise Conflict("; ".join(failed_rules), field="status")
    reserved_line = budget_lines.reserve(line, enrollment.amount_idr)
    approved = _moved(
        enrollment, now, status=S.APPROVED, reserved_idr=enrollment.amount_idr, reasons=()
    )
    event = EnrollmentApproved(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reserved_idr=approved.reserved_idr,
        approved_at=now,
        actor=actor,
    )
    return approved, reserved_line, event


def reject(
    enrollment: Enrollment, reasons: Sequence[str], *, actor: str, now: datetime
) -> tuple[Enrollment, EnrollmentRejected]:
    """An officer turns down an eligible enrollment (e.g. the site visit failed)."""
    _require(enrollment, frozenset({S.ELIGIBLE}), "rejected")
    cleaned = tuple(r.strip() for r in reasons if r.strip())
    if not cleaned:
        raise DomainError("give at least one reason", field="reasons")
    rejected = _moved(enrollment, now, status=S.REJECTED, reasons=cleaned)
    event = EnrollmentRejected(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reasons=list(cleaned),
        rejected_at=now,
        actor=actor,
    )
    return rejected, event


def start_assistance(
    enrollment: Enrollment, *, actor: str, now: datetime
) -> tuple[Enrollment, EnrollmentAssistanceStarted]:
    _require(enrollment, frozenset({S.APPROVED}), "started")
    started = _moved(enrollment, now, status=S.IN_ASSISTANCE)
    event = EnrollmentAssistanceStarted(
        enrollment_id=enrollment.id, enrollment=enrollment.facts(), started_at=now, actor=actor
    )
    return started, event


def complete(
    enrollment: Enrollment,
    line: BudgetLine,
    program: Program,
    *,
    certificate: CertificateOutcome | None,
    realised_idr: int,
    actor: str,
    now: datetime,
) -> tuple[Enrollment, BudgetLine, list[Event]]:
    """Record the outcome; what was spent is realised on the line, the rest released."""
    _require(enrollment, RESERVING, "completed")
    check_outcome(program, certificate)
    settled_line, realised = budget_lines.settle(
        line,
        reserved_idr=enrollment.reserved_idr,
        realised_idr=realised_idr,
        enrollment_id=enrollment.id,
        actor=actor,
        now=now,
    )
    completed = _moved(
        enrollment,
        now,
        status=S.COMPLETED,
        reserved_idr=0,
        realised_idr=realised_idr,
        certificate=certificate,
    )
    event = EnrollmentCompleted(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        certificate=certificate,
        realised_idr=realised_idr,
        completed_at=now,
        actor=actor,
    )
    return completed, settled_line, [event] if realised is None else [event, realised]


def suspend(
    enrollment: Enrollment, *, reason: str, actor: str, now: datetime
) -> tuple[Enrollment, EnrollmentSuspended]:
    _require(enrollment, SUSPENDABLE, "suspended")
    suspended = _moved(
        enrollment,
        now,
        status=S.SUSPENDED,
        suspended_from=enrollment.status,
        status_reason=reason,
    )
    event = EnrollmentSuspended(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reason=reason,
        suspended_at=now,
        actor=actor,
    )
    return suspended, event


def resume(
    enrollment: Enrollment, *, reason: str, actor: str, now: datetime
) -> tuple[Enrollment, EnrollmentResumed]:
    """Back to exactly where the suspension found it."""
    _require(enrollment, frozenset({S.SUSPENDED}), "resumed")
    assert enrollment.suspended_from is not None
    resumed = _moved(
        enrollment,
        now,
        status=enrollment.suspended_from,
        suspended_from=None,
        status_reason=reason,
    )
    event = EnrollmentResumed(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        resumed_at=now,
        reason=reason,
        actor=actor,
    )
    return resumed, event


def _release(enrollment: Enrollment, line: BudgetLine) -> BudgetLine:
    if enrollment.budget_line_id != line.id:
        raise ValueError(f"enrollment {enrollment.id} is not on {line.describe()}")
    return budget_lines.release(line, enrollment.reserved_idr) if enrollment.holds_place else line


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise DomainError("reason must not be empty", field="reason")
    return reason


def cancel(
    enrollment: Enrollment, line: BudgetLine, *, reason: str, actor: str, now: datetime
) -> tuple[Enrollment, BudgetLine, EnrollmentCancelled]:
    """Stop an open enrollment and give its place and reservation back to the line."""
    _require(enrollment, OPEN - {S.REQUESTED}, "cancelled")
    reason = _checked_reason(reason)
    released_line = _release(enrollment, line)
    cancelled = _moved(enrollment, now, status=S.CANCELLED, reserved_idr=0, status_reason=reason)
    event = EnrollmentCancelled(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reason=reason,
        released_idr=enrollment.reserved_idr,
        cancelled_at=now,
        actor=actor,
    )
    return cancelled, released_line, event


def withdraw(
    enrollment: Enrollment, line: BudgetLine, *, reason: str, actor: str, now: datetime
) -> tuple[Enrollment, BudgetLine, EnrollmentWithdrawn]:
    """The enterprise steps back; its place and reservation go back to the line."""
    _require(enrollment, OPEN - {S.REQUESTED}, "withdrawn")
    reason = _checked_reason(reason)
    released_line = _release(enrollment, line)
    withdrawn = _moved(enrollment, now, status=S.WITHDRAWN, reserved_idr=0, status_reason=reason)
    event = EnrollmentWithdrawn(
        enrollment_id=enrollment.id,
        enrollment=enrollment.facts(),
        reason=reason,
        released_idr=enrollment.reserved_idr,
        withdrawn_at=now,
        actor=actor,
    )
    return withdrawn, released_line, event
