"""Public events of the programs service: assistance programs, budget lines and enrollments.

Amounts are integer rupiah (``*_idr``); fiscal years are calendar years.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.events.base import Event
from shared.events.topics import BUDGET_LINES, ENROLLMENTS, PROGRAMS
from shared.events.vocabulary import BudgetMechanism, CertificateScheme, ProgramType, SizeClass

ACTOR = Field(default=None, description="Who made the change (user id), or 'system'")


class EligibilityRules(BaseModel):
    """Who may enroll; an empty list means no restriction on that dimension."""

    size_classes: list[SizeClass] = Field(default_factory=list)
    kbli_prefixes: list[str] = Field(default_factory=list, examples=[["10", "11"]])
    province_codes: list[str] = Field(default_factory=list)
    required_certificates: list[CertificateScheme] = Field(default_factory=list)
    excluded_certificates: list[CertificateScheme] = Field(
        default_factory=list, description="Enterprises already holding these are not eligible"
    )
    max_business_capital_idr: int | None = Field(default=None, ge=0)


class Benefit(BaseModel):
    reimbursement_rate_pct: float | None = Field(default=None, ge=0, le=100)
    min_amount_idr: int | None = Field(default=None, ge=0)
    max_amount_idr: int | None = Field(default=None, ge=0)
    amount_per_enterprise_idr: int | None = Field(
        default=None, ge=0, description="Amount reserved per approved enrollment"
    )


class ProgramOpened(Event):
    topic = PROGRAMS
    subject_field = "program_code"

    program_code: str = Field(examples=["ISO9001-2024"])
    name: str
    program_type: ProgramType
    certificate_scheme: CertificateScheme | None = Field(
        default=None, description="Certificate the program helps to obtain, if any"
    )
    directorate: str = Field(examples=["Direktorat IKM Logam, Mesin, Elektronika dan Alat Angkut"])
    eligibility: EligibilityRules
    benefit: Benefit
    opened_on: date
    actor: str | None = ACTOR


class ProgramClosed(Event):
    topic = PROGRAMS
    subject_field = "program_code"

    program_code: str
    closed_on: date
    reason: str
    actor: str | None = ACTOR


class BudgetLineFacts(BaseModel):
    """Where a budget line sits: every budget event carries it so readers need no lookup."""

    budget_line_id: str
    program_code: str
    fiscal_year: int = Field(ge=2000, le=2100)
    mechanism: BudgetMechanism
    province_code: str | None = Field(default=None, description="None for central (pusat) lines")


class BudgetAllocated(Event):
    """A budget line was allocated and opened for enrollments."""

    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    pagu_idr: int = Field(ge=0, description="Ceiling, rupiah")
    quota_enterprises: int = Field(ge=0, description="How many enterprises it can support")
    allocated_at: datetime
    actor: str | None = ACTOR


class BudgetPostponed(Event):
    """Spending on a line was postponed (e.g. ISO 14001 assistance 2025, for budget reasons)."""

    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    certificate_scheme: CertificateScheme | None = None
    reason: str
    deadline: date | None = Field(
        default=None, description="After it, suspended enrollments are cancelled"
    )
    pagu_idr: int = Field(ge=0)
    reserved_idr: int = Field(ge=0, description="Amount reserved by approved enrollments")
    postponed_at: datetime
    actor: str | None = ACTOR


class BudgetResumed(Event):
    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    certificate_scheme: CertificateScheme | None = None
    reason: str
    resumed_at: datetime
    actor: str | None = ACTOR


class BudgetRefocused(Event):
    """An amount moved from this line to another (e.g. Covid-19 refocusing, 2020)."""

    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    target: BudgetLineFacts
    amount_idr: int = Field(gt=0)
    pagu_after_idr: int = Field(ge=0, description="This line's pagu after the move")
    target_pagu_after_idr: int = Field(ge=0, description="The target line's pagu after the move")
    reason: str
    refocused_at: datetime
    actor: str | None = ACTOR


class BudgetCancelled(Event):
    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    reason: str
    released_idr: int = Field(ge=0, description="Reserved amount released by the cancellation")
    cancelled_at: datetime
    actor: str | None = ACTOR


class BudgetRealised(Event):
    """Money was spent on a line (an enrollment completed and was paid)."""

    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    amount_idr: int = Field(gt=0)
    realised_total_idr: int = Field(ge=0)
    enrollment_id: str | None = None
    realised_at: datetime
    actor: str | None = ACTOR


class BudgetClosed(Event):
    """The line's books were closed at the end of its fiscal year; unspent pagu lapses."""

    topic = BUDGET_LINES
    subject_field = "budget_line_id"

    budget_line_id: str
    line: BudgetLineFacts
    reason: str
    pagu_idr: int = Field(ge=0)
    realised_idr: int = Field(ge=0, description="Amount spent on the line in its fiscal year")
    released_idr: int = Field(
        ge=0, description="Reservations of unfinished enrollments released by the closing"
    )
    closed_at: datetime
    actor: str | None = ACTOR


class EnrollmentFacts(BaseModel):
    """Who enrolled where: every enrollment event carries it so readers need no lookup."""

    enrollment_id: str
    nib: str
    province_code: str
    program_code: str
    budget_line_id: str
    fiscal_year: int
    certificate_scheme: CertificateScheme | None = Field(
        default=None, description="Certificate the program leads to, if any"
    )


class EnrollmentRequested(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    requested_at: datetime
    actor: str | None = ACTOR


class EnrollmentApproved(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    reserved_idr: int = Field(ge=0)
    approved_at: datetime
    actor: str | None = ACTOR


class EnrollmentRejected(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    reasons: list[str] = Field(min_length=1, description="Every rule the enterprise failed")
    rejected_at: datetime
    actor: str | None = ACTOR


class EnrollmentSuspended(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    reason: str
    suspended_at: datetime
    actor: str | None = ACTOR


class EnrollmentResumed(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    resumed_at: datetime
    reason: str | None = None
    actor: str | None = ACTOR


class EnrollmentAssistanceStarted(Event):
    """Assistance began for an approved enrollment (e.g. the consultant's first visit)."""

    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    started_at: datetime
    actor: str | None = ACTOR


class CertificateOutcome(BaseModel):
    scheme: CertificateScheme
    number: str
    issuer: str
    issued_on: date
    expires_on: date | None = None
    tkdn_pct: float | None = Field(default=None, ge=0, le=100)


class EnrollmentCompleted(Event):
    """Assistance finished with its outcome: a certificate obtained or an amount reimbursed."""

    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    certificate: CertificateOutcome | None = None
    realised_idr: int = Field(default=0, ge=0, description="Amount spent on this enrollment")
    completed_at: datetime
    actor: str | None = ACTOR


class EnrollmentCancelled(Event):
    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    reason: str
    released_idr: int = Field(ge=0, description="Reservation released")
    cancelled_at: datetime
    actor: str | None = ACTOR


class EnrollmentWithdrawn(Event):
    """The enterprise withdrew its enrollment; any reservation is released."""

    topic = ENROLLMENTS
    subject_field = "enrollment_id"

    enrollment_id: str
    enrollment: EnrollmentFacts
    reason: str
    released_idr: int = Field(ge=0, description="Reservation released")
    withdrawn_at: datetime
    actor: str | None = ACTOR
