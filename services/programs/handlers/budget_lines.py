"""Budget lines: allocation and every transition, with what each does to the enrollments on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

from services.programs.adapters.repository import BudgetLineRepository, EnrollmentRepository
from services.programs.clock import utc_now
from services.programs.domain import budget_lines, cascades, enrollments
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.cascades import Cascade
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.domain.programs import Program
from services.programs.handlers import lookups
from shared.events.vocabulary import BudgetMechanism
from shared.unit_of_work import UnitOfWork


async def allocate(
    uow: UnitOfWork,
    *,
    program_code: str,
    fiscal_year: int,
    mechanism: BudgetMechanism,
    province_code: str | None,
    pagu_idr: int,
    quota_enterprises: int,
    actor: str,
) -> BudgetLine:
    program = await lookups.program(uow.session, program_code)
    line, allocated = budget_lines.allocate(
        program,
        line_id=str(uuid.uuid4()),
        fiscal_year=fiscal_year,
        mechanism=mechanism,
        province_code=province_code,
        pagu_idr=pagu_idr,
        quota_enterprises=quota_enterprises,
        actor=actor,
        now=utc_now(),
    )
    await BudgetLineRepository(uow.session).add(line)
    await uow.record(allocated)
    return line


async def _cascade(
    uow: UnitOfWork,
    line_id: str,
    statuses: frozenset[EnrollmentStatus],
    expected_version: int | None,
    apply: Callable[[BudgetLine, list[Enrollment], Program], Cascade],
) -> BudgetLine:
    """Lock the line, then its enrollments in ``statuses``; apply; save all; record events."""
    line = await lookups.line(uow.session, line_id)
    lookups.check_version("budget line", line_id, line.version, expected_version)
    program = await lookups.program(uow.session, line.program_code)
    enrollment_repository = EnrollmentRepository(uow.session)
    on_line = await enrollment_repository.on_line(line.id, statuses)
    cascade = apply(line, on_line, program)
    await BudgetLineRepository(uow.session).save(cascade.line, expected_version=line.version)
    await enrollment_repository.save_changed(cascade.changed, loaded=on_line)
    await uow.record(*cascade.events)
    return cascade.line


async def postpone(
    uow: UnitOfWork,
    line_id: str,
    *,
    reason: str,
    deadline: date | None,
    actor: str,
    expected_version: int | None = None,
) -> BudgetLine:
    now = utc_now()
    return await _cascade(
        uow,
        line_id,
        enrollments.SUSPENDABLE,
        expected_version,
        lambda line, on_line, program: cascades.postpone(
            line,
            on_line,
            reason=reason,
            deadline=deadline,
            certificate_scheme=program.certificate_scheme,
            actor=actor,
            now=now,
        ),
    )


async def resume(
    uow: UnitOfWork,
    line_id: str,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> BudgetLine:
    now = utc_now()
    return await _cascade(
        uow,
        line_id,
        frozenset({EnrollmentStatus.SUSPENDED}),
        expected_version,
        lambda line, on_line, program: cascades.resume(
            line,
            on_line,
            reason=reason,
            certificate_scheme=program.certificate_scheme,
            actor=actor,
            now=now,
        ),
    )


async def cancel(
    uow: UnitOfWork,
    line_id: str,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> BudgetLine:
    now = utc_now()
    return await _cascade(
        uow,
        line_id,
        cascades.CANCELLABLE,
        expected_version,
        lambda line, on_line, _program: cascades.cancel(
            line, on_line, reason=reason, actor=actor, now=now
        ),
    )


async def close(
    uow: UnitOfWork,
    line_id: str,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> BudgetLine:
    now = utc_now()
    return await _cascade(
        uow,
        line_id,
        cascades.CANCELLABLE,
        expected_version,
        lambda line, on_line, _program: cascades.close(
            line, on_line, reason=reason, actor=actor, now=now
        ),
    )


async def refocus(
    uow: UnitOfWork,
    line_id: str,
    *,
    target_line_id: str,
    amount_idr: int,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> tuple[BudgetLine, BudgetLine]:
    # Lock both lines in id order, so two opposite refocusings cannot deadlock.
    fields = {line_id: "budget_line_id", target_line_id: "target_budget_line_id"}
    locked = {
        key: await lookups.line(uow.session, key, field=fields[key]) for key in sorted(fields)
    }
    source, target = locked[line_id], locked[target_line_id]
    lookups.check_version("budget line", line_id, source.version, expected_version)
    source_after, target_after, refocused = budget_lines.refocus(
        source, target, amount_idr=amount_idr, reason=reason, actor=actor, now=utc_now()
    )
    lines = BudgetLineRepository(uow.session)
    await lines.save(source_after, expected_version=source.version)
    await lines.save(target_after, expected_version=target.version)
    await uow.record(refocused)
    return source_after, target_after
