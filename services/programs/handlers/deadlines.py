"""The postponement deadline: once passed, enrollments still suspended are cancelled.

Run on a schedule (``app.py``) and safe to run any number of times, on any number of
replicas: each line is handled in its own transaction under its row lock, and only
enrollments still suspended are touched. The deadline lives in the database, so a restart
picks up where the last run stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date

from services.programs.adapters.repository import BudgetLineRepository, EnrollmentRepository
from services.programs.clock import utc_now
from services.programs.domain import cascades
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.handlers import lookups
from shared.unit_of_work import UnitOfWork

UnitsOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


async def expire_postponement(uow: UnitOfWork, line_id: str, today: date) -> list[Enrollment]:
    line = await lookups.line(uow.session, line_id)
    repository = EnrollmentRepository(uow.session)
    suspended = await repository.on_line(line.id, {EnrollmentStatus.SUSPENDED})
    cascade = cascades.expire_postponement(line, suspended, today=today, now=utc_now())
    if not cascade.changed:
        return []
    await BudgetLineRepository(uow.session).save(cascade.line, expected_version=line.version)
    await repository.save_changed(cascade.changed, loaded=suspended)
    await uow.record(*cascade.events)
    return cascade.changed


async def expire_postponements(units_of_work: UnitsOfWork, today: date) -> list[Enrollment]:
    """Cancel what is still suspended on every line whose deadline is before ``today``."""
    async with units_of_work() as uow:
        line_ids = await BudgetLineRepository(uow.session).past_postponement_deadline(today)
    cancelled: list[Enrollment] = []
    for line_id in line_ids:
        async with units_of_work() as uow:
            cancelled += await expire_postponement(uow, line_id, today)
    return cancelled
