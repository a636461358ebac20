"""Partnerships HTTP routes: parse, call a use case, shape the answer. Rules live in ``domain``.

Partnership transitions answer with the new ``version`` (also as ``ETag``); send it back in
``If-Match`` to be refused with 409 if someone changed the partnership in between.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.partnerships import domain, handlers
from services.partnerships.adapters.replica import ReplicaRepository
from services.partnerships.adapters.repository import (
    PartnerRepository,
    PartnershipRepository,
    ReadinessRepository,
    TargetRepository,
)
from shared import db
from shared.errors import NotFound
from shared.events.vocabulary import CertificateScheme, CountingUnit, PartnershipStage
from shared.http import actor_of, expected_version, runtime_of
from shared.runtime import ServiceRuntime

router = APIRouter()
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
NIB_EXAMPLE = "9120001234567"

# --- Partners ---------------------------------------------------------------------------------


class RequirementsIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required_certificates: list[CertificateScheme] = Field(
        default_factory=list, examples=[["ISO_9001", "ISO_14001"]]
    )
    min_tkdn_pct: float | None = Field(
        default=None, description="Minimum TKDN IK value, percent", examples=[40]
    )


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_nib: str = Field(description="NIB of the large firm: 13 digits")
    name: str = Field(max_length=300, examples=["PT Astra Komponen Indonesia"])
    sector: str = Field(max_length=100, examples=["automotive"])
    tier: int = Field(description="Place in the supply chain: 0 = OEM, 1 = tier 1", examples=[1])
    requirements: RequirementsIO = Field(default_factory=RequirementsIO)


class PartnerOut(BaseModel):
    partner_nib: str
    name: str
    sector: str
    tier: int
    requirements: RequirementsIO
    registered_at: datetime


def _partner_out(partner: domain.Partner) -> PartnerOut:
    return PartnerOut(
        partner_nib=partner.partner_nib,
        name=partner.name,
        sector=partner.sector,
        tier=partner.tier,
        requirements=RequirementsIO(
            required_certificates=sorted(partner.requirements.certificates),
            min_tkdn_pct=partner.requirements.min_tkdn_pct,
        ),
        registered_at=partner.registered_at,
    )


@router.post("/partners", status_code=201, response_model=PartnerOut, tags=["partners"])
async def register_partner(body: PartnerIn, request: Request, runtime: Runtime) -> JSONResponse:
    command = handlers.RegisterPartner(
        partner_nib=body.partner_nib,
        name=body.name,
        sector=body.sector,
        tier=body.tier,
        **body.requirements.model_dump(),
    )
    async with runtime.command(request, body) as idempotent:
        if idempotent.replayed:
            return idempotent.replayed
        partner = await handlers.register_partner(idempotent.uow, command, actor_of(request))
        return await idempotent.respond(201, _partner_out(partner))


@router.get("/partners", response_model=list[PartnerOut], tags=["partners"])
async def list_partners(runtime: Runtime) -> list[PartnerOut]:
    async with db.reading(runtime.sessions) as session:
        partners = await PartnerRepository(session).all()
    return [_partner_out(p) for p in partners]


@router.get("/partners/{partner_nib}", response_model=PartnerOut, tags=["partners"])
async def get_partner(partner_nib: str, runtime: Runtime) -> PartnerOut:
    async with db.reading(runtime.sessions) as session:
        partner = await PartnerRepository(session).get(partner_nib)
    if partner is None:
        raise NotFound(f"no partner firm with NIB {partner_nib}", field="partner_nib")
    return _partner_out(partner)


# --- Partnerships -----------------------------------------------------------------------------


class PartnershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_nib: str
    ikm_nibs: list[str] = Field(examples=[[NIB_EXAMPLE]])
    component: str = Field(max_length=300, examples=["brake pads"])
    facilitated_by: str | None = Field(
        default=None, max_length=300, description="Program or matching event that facilitated it"
    )
    value_idr: int | None = Field(default=None, description="Value of the supply, rupiah")
    proposed_on: date


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signed_on: date = Field(description="Date the MoU was signed; its year is the fiscal year")


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: PartnershipStage = Field(examples=["coaching"])
    on: date


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_on: date
    reason: str = Field(max_length=500)


class PartnershipOut(BaseModel):
    partnership_id: str
    partner_nib: str
    ikm_nibs: list[str]
    component: str
    facilitated_by: str | None
    value_idr: int | None
    stage: PartnershipStage
    stage_dates: dict[PartnershipStage, date]
    fiscal_year: int | None = Field(description="Year the signed agreement counts towards")
    end_reason: str | None
    next_stages: list[PartnershipStage]
    version: int


def _partnership_out(p: domain.Partnership, response: Response | None = None) -> PartnershipOut:
    if response is not None:
        response.headers["ETag"] = f'"{p.version}"'
    return PartnershipOut(
        partnership_id=p.partnership_id,
        partner_nib=p.partner_nib,
        ikm_nibs=list(p.ikm_nibs),
        component=p.component,
        facilitated_by=p.facilitated_by,
        value_idr=p.value_idr,
        stage=p.stage,
        stage_dates=dict(p.stage_dates),
        fiscal_year=p.fiscal_year,
        end_reason=p.end_reason,
        next_stages=list(domain.next_stages(p.stage)),
        version=p.version,
    )


@router.post("/partnerships", status_code=201, response_model=PartnershipOut, tags=["partnerships"])
async def propose_partnership(
    body: PartnershipIn, request: Request, response: Response, runtime: Runtime
) -> JSONResponse:
    """Propose a partnership; send an ``Idempotency-Key`` so a retry does not propose twice."""
    async with runtime.command(request, body) as idempotent:
        if idempotent.replayed:
            return idempotent.replayed
        partnership = await handlers.propose_partnership(
            idempotent.uow, handlers.ProposePartnership(**body.model_dump()), actor_of(request)
        )
        answer = await idempotent.respond(201, _partnership_out(partnership, response))
    answer.headers["ETag"] = response.headers.get("ETag", f'"{partnership.version}"')
    return answer


@router.get("/partnerships", response_model=list[PartnershipOut], tags=["partnerships"])
async def list_partnerships(
    runtime: Runtime,
    partner_nib: str | None = None,
    nib: str | None = None,
    stage: PartnershipStage | None = None,
    signed_in: int | None = None,
) -> list[PartnershipOut]:
    async with db.reading(runtime.sessions) as session:
        partnerships = await PartnershipRepository(session).find(
            partner_nib=partner_nib, nib=nib, stage=stage, signed_in=signed_in
        )
    return [_partnership_out(p) for p in partnerships]


@router.get("/partnerships/{partnership_id}", response_model=PartnershipOut, tags=["partnerships"])
async def get_partnership(
    partnership_id: str, response: Response, runtime: Runtime
) -> PartnershipOut:
    async with db.reading(runtime.sessions) as session:
        partnership = await PartnershipRepository(session).get(partnership_id)
    if partnership is None:
        raise NotFound(f"no partnership {partnership_id}", field="partnership_id")
    return _partnership_out(partnership, response)


@router.post(
    "/partnerships/{partnership_id}/sign", response_model=PartnershipOut, tags=["partnerships"]
)
async def sign_partnership(
    partnership_id: str, body: SignIn, request: Request, response: Response, runtime: Runtime
) -> PartnershipOut:
    async with runtime.unit_of_work() as uow:
        partnership = await handlers.sign_partnership(
            uow,
            partnership_id,
            signed_on=body.signed_on,
            actor=actor_of(request),
            expected_version=expected_version(request),
        )
    return _partnership_out(partnership, response)


@router.post(
    "/partnerships/{partnership_id}/stage", response_model=PartnershipOut, tags=["partnerships"]
)
async def advance_partnership(
    partnership_id: str, body: StageIn, request: Request, response: Response, runtime: Runtime
) -> PartnershipOut:
    async with runtime.unit_of_work() as uow:
        partnership = await handlers.advance_partnership(
            uow,
            partnership_id,
            to=body.stage,
            on=body.on,
            actor=actor_of(request),
            expected_version=expected_version(request),
        )
    return _partnership_out(partnership, response)


@router.post(
    "/partnerships/{partnership_id}/end", response_model=PartnershipOut, tags=["partnerships"]
)
async def end_partnership(
    partnership_id: str, body: EndIn, request: Request, response: Response, runtime: Runtime
) -> PartnershipOut:
    async with runtime.unit_of_work() as uow:
        partnership = await handlers.end_partnership(
            uow,
            partnership_id,
            on=body.ended_on,
            reason=body.reason,
            actor=actor_of(request),
            expected_version=expected_version(request),
        )
    return _partnership_out(partnership, response)


# --- Supplier readiness -----------------------------------------------------------------------


class SuspensionOut(BaseModel):
    enrollment_id: str
    budget_line_id: str
    program_code: str
    certificate_scheme: CertificateScheme


class ReadinessOut(BaseModel):
    nib: str
    partner_nib: str
    status: domain.ReadinessStatus
    missing: list[CertificateScheme]
    blocked_by: list[SuspensionOut]


class CertificateOut(BaseModel):
    certificate_id: str
    scheme: CertificateScheme
    tkdn_pct: float | None
    expires_on: date | None


class EnterpriseReadinessOut(BaseModel):
    nib: str
    name: str | None
    province_code: str | None
    status: str
    certificates: list[CertificateOut] = Field(description="Held now, as the registry reported")
    suspended_enrollments: list[SuspensionOut]
    partners: list[ReadinessOut] = Field(description="One per partner it is a candidate of")


def _readiness_out(r: domain.Readiness) -> ReadinessOut:
    return ReadinessOut(
        nib=r.nib,
        partner_nib=r.partner_nib,
        status=r.status,
        missing=list(r.missing),
        blocked_by=[SuspensionOut(**vars(s)) for s in r.blocked_by],
    )


@router.get(
    "/enterprises/{nib}/readiness", response_model=EnterpriseReadinessOut, tags=["readiness"]
)
async def enterprise_readiness(nib: str, runtime: Runtime) -> EnterpriseReadinessOut:
    async with db.reading(runtime.sessions) as session:
        replica = ReplicaRepository(session)
        enterprise = await replica.enterprise(nib)
        if enterprise is None:
            raise NotFound(
                f"IKM {nib} is not in the register (or its registration has not reached "
                "partnerships yet)",
                field="nib",
            )
        holdings = await replica.holdings(nib)
        suspensions = await replica.suspensions(nib)
        readiness = await ReadinessRepository(session).of_enterprise(nib)
    return EnterpriseReadinessOut(
        nib=enterprise.nib,
        name=enterprise.name,
        province_code=enterprise.province_code,
        status=enterprise.status.value,
        certificates=[CertificateOut(**vars(h)) for h in holdings],
        suspended_enrollments=[SuspensionOut(**vars(s)) for s in suspensions],
        partners=[_readiness_out(r) for r in readiness],
    )


@router.get(
    "/partners/{partner_nib}/candidates", response_model=list[ReadinessOut], tags=["readiness"]
)
async def partner_candidates(partner_nib: str, runtime: Runtime) -> list[ReadinessOut]:
    async with db.reading(runtime.sessions) as session:
        if await PartnerRepository(session).get(partner_nib) is None:
            raise NotFound(f"no partner firm with NIB {partner_nib}", field="partner_nib")
        candidates = await ReadinessRepository(session).candidates_of(partner_nib)
    return [_readiness_out(r) for r in candidates]


# --- Targets and attainment -------------------------------------------------------------------


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: int = Field(examples=[45])
    source: str | None = Field(
        default=None, max_length=500, examples=["Ditjen IKMA, Link and Match 2018 (27 Nov 2018)"]
    )


class TargetOut(BaseModel):
    fiscal_year: int
    unit: CountingUnit
    target: int
    source: str | None
    set_at: datetime


class UnitAttainmentOut(BaseModel):
    unit: CountingUnit
    target: int | None
    achieved: int
    attainment_pct: float | None
    source: str | None


class AttainmentOut(BaseModel):
    fiscal_year: int
    counting: str = Field(
        description="How each unit is counted among partnerships signed in the fiscal year"
    )
    units: list[UnitAttainmentOut]


COUNTING = (
    "agreements: partnerships signed in the year; ikm: distinct IKM in those agreements; "
    "partner_firms: distinct partner firms in those agreements"
)


@router.put("/targets/{fiscal_year}/{unit}", response_model=TargetOut, tags=["targets"])
async def set_target(
    fiscal_year: int, unit: CountingUnit, body: TargetIn, request: Request, runtime: Runtime
) -> TargetOut:
    async with runtime.unit_of_work() as uow:
        target = await handlers.set_target(
            uow,
            fiscal_year,
            unit,
            target=body.target,
            source=body.source,
            actor=actor_of(request),
        )
    return TargetOut(**vars(target))


@router.get("/targets/{fiscal_year}", response_model=AttainmentOut, tags=["targets"])
async def attainment(fiscal_year: int, runtime: Runtime) -> AttainmentOut:
    domain.check_fiscal_year(fiscal_year)
    async with db.reading(runtime.sessions) as session:
        agreements = await PartnershipRepository(session).signed_in(fiscal_year)
        targets = await TargetRepository(session).of_year(fiscal_year)
    return AttainmentOut(
        fiscal_year=fiscal_year,
        counting=COUNTING,
        units=[
            UnitAttainmentOut(
                unit=a.unit,
                target=a.target,
                achieved=a.achieved,
                attainment_pct=a.attainment_pct,
                source=targets[a.unit].source if a.unit in targets else None,
            )
            for a in domain.attainment(agreements, targets)
        ],
    )
