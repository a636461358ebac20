"""Loading what a command names, or failing with ``NotFound`` / a stale-version ``Conflict``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.programs.adapters.repository import (
    BudgetLineRepository,
    EnrollmentRepository,
    ProgramRepository,
)
from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.enrollments import Enrollment
from services.programs.domain.programs import Program
from shared.errors import Conflict, NotFound


def check_version(kind: str, key: str, version: int, expected: int | None) -> None:
    """Optimistic concurrency for callers that send ``If-Match``."""
    if expected is not None and expected != version:
        raise Conflict(
            f"{kind} {key} is at version {version}, not {expected}: reload it and retry",
            field="If-Match",
        )


async def program(session: AsyncSession, code: str, field: str = "program_code") -> Program:
    found = await ProgramRepository(session).get(code)
    if found is None:
        raise NotFound(f"no program {code}", field=field)
    return found


async def line(
    session: AsyncSession, line_id: str, *, field: str = "budget_line_id", lock: bool = True
) -> BudgetLine:
    found = await BudgetLineRepository(session).get(line_id, lock=lock)
    if found is None:
        raise NotFound(f"no budget line {line_id}", field=field)
    return found


async def enrollment_and_line(
    session: AsyncSession, enrollment_id: str, expected_version: int | None = None
) -> tuple[Enrollment, BudgetLine]:
    """The enrollment and its line, both locked (line first)."""
    enrollments = EnrollmentRepository(session)
    unlocked = await enrollments.get(enrollment_id)
    if unlocked is None:
        raise NotFound(f"no enrollment {enrollment_id}", field="enrollment_id")
    budget_line = await line(session, unlocked.budget_line_id)
    enrollment = await enrollments.get(enrollment_id, lock=True)
    assert enrollment is not None  # enrollments are never deleted
    check_version("enrollment", enrollment_id, enrollment.version, expected_version)
    return enrollment, budget_line
