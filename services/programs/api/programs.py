"""Program routes: open, list, read and close assistance programs."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.programs.adapters.repository import ProgramRepository
from services.programs.api.common import (
    Actor,
    IfMatch,
    ReasonIn,
    Runtime,
    Strict,
    answer,
    tag,
)
from services.programs.clock import ministry_today
from services.programs.domain.programs import Program, ProgramStatus
from services.programs.handlers import lookups
from services.programs.handlers import programs as handlers
from shared import db
from shared.events.programs import Benefit, EligibilityRules
from shared.events.vocabulary import CertificateScheme, ProgramType

router = APIRouter(tags=["programs"])


class EligibilityIn(EligibilityRules):
    model_config = ConfigDict(extra="forbid")


class BenefitIn(Benefit):
    model_config = ConfigDict(extra="forbid")


class ProgramIn(Strict):
    code: str = Field(examples=["ISO9001-2024"])
    name: str = Field(max_length=300, examples=["Pendampingan sertifikasi ISO 9001 bagi IKM"])
    program_type: ProgramType
    certificate_scheme: CertificateScheme | None = Field(
        default=None, description="Required for certification assistance"
    )
    directorate: str = Field(
        max_length=300, examples=["Direktorat IKM Logam, Mesin, Elektronika dan Alat Angkut"]
    )
    eligibility: EligibilityIn = Field(default_factory=EligibilityIn)
    benefit: BenefitIn = Field(default_factory=BenefitIn)
    opened_on: date | None = Field(default=None, description="Default: today")


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    program_type: ProgramType
    certificate_scheme: CertificateScheme | None
    directorate: str
    eligibility: EligibilityRules
    benefit: Benefit
    status: ProgramStatus
    opened_on: date
    closed_on: date | None
    close_reason: str | None
    version: int


class CloseProgramIn(ReasonIn):
    closed_on: date | None = Field(default=None, description="Default: today")


def _out(program: Program) -> ProgramOut:
    return ProgramOut.model_validate(program)


@router.post("/programs", status_code=201, response_model=ProgramOut)
async def open_program(
    body: ProgramIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        program = await handlers.open_program(
            command.uow,
            code=body.code,
            name=body.name,
            program_type=body.program_type,
            certificate_scheme=body.certificate_scheme,
            directorate=body.directorate,
            eligibility=EligibilityRules(**body.eligibility.model_dump()),
            benefit=Benefit(**body.benefit.model_dump()),
            opened_on=body.opened_on or ministry_today(),
            actor=actor,
        )
        return await answer(command, 201, _out(program), program.version)


@router.get("/programs", response_model=list[ProgramOut])
async def list_programs(runtime: Runtime) -> list[ProgramOut]:
    async with db.reading(runtime.sessions) as session:
        programs = await ProgramRepository(session).all()
    return [_out(p) for p in programs]


@router.get("/programs/{code}", response_model=ProgramOut)
async def get_program(code: str, runtime: Runtime, response: Response) -> ProgramOut:
    async with db.reading(runtime.sessions) as session:
        program = await lookups.program(session, code, field="code")
    tag(response, program.version)
    return _out(program)


@router.post("/programs/{code}/close", response_model=ProgramOut)
async def close_program(
    code: str,
    body: CloseProgramIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """No new budget lines or enrollments; enrollments under way run to their end."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        program = await handlers.close_program(
            command.uow,
            code,
            reason=body.reason,
            closed_on=body.closed_on or ministry_today(),
            actor=actor,
            expected_version=if_match,
        )
        return await answer(command, 200, _out(program), program.version)
