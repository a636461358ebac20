"""Enrollment routes: request (with its eligibility verdict), read, and every transition."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.programs.adapters.repository import EnrollmentRepository
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
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.handlers import enrollments as handlers
from shared import db
from shared.errors import NotFound
from shared.events.programs import CertificateOutcome
from shared.events.vocabulary import CertificateScheme
from shared.http import province_scope

router = APIRouter(tags=["enrollments"])


class EnrollmentIn(Strict):
    nib: str = Field(description="Nomor Induk Berusaha: 13 digits", examples=["9120001234567"])
    budget_line_id: str
    requested_idr: int | None = Field(
        default=None,
        ge=0,
        le=MAX_IDR,
        description="Amount asked for, within the program's benefit; default: its fixed amount",
    )
    approve: bool = Field(
        default=False,
        description="Approve at once if eligible (reserving the place and amount on the line)",
    )


class EnrollmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    nib: str
    province_code: str
    program_code: str
    budget_line_id: str
    fiscal_year: int
    certificate_scheme: CertificateScheme | None
    status: EnrollmentStatus
    amount_idr: int = Field(description="What approval reserves on the line")
    reserved_idr: int = Field(description="Held on the line now")
    realised_idr: int
    reasons: list[str] = Field(description="Every rule failed, when ineligible or rejected")
    status_reason: str | None = Field(description="Why it was suspended, resumed or cancelled")
    suspended_from: EnrollmentStatus | None
    certificate: CertificateOutcome | None
    requested_at: datetime
    updated_at: datetime | None
    version: int


class EnrollmentPage(BaseModel):
    items: list[EnrollmentOut]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null at end")


class RejectIn(Strict):
    reasons: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(min_length=1)


class CertificateIn(CertificateOutcome):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=100)
    issuer: str = Field(min_length=1, max_length=200)


class CompleteIn(Strict):
    certificate: CertificateIn | None = Field(
        default=None, description="The certificate obtained (certification programs)"
    )
    realised_idr: int = Field(
        default=0, ge=0, le=MAX_IDR, description="Spent on this enrollment, at most its reservation"
    )


def _out(enrollment: Enrollment) -> EnrollmentOut:
    return EnrollmentOut.model_validate(enrollment)


@router.post("/enrollments", status_code=201, response_model=EnrollmentOut)
async def request_enrollment(
    body: EnrollmentIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    """Record the request and check eligibility against the replica of the register: the
    answer is ``eligible`` (or ``approved`` with ``approve``), or ``ineligible`` with every
    reason. A postponed, cancelled or closed line refuses the request (409)."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.request(
            command.uow,
            **body.model_dump(),
            actor=actor,
            scope=province_scope(request, "enrollments:write"),
        )
        return await answer(command, 201, _out(enrollment), enrollment.version)


@router.get("/enrollments", response_model=EnrollmentPage)
async def search_enrollments(
    runtime: Runtime,
    budget_line_id: str | None = None,
    nib: str | None = None,
    status: EnrollmentStatus | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EnrollmentPage:
    async with db.reading(runtime.sessions) as session:
        found = await EnrollmentRepository(session).search(
            budget_line_id=budget_line_id, nib=nib, status=status, after=after, limit=limit
        )
    return EnrollmentPage(
        items=[_out(e) for e in found],
        next_cursor=found[-1].id if len(found) == limit else None,
    )


@router.get("/enrollments/{enrollment_id}", response_model=EnrollmentOut)
async def get_enrollment(enrollment_id: str, runtime: Runtime, response: Response) -> EnrollmentOut:
    async with db.reading(runtime.sessions) as session:
        enrollment = await EnrollmentRepository(session).get(enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}", field="enrollment_id")
    tag(response, enrollment.version)
    return _out(enrollment)


@router.post("/enrollments/{enrollment_id}/approve", response_model=EnrollmentOut)
async def approve(
    enrollment_id: str, request: Request, runtime: Runtime, actor: Actor, if_match: IfMatch
) -> JSONResponse:
    """Re-check eligibility and reserve a place and the amount on the line. While a rule fails
    (e.g. the quota is taken) the answer is 409 and the enrollment stays eligible."""
    async with runtime.command(request, None) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.approve(
            command.uow, enrollment_id, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)


@router.post("/enrollments/{enrollment_id}/reject", response_model=EnrollmentOut)
async def reject(
    enrollment_id: str,
    body: RejectIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """An officer turns down an eligible enrollment, giving the reasons."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.reject(
            command.uow,
            enrollment_id,
            reasons=body.reasons,
            actor=actor,
            expected_version=if_match,
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)


@router.post("/enrollments/{enrollment_id}/start", response_model=EnrollmentOut)
async def start_assistance(
    enrollment_id: str, request: Request, runtime: Runtime, actor: Actor, if_match: IfMatch
) -> JSONResponse:
    """Assistance begins for an approved enrollment."""
    async with runtime.command(request, None) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.start_assistance(
            command.uow, enrollment_id, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)


@router.post("/enrollments/{enrollment_id}/complete", response_model=EnrollmentOut)
async def complete(
    enrollment_id: str,
    body: CompleteIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """Record the outcome. ``realised_idr`` is realised on the line (``BudgetRealised``) and
    the rest of the reservation released; a certificate goes to the registry."""
    certificate = CertificateOutcome(**body.certificate.model_dump()) if body.certificate else None
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.complete(
            command.uow,
            enrollment_id,
            certificate=certificate,
            realised_idr=body.realised_idr,
            actor=actor,
            expected_version=if_match,
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)


@router.post("/enrollments/{enrollment_id}/withdraw", response_model=EnrollmentOut)
async def withdraw(
    enrollment_id: str,
    body: ReasonIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """The enterprise steps back; any reservation goes back to the line."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.withdraw(
            command.uow, enrollment_id, reason=body.reason, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)


@router.post("/enrollments/{enrollment_id}/cancel", response_model=EnrollmentOut)
async def cancel(
    enrollment_id: str,
    body: ReasonIn,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    if_match: IfMatch,
) -> JSONResponse:
    """An officer stops the enrollment; any reservation goes back to the line."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enrollment = await handlers.cancel(
            command.uow, enrollment_id, reason=body.reason, actor=actor, expected_version=if_match
        )
        return await answer(command, 200, _out(enrollment), enrollment.version)
