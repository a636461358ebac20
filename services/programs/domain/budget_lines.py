"""Budget lines: a program's pagu and quota for one fiscal year, mechanism and province.

Every function keeps two invariants (the database repeats them as CHECK constraints):
``reserved + realised <= pagu`` and ``places taken <= quota``. Amounts are integer rupiah.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from services.programs.clock import ministry_date
from services.programs.domain.money import rupiah
from services.programs.domain.programs import (
    PROVINCE_CODE,
    Program,
    check_takes_budget_and_enrollments,
)
from shared.errors import Conflict, DomainError
from shared.events.programs import (
    BudgetAllocated,
    BudgetCancelled,
    BudgetClosed,
    BudgetLineFacts,
    BudgetPostponed,
    BudgetRealised,
    BudgetRefocused,
    BudgetResumed,
)
from shared.events.vocabulary import BudgetMechanism, CertificateScheme

PROVINCIAL_MECHANISMS = frozenset(
    {BudgetMechanism.DEKONSENTRASI, BudgetMechanism.TUGAS_PEMBANTUAN, BudgetMechanism.DAK_FISIK}
)
# Seed S1: Ditjen IKMA's dekonsentrasi activities became tugas pembantuan from fiscal year 2024.
LAST_DEKONSENTRASI_YEAR = 2023
FISCAL_YEARS = range(2000, 2101)


class LineStatus(StrEnum):
    OPEN = "open"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"
    CLOSED = "closed"


FINISHED = frozenset({LineStatus.CANCELLED, LineStatus.CLOSED})


@dataclass(frozen=True)
class BudgetLine:
    id: str
    program_code: str
    fiscal_year: int
    mechanism: BudgetMechanism
    province_code: str | None
    allocated_idr: int  # the pagu at allocation; ``pagu_idr`` moves with refocusing
    pagu_idr: int
    quota_enterprises: int
    allocated_at: datetime
    reserved_idr: int = 0
    realised_idr: int = 0
    quota_used: int = 0  # places taken by approved enrollments, completed ones included
    status: LineStatus = LineStatus.OPEN
    status_reason: str | None = None
    postponed_at: datetime | None = None
    postponement_deadline: date | None = None
    version: int = 1

    @property
    def available_idr(self) -> int:
        return self.pagu_idr - self.reserved_idr - self.realised_idr

    @property
    def quota_left(self) -> int:
        return self.quota_enterprises - self.quota_used

    def facts(self) -> BudgetLineFacts:
        return BudgetLineFacts(
            budget_line_id=self.id,
            program_code=self.program_code,
            fiscal_year=self.fiscal_year,
            mechanism=self.mechanism,
            province_code=self.province_code,
        )

    def describe(self) -> str:
        return f"budget line {self.id} ({self.program_code}, {self.fiscal_year})"


def _reason(text: str) -> str:
    text = text.strip()
    if not text:
        raise DomainError("reason must not be empty", field="reason")
    return text


def allocate(
    program: Program,
    *,
    line_id: str,
    fiscal_year: int,
    mechanism: BudgetMechanism,
    province_code: str | None,
    pagu_idr: int,
    quota_enterprises: int,
    actor: str,
    now: datetime,
) -> tuple[BudgetLine, BudgetAllocated]:
    check_takes_budget_and_enrollments(program)
    if fiscal_year not in FISCAL_YEARS:
        raise DomainError("fiscal_year must be between 2000 and 2100", field="fiscal_year")
    if mechanism in PROVINCIAL_MECHANISMS:
        if province_code is None or not PROVINCE_CODE.fullmatch(province_code):
            raise DomainError(
                f"a {mechanism} line is spent by a province: province_code must be its "
                "2-digit Kemendagri code",
                field="province_code",
            )
    elif province_code is not None:
        raise DomainError(
            "a pusat line is spent centrally: leave province_code empty", field="province_code"
        )
    if mechanism is BudgetMechanism.DEKONSENTRASI and fiscal_year > LAST_DEKONSENTRASI_YEAR:
        raise DomainError(
            f"dekonsentrasi ended in {LAST_DEKONSENTRASI_YEAR}; from 2024 these activities are "
            "tugas pembantuan",
            field="mechanism",
        )
    if pagu_idr < 0:
        raise DomainError("pagu_idr must not be negative", field="pagu_idr")
    if quota_enterprises < 0:
        raise DomainError("quota_enterprises must not be negative", field="quota_enterprises")
    line = BudgetLine(
        id=line_id,
        program_code=program.code,
        fiscal_year=fiscal_year,
        mechanism=mechanism,
        province_code=province_code,
        allocated_idr=pagu_idr,
        pagu_idr=pagu_idr,
        quota_enterprises=quota_enterprises,
        allocated_at=now,
    )
    event = BudgetAllocated(
        budget_line_id=line.id,
        line=line.facts(),
        pagu_idr=pagu_idr,
        quota_enterprises=quota_enterprises,
        allocated_at=now,
        actor=actor,
    )
    return line, event


def check_takes_enrollments(line: BudgetLine) -> None:
    """Refuse, naming the line's state and its reason, unless the line is open."""
    if line.status is LineStatus.OPEN:
        return
    message = f"{line.describe()} is {line.status}: {line.status_reason}"
    if line.status is LineStatus.POSTPONED and line.postponement_deadline is not None:
        message += f" (enrollments are cancelled if not resumed by {line.postponement_deadline})"
    raise Conflict(message, field="budget_line_id")


def capacity_shortfalls(line: BudgetLine, amount_idr: int) -> list[str]:
    """Why the line cannot take one more enterprise at ``amount_idr``; empty when it can."""
    shortfalls = []
    if line.quota_left <= 0:
        shortfalls.append(
            f"quota exhausted: {line.quota_used} of {line.quota_enterprises} places on "
            f"{line.describe()} are taken"
        )
    if amount_idr > line.available_idr:
        shortfalls.append(
            f"pagu exhausted: {rupiah(line.available_idr)} left on {line.describe()}, "
            f"{rupiah(amount_idr)} needed"
        )
    return shortfalls


def reserve(line: BudgetLine, amount_idr: int) -> BudgetLine:
    check_takes_enrollments(line)
    shortfalls = capacity_shortfalls(line, amount_idr)
    if shortfalls:
        raise Conflict("; ".join(shortfalls), field="budget_line_id")
    return replace(
        line,
        reserved_idr=line.reserved_idr + amount_idr,
        quota_used=line.quota_used + 1,
        version=line.version + 1,
    )


def release(line: BudgetLine, amount_idr: int) -> BudgetLine:
    """Give back one enrollment's place and reservation (it was cancelled or withdrawn)."""
    if not 0 <= amount_idr <= line.reserved_idr or line.quota_used < 1:
        raise ValueError(f"{line.describe()} holds no such reservation ({amount_idr})")
    return replace(
        line,
        reserved_idr=line.reserved_idr - amount_idr,
        quota_used=line.quota_used - 1,
        version=line.version + 1,
    )


def settle(
    line: BudgetLine,
    *,
    reserved_idr: int,
    realised_idr: int,
    enrollment_id: str,
    actor: str,
    now: datetime,
) -> tuple[BudgetLine, BudgetRealised | None]:
    """An enrollment finished: what it spent is realised, the rest of its reservation released.

    The enterprise keeps its place in the quota: it was supported.
    """
    if realised_idr < 0:
        raise DomainError("realised_idr must not be negative", field="realised_idr")
    if realised_idr > reserved_idr:
        raise DomainError(
            f"realised {rupiah(realised_idr)} exceeds the {rupiah(reserved_idr)} reserved for "
            f"enrollment {enrollment_id}",
            field="realised_idr",
        )
    if reserved_idr > line.reserved_idr:
        raise ValueError(f"{line.describe()} holds less than {reserved_idr} in reservations")
    settled = replace(
        line,
        reserved_idr=line.reserved_idr - reserved_idr,
        realised_idr=line.realised_idr + realised_idr,
        version=line.version + 1,
    )
    if realised_idr == 0:
        return settled, None
    event = BudgetRealised(
        budget_line_id=line.id,
        line=line.facts(),
        amount_idr=realised_idr,
        realised_total_idr=settled.realised_idr,
        enrollment_id=enrollment_id,
        realised_at=now,
        actor=actor,
    )
    return settled, event


def postpone(
    line: BudgetLine,
    *,
    reason: str,
    deadline: date | None,
    certificate_scheme: CertificateScheme | None,
    actor: str,
    now: datetime,
) -> tuple[BudgetLine, BudgetPostponed]:
    if line.status is not LineStatus.OPEN:
        raise Conflict(
            f"{line.describe()} is {line.status}; only an open line can be postponed",
            field="status",
        )
    reason = _reason(reason)
    if deadline is not None and deadline <= ministry_date(now):
        raise DomainError("deadline must be after today", field="deadline")
    postponed = replace(
        line,
        status=LineStatus.POSTPONED,
        status_reason=reason,
        postponed_at=now,
        postponement_deadline=deadline,
        version=line.version + 1,
    )
    event = BudgetPostponed(
        budget_line_id=line.id,
        line=line.facts(),
        certificate_scheme=certificate_scheme,
        reason=reason,
        deadline=deadline,
        pagu_idr=line.pagu_idr,
        reserved_idr=line.reserved_idr,
        postponed_at=now,
        actor=actor,
    )
    return postponed, event


def resume(
    line: BudgetLine,
    *,
    reason: str,
    certificate_scheme: CertificateScheme | None,
    actor: str,
    now: datetime,
) -> tuple[BudgetLine, BudgetResumed]:
    if line.status is not LineStatus.POSTPONED:
        raise Conflict(
            f"{line.describe()} is {line.status}; only a postponed line can be resumed",
            field="status",
        )
    reason = _reason(reason)
    resumed = replace(
        line,
        status=LineStatus.OPEN,
        status_reason=reason,
        postponed_at=None,
        postponement_deadline=None,
        version=line.version + 1,
    )
    event = BudgetResumed(
        budget_line_id=line.id,
        line=line.facts(),
        certificate_scheme=certificate_scheme,
        reason=reason,
        resumed_at=now,
        actor=actor,
    )
    return resumed, event


def refocus(
    source: BudgetLine,
    target: BudgetLine,
    *,
    amount_idr: int,
    reason: str,
    actor: str,
    now: datetime,
) -> tuple[BudgetLine, BudgetLine, BudgetRefocused]:
    """Move free pagu from ``source`` to ``target``; their sum is the same before and after."""
    if source.id == target.id:
        raise DomainError("a line cannot be refocused onto itself", field="target_budget_line_id")
    for line, field in ((source, "budget_line_id"), (target, "target_budget_line_id")):
        if line.status in FINISHED:
            raise Conflict(f"{line.describe()} is {line.status}", field=field)
    if source.fiscal_year != target.fiscal_year:
        raise DomainError(
            f"refocusing moves money within one fiscal year: {source.fiscal_year} ≠ "
            f"{target.fiscal_year}",
            field="target_budget_line_id",
        )
    if amount_idr <= 0:
        raise DomainError("amount_idr must be positive", field="amount_idr")
    if amount_idr > source.available_idr:
        raise Conflict(
            f"only {rupiah(source.available_idr)} of {source.describe()} is free (pagu "
            f"{rupiah(source.pagu_idr)} − reserved {rupiah(source.reserved_idr)} − realised "
            f"{rupiah(source.realised_idr)}); cannot move {rupiah(amount_idr)}",
            field="amount_idr",
        )
    reason = _reason(reason)
    source_after = replace(
        source, pagu_idr=source.pagu_idr - amount_idr, version=source.version + 1
    )
    target_after = replace(
        target, pagu_idr=target.pagu_idr + amount_idr, version=target.version + 1
    )
    event = BudgetRefocused(
        budget_line_id=source.id,
        line=source.facts(),
        target=target.facts(),
        amount_idr=amount_idr,
        pagu_after_idr=source_after.pagu_idr,
        target_pagu_after_idr=target_after.pagu_idr,
        reason=reason,
        refocused_at=now,
        actor=actor,
    )
    return source_after, target_after, event


def _finish(line: BudgetLine, status: LineStatus, reason: str) -> BudgetLine:
    if line.status in FINISHED:
        raise Conflict(f"{line.describe()} is already {line.status}", field="status")
    if line.reserved_idr:
        raise ValueError(f"{line.describe()} still holds reservations: release them first")
    return replace(
        line,
        status=status,
        status_reason=reason,
        postponed_at=None,
        postponement_deadline=None,
        version=line.version + 1,
    )


def cancel(
    line: BudgetLine, *, released_idr: int, reason: str, actor: str, now: datetime
) -> tuple[BudgetLine, BudgetCancelled]:
    """The budget is withdrawn; the caller has already cancelled the enrollments on it."""
    reason = _reason(reason)
    cancelled = _finish(line, LineStatus.CANCELLED, reason)
    event = BudgetCancelled(
        budget_line_id=line.id,
        line=line.facts(),
        reason=reason,
        released_idr=released_idr,
        cancelled_at=now,
        actor=actor,
    )
    return cancelled, event


def close(
    line: BudgetLine, *, released_idr: int, reason: str, actor: str, now: datetime
) -> tuple[BudgetLine, BudgetClosed]:
    """The books of the fiscal year are closed: what was realised stays, the rest lapses."""
    reason = _reason(reason)
    closed = _finish(line, LineStatus.CLOSED, reason)
    event = BudgetClosed(
        budget_line_id=line.id,
        line=line.facts(),
        reason=reason,
        pagu_idr=line.pagu_idr,
        realised_idr=line.realised_idr,
        released_idr=released_idr,
        closed_at=now,
        actor=actor,
    )
    return closed, event
