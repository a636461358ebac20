"""Budget line routes: allocate, read, and every transition (postpone, resume, refocus, cancel,
close), plus a dry-run eligibility check of an enterprise against a line."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.programs.adapters.repository import BudgetLineRepository
from services.programs.api.common import (
    MAX_IDR,
    Actor,
    IfMatch,
    ReasonIn,
    Runtime,
    Strict,
    answer,
    tag,
)
from services.programs.domain.budget_lines import BudgetLine, LineStatus
from services.programs.handlers import budget_lines as handlers
from services.programs.handlers import enrollments, lookups
from shared import db
from shared.events.vocabulary import BudgetMechanism

router = APIRouter(tags=["budget lines"])


class BudgetLineIn(Strict):
    program_code: str = Field(examples=["ISO9001-2024"])
    fiscal_year: int = Field(examples=[2024])
    mechanism: BudgetMechanism
    province_code: str | None = Field(
        default=None, description="Required for dekonsentrasi, tugas pembantuan and DAK Fisik"
    )
    pagu_idr: int = Field(ge=0, le=MAX_IDR, description="Ceiling, rupiah")
    quota_enterprises: int = Field(ge=0, description="How many enterprises it can support")


class BudgetLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    program_code: str
    fiscal_year: int
    mechanism: BudgetMechanism
    province_code: str | None
    allocated_idr: int = Field(description="Pagu at allocation, before any refocusing")
    pagu_idr: int
    reserved_idr: int = Field(description="Held by approved enrollments under way")
    realised_idr: int
    available_idr: int = Field(description="pagu − reserved − realised")
    quota_enterprises: int
    quota_used: int
    quota_left: int
    status: LineStatus
    status_reason: str | None
    postponed_at: datetime | None
    postponement_deadline: date | None
    allocated_at: datetime
    version: int


class PostponeIn(ReasonIn):
    deadline: date | None = Field(
        default=None,
        description="If the line is still postponed after this day, its suspended "
        "enrollments are cancelled and their reservations released",
    )


class RefocusIn(ReasonIn):
    target_budget_line_id: str
    amount_idr: int = Field(gt=0, le=MAX_IDR)


class RefocusOut(BaseModel):
    source: BudgetLineOut
    target: BudgetLineOut


class EligibilityOut(BaseModel):
    nib: str
    budget_line_id: str
    eligible: bool
    reasons: list[str] = Field(description="Every rule the enterprise would fail today")


def _out(line: BudgetLine) -> BudgetLineOut:
    return BudgetLineOut.model_validate(line)


@router.post("/budget-lines", status_code=201, response_model=BudgetLineOut)
async def allocate(
    body: BudgetLineIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    """Allocate a line; it is open for enrollments at once (``BudgetAllocated``)."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        line = await handlers.allocate(command.uow, **body.model_dump(), actor=actor)
        return await answer(command, 201, _out(line), line.version)


@router.get("/budget-lines", response_model=list[BudgetLineOut])
async def list_budget_lines(
    runtime: Runtime,
    program_code: str | None = None,
    fiscal_year: int | None = None,
    status: LineStatus | None = None,
) -> list[BudgetLineOut]:
    async with db.reading(runtime.sessions) as session:
        lines = await BudgetLineRepository(session).search(
            program_code=program_code, fiscal_year=fiscal_year, status=status
        )
    return [_out(line) for line in lines]


@router.get("/budget-lines/{line_id}", response_model=BudgetLineOut)
async def get_budget_line(line_id: str, runtime: Runtime, response: Response) -> BudgetLineOut:
    async with db.reading(runtime.sessions) as session:
        line = await lookups.line(session, line_id, lock=False)
    tag(response, line.version)
    return _out(line)


@router.post("/budget-lines/{line_id}/postpone", response_model=BudgetLineOut)
async def postpone(
    line_id: str,
    body: PostponeIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Suspend spending: every open enrollment on the line is suspended with the reason."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        line = await handlers.postpone(
            command.uow,
            line_id,
            reason=body.reason,
            deadline=body.deadline,
            actor=actor,
            expected_version=if_match,
        )
        return await answer(command, 200, _out(line), line.version)


@router.post("/budget-lines/{line_id}/resume", response_model=BudgetLineOut)
async def resume(
    line_id: str,
    body: ReasonIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Reopen the line; each suspended enrollment goes back to where it was."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        line = await handlers.resume(
            command.uow, line_id, reason=body.reason, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(line), line.version)


@router.post("/budget-lines/{line_id}/refocus", response_model=RefocusOut)
async def refocus(
    line_id: str,
    body: RefocusIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Move free pagu (pagu − reserved − realised) to another line of the same fiscal year."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        source, target = await handlers.refocus(
            command.uow,
            line_id,
            target_line_id=body.target_budget_line_id,
            amount_idr=body.amount_idr,
            reason=body.reason,
            actor=actor,
            expected_version=if_match,
        )
        return await answer(command, 200, RefocusOut(source=_out(source), target=_out(target)))


@router.post("/budget-lines/{line_id}/cancel", response_model=BudgetLineOut)
async def cancel(
    line_id: str,
    body: ReasonIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Withdraw the budget: open enrollments are cancelled and their reservations released."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        line = await handlers.cancel(
            command.uow, line_id, reason=body.reason, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(line), line.version)


@router.post("/budget-lines/{line_id}/close", response_model=BudgetLineOut)
async def close(
    line_id: str,
    body: ReasonIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Close the fiscal year's books: what was realised stays, unfinished enrollments are
    cancelled and the rest of the pagu lapses."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        line = await handlers.close(
            command.uow, line_id, reason=body.reason, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(line), line.version)


@router.get("/budget-lines/{line_id}/eligibility/{nib}", response_model=EligibilityOut)
async def check_eligibility(line_id: str, nib: str, runtime: Runtime) -> EligibilityOut:
    """Would this enterprise be eligible on this line today? Nothing is recorded."""
    async with db.reading(runtime.sessions) as session:
        reasons = await enrollments.check_eligibility(session, nib, line_id)
    return EligibilityOut(nib=nib, budget_line_id=line_id, eligible=not reasons, reasons=reasons)
