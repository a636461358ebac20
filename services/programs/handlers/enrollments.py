"""Enrollments: the request with its eligibility verdict, and every later transition."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.programs.adapters.repository import BudgetLineRepository, EnrollmentRepository
from services.programs.clock import ministry_date, utc_now
from services.programs.domain import budget_lines, eligibility, enrollments, programs
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.handlers import lookups, replica
from shared.errors import Conflict, Forbidden
from shared.events.base import Event
from shared.events.programs import CertificateOutcome
from shared.unit_of_work import UnitOfWork


async def request(
    uow: UnitOfWork,
    *,
    nib: str,
    budget_line_id: str,
    requested_idr: int | None,
    approve: bool,
    actor: str,
    scope: str | None = None,
) -> Enrollment:
    """Record the request with its verdict: eligible (and approved at once if asked), or
    ineligible with every rule failed. A line or program that takes no enrollments, or an
    open enrollment of the same enterprise in the program and year, refuses the request.
    ``scope`` is the only province the caller may enroll enterprises of (None: any)."""
    now = utc_now()
    session = uow.session
    line = await lookups.line(session, budget_line_id)
    program = await lookups.program(session, line.program_code)
    programs.check_takes_budget_and_enrollments(program)
    budget_lines.check_takes_enrollments(line)
    applicant = await replica.applicant(session, nib, ministry_date(now))
    province = applicant.enterprise.province_code if applicant.enterprise else None
    if scope is not None and province != scope:
        raise Forbidden(
            f"a provincial operator of province {scope} may not enroll enterprise {nib} "
            f"(province {province or 'unknown'})",
            field="nib",
        )
    enrollment, requested = enrollments.request(
        enrollment_id=str(uuid.uuid4()),
        nib=nib,
        province_code=applicant.enterprise.province_code if applicant.enterprise else None,
        program=program,
        line=line,
        amount_idr=programs.reservation_amount(program, requested_idr),
        actor=actor,
        now=now,
    )
    repository = EnrollmentRepository(session)
    existing = await repository.open_for(nib, program.code, line.fiscal_year)
    if existing is not None:
        raise Conflict(
            f"enterprise {nib} already has enrollment {existing.id} ({existing.status}) in "
            f"program {program.code} for {line.fiscal_year}",
            field="nib",
        )
    failed = eligibility.assess(applicant, program, line, enrollment.amount_idr)
    enrollment, verdict = enrollments.assess(enrollment, failed, actor=actor, now=now)
    events: list[Event] = [requested, *verdict]
    if approve and enrollment.status is EnrollmentStatus.ELIGIBLE:
        enrollment, reserved_line, approved = enrollments.approve(
            enrollment, line, [], actor=actor, now=now
        )
        await BudgetLineRepository(session).save(reserved_line, expected_version=line.version)
        events.append(approved)
    await repository.add(enrollment)
    await uow.record(*events)
    return enrollment


async def check_eligibility(session: AsyncSession, nib: str, budget_line_id: str) -> list[str]:
    """Every rule ``nib`` would fail on the line today, without recording anything."""
    line = await lookups.line(session, budget_line_id, lock=False)
    program = await lookups.program(session, line.program_code)
    applicant = await replica.applicant(session, nib, ministry_date(utc_now()))
    amount = programs.reservation_amount(program, None)
    return eligibility.assess(applicant, program, line, amount)


async def approve(
    uow: UnitOfWork, enrollment_id: str, *, actor: str, expected_version: int | None = None
) -> Enrollment:
    """Re-check the enterprise (the replica may have moved on) and reserve on the line."""
    now = utc_now()
    session = uow.session
    enrollment, line = await lookups.enrollment_and_line(session, enrollment_id, expected_version)
    program = await lookups.program(session, enrollment.program_code)
    applicant = await replica.applicant(session, enrollment.nib, ministry_date(now))
    failed = eligibility.assess(applicant, program, line, enrollment.amount_idr)
    approved, reserved_line, event = enrollments.approve(
        enrollment, line, failed, actor=actor, now=now
    )
    await BudgetLineRepository(session).save(reserved_line, expected_version=line.version)
    await EnrollmentRepository(session).save(approved, expected_version=enrollment.version)
    await uow.record(event)
    return approved


async def reject(
    uow: UnitOfWork,
    enrollment_id: str,
    *,
    reasons: Sequence[str],
    actor: str,
    expected_version: int | None = None,
) -> Enrollment:
    enrollment, _ = await lookups.enrollment_and_line(uow.session, enrollment_id, expected_version)
    rejected, event = enrollments.reject(enrollment, reasons, actor=actor, now=utc_now())
    await EnrollmentRepository(uow.session).save(rejected, expected_version=enrollment.version)
    await uow.record(event)
    return rejected


async def start_assistance(
    uow: UnitOfWork, enrollment_id: str, *, actor: str, expected_version: int | None = None
) -> Enrollment:
    enrollment, _ = await lookups.enrollment_and_line(uow.session, enrollment_id, expected_version)
    started, event = enrollments.start_assistance(enrollment, actor=actor, now=utc_now())
    await EnrollmentRepository(uow.session).save(started, expected_version=enrollment.version)
    await uow.record(event)
    return started


async def complete(
    uow: UnitOfWork,
    enrollment_id: str,
    *,
    certificate: CertificateOutcome | None,
    realised_idr: int,
    actor: str,
    expected_version: int | None = None,
) -> Enrollment:
    session = uow.session
    enrollment, line = await lookups.enrollment_and_line(session, enrollment_id, expected_version)
    program = await lookups.program(session, enrollment.program_code)
    completed, settled_line, events = enrollments.complete(
        enrollment,
        line,
        program,
        certificate=certificate,
        realised_idr=realised_idr,
        actor=actor,
        now=utc_now(),
    )
    await BudgetLineRepository(session).save(settled_line, expected_version=line.version)
    await EnrollmentRepository(session).save(completed, expected_version=enrollment.version)
    await uow.record(*events)
    return completed


async def withdraw(
    uow: UnitOfWork,
    enrollment_id: str,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> Enrollment:
    session = uow.session
    enrollment, line = await lookups.enrollment_and_line(session, enrollment_id, expected_version)
    withdrawn, released_line, event = enrollments.withdraw(
        enrollment, line, reason=reason, actor=actor, now=utc_now()
    )
    await BudgetLineRepository(session).save(released_line, expected_version=line.version)
    await EnrollmentRepository(session).save(withdrawn, expected_version=enrollment.version)
    await uow.record(event)
    return withdrawn


async def cancel(
    uow: UnitOfWork,
    enrollment_id: str,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> Enrollment:
    session = uow.session
    enrollment, line = await lookups.enrollment_and_line(session, enrollment_id, expected_version)
    cancelled, released_line, event = enrollments.cancel(
        enrollment, line, reason=reason, actor=actor, now=utc_now()
    )
    await BudgetLineRepository(session).save(released_line, expected_version=line.version)
    await EnrollmentRepository(session).save(cancelled, expected_version=enrollment.version)
    await uow.record(event)
    return cancelled
