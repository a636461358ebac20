"""Opening and closing assistance programs."""

from __future__ import annotations

from datetime import date

from services.programs.adapters.repository import ProgramRepository
from services.programs.domain import programs
from services.programs.domain.programs import Program
from services.programs.handlers import lookups
from shared.events.programs import Benefit, EligibilityRules
from shared.events.vocabulary import CertificateScheme, ProgramType
from shared.unit_of_work import UnitOfWork


async def open_program(
    uow: UnitOfWork,
    *,
    code: str,
    name: str,
    program_type: ProgramType,
    certificate_scheme: CertificateScheme | None,
    directorate: str,
    eligibility: EligibilityRules,
    benefit: Benefit,
    opened_on: date,
    actor: str,
) -> Program:
    program, opened = programs.open_program(
        code=code,
        name=name,
        program_type=program_type,
        certificate_scheme=certificate_scheme,
        directorate=directorate,
        eligibility=eligibility,
        benefit=benefit,
        opened_on=opened_on,
        actor=actor,
    )
    await ProgramRepository(uow.session).add(program)
    await uow.record(opened)
    return program


async def close_program(
    uow: UnitOfWork,
    code: str,
    *,
    reason: str,
    closed_on: date,
    actor: str,
    expected_version: int | None = None,
) -> Program:
    program = await lookups.program(uow.session, code, field="code")
    lookups.check_version("program", code, program.version, expected_version)
    closed, event = programs.close_program(program, reason=reason, closed_on=closed_on, actor=actor)
    await ProgramRepository(uow.session).save(closed, expected_version=program.version)
    await uow.record(event)
    return closed
