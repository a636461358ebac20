"""Registry HTTP routes: parse, call a use case, shape the answer. Rules live in ``domain``."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.registry import domain, handlers
from services.registry.adapters.repository import (
    EnterpriseFilter,
    EnterpriseRepository,
    SentraRepository,
)
from services.registry.adapters.tables import EnterpriseRow
from shared import db
from shared.errors import DomainError, NotFound
from shared.events.registry import RangeFigure
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass
from shared.http import current_actor, expected_version, province_scope, runtime_of
from shared.runtime import ServiceRuntime

router = APIRouter()
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
Actor = Annotated[str, Depends(current_actor)]
WRITE_ENTERPRISES = "enterprises:write"


async def enterprise_scope(request: Request) -> str | None:
    return province_scope(request, WRITE_ENTERPRISES)


Scope = Annotated[str | None, Depends(enterprise_scope)]
MAX_BULK_ROWS = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Production(Strict):
    quantity: float = Field(ge=0)
    unit: str = Field(min_length=1, max_length=40, examples=["tonnes/year"])


class Owner(Strict):
    """Personal data: stored in the registry only, never published in an event."""

    nik: str | None = Field(default=None, description="16-digit NIK")
    phone: str | None = None
    email: str | None = None


class EnterpriseFields(Strict):
    name: str = Field(max_length=300, examples=["CV Logam Jaya"])
    province_code: str = Field(description="Kemendagri province code", examples=["35"])
    regency_code: str | None = Field(
        default=None, description="Kemendagri regency/city code", examples=["3517"]
    )
    kbli: str = Field(description="Primary KBLI 2020 code (divisions 10–33)", examples=["24202"])
    secondary_kbli: list[str] = Field(default_factory=list, max_length=20)
    legal_form: str | None = Field(default=None, examples=["CV"])
    npwp: str | None = Field(default=None, description="16 digits")
    workforce: int | None = None
    investment_idr: int | None = Field(
        default=None, description="Investment excluding land and buildings, rupiah"
    )
    business_capital_idr: int | None = Field(default=None, description="Modal usaha, rupiah")
    annual_sales_idr: int | None = None
    production: Production | None = None
    owner: Owner | None = None

    def details(self) -> domain.EnterpriseDetails:
        return domain.EnterpriseDetails(
            name=self.name,
            province_code=self.province_code,
            kbli=self.kbli,
            regency_code=self.regency_code,
            legal_form=self.legal_form,
            npwp=self.npwp,
            secondary_kbli=tuple(self.secondary_kbli),
            workforce=self.workforce,
            investment_idr=self.investment_idr,
            business_capital_idr=self.business_capital_idr,
            annual_sales_idr=self.annual_sales_idr,
            production_quantity=self.production.quantity if self.production else None,
            production_unit=self.production.unit if self.production else None,
            owner=domain.OwnerContact(**self.owner.model_dump())
            if self.owner
            else domain.OwnerContact(),
        )


class EnterpriseIn(EnterpriseFields):
    nib: str = Field(description="Nomor Induk Berusaha: 13 digits", examples=["9120001234567"])
    size_regime: str | None = Field(
        default=None, description="Regime to derive the size class under (default: the current)"
    )
    size_class: SizeClass | None = Field(
        default=None, description="Optional: refused if it contradicts the derived class"
    )


class EnterpriseChanges(Strict):
    """Only the fields given change."""

    name: str | None = Field(default=None, max_length=300)
    province_code: str | None = None
    regency_code: str | None = None
    kbli: str | None = None
    secondary_kbli: list[str] | None = None
    legal_form: str | None = None
    npwp: str | None = None
    workforce: int | None = None
    investment_idr: int | None = None
    business_capital_idr: int | None = None
    annual_sales_idr: int | None = None
    production: Production | None = None
    owner: Owner | None = None
    size_class: SizeClass | None = Field(default=None, description="Checked against the inputs")

    def changes(self) -> dict[str, object]:
        given = self.model_dump(exclude_unset=True, exclude={"production", "owner", "size_class"})
        if "secondary_kbli" in given:
            given["secondary_kbli"] = tuple(given["secondary_kbli"])
        if self.production is not None:
            given["production_quantity"] = self.production.quantity
            given["production_unit"] = self.production.unit
        if self.owner is not None:
            given["owner"] = domain.OwnerContact(**self.owner.model_dump())
        return given


class CertificateOut(BaseModel):
    certificate_id: str
    scheme: CertificateScheme
    number: str
    issuer: str
    issued_on: date
    expires_on: date | None
    tkdn_pct: float | None
    status: str
    enrollment_id: str | None


class EnterpriseOut(BaseModel):
    nib: str
    name: str
    legal_form: str | None
    province_code: str
    regency_code: str | None
    kbli: str
    secondary_kbli: list[str]
    workforce: int | None
    investment_idr: int | None
    business_capital_idr: int | None
    annual_sales_idr: int | None
    production: Production | None
    size_class: SizeClass | None
    size_regime: str
    status: EnterpriseStatus
    sentra_id: str | None
    registered_at: datetime
    version: int
    certificates: list[CertificateOut] = []

    @classmethod
    def of(cls, e: domain.Enterprise) -> EnterpriseOut:
        d = e.details
        return cls(
            nib=e.nib,
            name=d.name,
            legal_form=d.legal_form,
            province_code=d.province_code,
            regency_code=d.regency_code,
            kbli=d.kbli,
            secondary_kbli=list(d.secondary_kbli),
            workforce=d.workforce,
            investment_idr=d.investment_idr,
            business_capital_idr=d.business_capital_idr,
            annual_sales_idr=d.annual_sales_idr,
            production=Production(quantity=d.production_quantity, unit=d.production_unit)
            if d.production_quantity is not None and d.production_unit
            else None,
            size_class=e.size_class,
            size_regime=e.size_regime,
            status=e.status,
            sentra_id=e.sentra_id,
            registered_at=e.registered_at,
            version=e.version,
            certificates=[CertificateOut(**vars(c)) for c in e.certificates],
        )


class EnterpriseSummary(BaseModel):
    nib: str
    name: str
    province_code: str
    regency_code: str | None
    kbli: str
    size_class: SizeClass | None
    status: EnterpriseStatus
    sentra_id: str | None
    version: int

    @classmethod
    def of(cls, row: EnterpriseRow) -> EnterpriseSummary:
        return cls(
            nib=row.nib,
            name=row.name,
            province_code=row.province_code,
            regency_code=row.regency_code,
            kbli=row.kbli,
            size_class=SizeClass(row.size_class) if row.size_class else None,
            status=EnterpriseStatus(row.status),
            sentra_id=row.sentra_id,
            version=row.version,
        )


class EnterprisePage(BaseModel):
    items: list[EnterpriseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


def _with_etag(response: JSONResponse, version: int) -> JSONResponse:
    response.headers["ETag"] = f'"{version}"'
    return response


@router.post("/enterprises", status_code=201, response_model=EnterpriseOut, tags=["enterprises"])
async def register_enterprise(
    body: EnterpriseIn, request: Request, runtime: Runtime, actor: Actor, scope: Scope
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enterprise = await handlers.register_enterprise(
            command.uow,
            nib=body.nib,
            details=body.details(),
            regime=body.size_regime,
            claimed_size_class=body.size_class,
            actor=actor,
            scope=scope,
        )
        response = await command.respond(201, EnterpriseOut.of(enterprise))
    return _with_etag(response, enterprise.version)


class BulkIn(Strict):
    rows: list[dict[str, Any]] = Field(
        max_length=MAX_BULK_ROWS,
        description="Enterprises as for POST /enterprises, each optionally with its `line`",
    )


class RowProblem(BaseModel):
    field: str | None
    msg: str


class RejectedRowOut(BaseModel):
    line: int
    nib: str | None
    problems: list[RowProblem]


class BulkOut(BaseModel):
    accepted: int
    rejected: list[RejectedRowOut]


@router.post("/enterprises/bulk", response_model=BulkOut, tags=["enterprises"])
async def register_enterprises_in_bulk(
    body: BulkIn, request: Request, runtime: Runtime, actor: Actor, scope: Scope
) -> JSONResponse:
    """Register up to 1000 enterprises; bad rows are reported with their reasons, good ones kept.

    Waits while the events of earlier imports are still being published; 503 with Retry-After
    if that takes too long."""
    await runtime.outbox_room()
    rows: list[handlers.ImportRow] = []
    malformed: list[RejectedRowOut] = []
    for index, raw in enumerate(body.rows, start=1):
        line = raw.pop("line", index)
        try:
            parsed = EnterpriseIn.model_validate(raw)
        except ValidationError as exc:
            malformed.append(
                RejectedRowOut(
                    line=int(line),
                    nib=raw.get("nib") if isinstance(raw.get("nib"), str) else None,
                    problems=[
                        RowProblem(field=".".join(map(str, e["loc"])) or None, msg=e["msg"])
                        for e in exc.errors()
                    ],
                )
            )
            continue
        rows.append(handlers.ImportRow(int(line), parsed.nib, parsed.details(), parsed.size_regime))
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        accepted, rejected = await handlers.register_many(
            command.uow, rows, actor=actor, scope=scope
        )
        rejected_out = malformed + [
            RejectedRowOut(
                line=r.line,
                nib=r.nib,
                problems=[RowProblem(field=p.field, msg=p.message) for p in r.problems],
            )
            for r in rejected
        ]
        rejected_out.sort(key=lambda r: r.line)
        return await command.respond(200, BulkOut(accepted=len(accepted), rejected=rejected_out))


@router.get("/enterprises", response_model=EnterprisePage, tags=["enterprises"])
async def search_enterprises(
    runtime: Runtime,
    province_code: str | None = None,
    regency_code: str | None = None,
    kbli: str | None = None,
    size_class: SizeClass | None = None,
    certificate_scheme: CertificateScheme | None = None,
    sentra_id: str | None = None,
    status: EnterpriseStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> EnterprisePage:
    after = None
    if cursor:
        try:
            after = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise DomainError("cursor is not one this API returned", field="cursor") from exc
    where = EnterpriseFilter(
        province_code, regency_code, kbli, size_class, certificate_scheme, sentra_id, status
    )
    async with db.reading(runtime.sessions) as session:
        rows = await EnterpriseRepository(session).search(where, after=after, limit=limit)
    next_cursor = (
        base64.urlsafe_b64encode(rows[-1].nib.encode()).decode() if len(rows) == limit else None
    )
    return EnterprisePage(items=[EnterpriseSummary.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/enterprises/{nib}", response_model=EnterpriseOut, tags=["enterprises"])
async def get_enterprise(nib: str, runtime: Runtime) -> JSONResponse:
    async with db.reading(runtime.sessions) as session:
        enterprise = await EnterpriseRepository(session).get(nib)
    if enterprise is None:
        raise NotFound(f"no enterprise with NIB {nib}", field="nib")
    return _with_etag(
        JSONResponse(EnterpriseOut.of(enterprise).model_dump(mode="json")), enterprise.version
    )


@router.patch("/enterprises/{nib}", response_model=EnterpriseOut, tags=["enterprises"])
async def update_enterprise(
    nib: str,
    body: EnterpriseChanges,
    request: Request,
    runtime: Runtime,
    actor: Actor,
    scope: Scope,
) -> JSONResponse:
    """Change profile fields. Requires ``If-Match: "<version>"``; a stale version gets 409."""
    version = expected_version(request)
    if version is None:
        raise HTTPException(428, 'If-Match: "<version>" is required (see the ETag of GET)')
    async with runtime.unit_of_work() as uow:
        enterprise = await handlers.update_enterprise(
            uow,
            nib,
            body.changes(),
            expected_version=version,
            claimed_size_class=body.size_class,
            actor=actor,
            scope=scope,
        )
    return _with_etag(
        JSONResponse(EnterpriseOut.of(enterprise).model_dump(mode="json")), enterprise.version
    )


class CloseIn(Strict):
    closed_on: date
    reason: str = Field(min_length=1, max_length=500)


@router.post("/enterprises/{nib}/close", response_model=EnterpriseOut, tags=["enterprises"])
async def close_enterprise(
    nib: str, body: CloseIn, request: Request, runtime: Runtime, actor: Actor, scope: Scope
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        enterprise = await handlers.close_enterprise(
            command.uow, nib, on=body.closed_on, reason=body.reason, actor=actor, scope=scope
        )
        return await command.respond(200, EnterpriseOut.of(enterprise))


class CertificateIn(Strict):
    scheme: CertificateScheme
    number: str = Field(max_length=100)
    issuer: str = Field(max_length=200)
    issued_on: date
    expires_on: date | None = None
    tkdn_pct: float | None = Field(default=None, description="TKDN IK only: percent, minimum 25")


@router.post(
    "/enterprises/{nib}/certificates",
    status_code=201,
    response_model=CertificateOut,
    tags=["certificates"],
)
async def record_certificate(
    nib: str, body: CertificateIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        certificate = await handlers.record_certificate(
            command.uow, nib, domain.CertificateDetails(**body.model_dump()), actor=actor
        )
        return await command.respond(201, CertificateOut(**vars(certificate)))


class RenewIn(Strict):
    expires_on: date


@router.post(
    "/enterprises/{nib}/certificates/{certificate_id}/renew",
    response_model=CertificateOut,
    tags=["certificates"],
)
async def renew_certificate(
    nib: str, certificate_id: str, body: RenewIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        certificate = await handlers.renew_certificate(
            command.uow, nib, certificate_id, expires_on=body.expires_on, actor=actor
        )
        return await command.respond(200, CertificateOut(**vars(certificate)))


class RevokeIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/enterprises/{nib}/certificates/{certificate_id}/revoke",
    response_model=CertificateOut,
    tags=["certificates"],
)
async def revoke_certificate(
    nib: str, certificate_id: str, body: RevokeIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        certificate = await handlers.revoke_certificate(
            command.uow, nib, certificate_id, reason=body.reason, actor=actor
        )
        return await command.respond(200, CertificateOut(**vars(certificate)))


class ExpiryRun(BaseModel):
    today: date
    expired: int


@router.post("/certificates/expire", response_model=ExpiryRun, tags=["certificates"])
async def expire_certificates(runtime: Runtime, today: date | None = None) -> ExpiryRun:
    """Run the scheduled expiry check now (it also runs by itself every hour)."""
    day = today or date.today()
    async with runtime.unit_of_work() as uow:
        expired = await handlers.expire_certificates(uow, day)
    return ExpiryRun(today=day, expired=expired)


class SentraIn(Strict):
    name: str = Field(max_length=300, examples=["Sentra IKM Slag Aluminium Kendalsari"])
    province_code: str = Field(examples=["35"])
    regency_code: str = Field(examples=["3517"])
    village: str | None = Field(default=None, examples=["Kendalsari, Sumobito"])
    managing_body: str | None = Field(default=None, examples=["Koperasi"])
    commodity: str = Field(max_length=200, examples=["aluminium slag ingots"])
    kbli: str | None = None
    designated_on: date
    member_nibs: list[str] = Field(min_length=1, max_length=2000)


class SentraOut(BaseModel):
    sentra_id: str
    name: str
    province_code: str
    regency_code: str
    village: str | None
    managing_body: str | None
    commodity: str
    kbli: str | None
    designated_on: date
    member_nibs: list[str]
    member_count: int

    @classmethod
    def of(cls, s: domain.Sentra) -> SentraOut:
        return cls(
            sentra_id=s.sentra_id,
            name=s.name,
            province_code=s.province_code,
            regency_code=s.regency_code,
            village=s.village,
            managing_body=s.managing_body,
            commodity=s.commodity,
            kbli=s.kbli,
            designated_on=s.designated_on,
            member_nibs=sorted(s.members),
            member_count=len(s.members),
        )


@router.post("/sentra", status_code=201, response_model=SentraOut, tags=["sentra"])
async def designate_sentra(
    body: SentraIn, request: Request, runtime: Runtime, actor: Actor
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        sentra = await handlers.designate_sentra(command.uow, **body.model_dump(), actor=actor)
        return await command.respond(201, SentraOut.of(sentra))


@router.get("/sentra/{sentra_id}", response_model=SentraOut, tags=["sentra"])
async def get_sentra(sentra_id: str, runtime: Runtime) -> SentraOut:
    async with db.reading(runtime.sessions) as session:
        sentra = await SentraRepository(session).get(sentra_id)
    if sentra is None:
        raise NotFound(f"no sentra {sentra_id}", field="sentra_id")
    return SentraOut.of(sentra)


class MemberIn(Strict):
    nib: str
    joined_on: date


@router.post("/sentra/{sentra_id}/members", response_model=SentraOut, tags=["sentra"])
async def join_sentra(
    sentra_id: str, body: MemberIn, request: Request, runtime: Runtime
) -> JSONResponse:
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        sentra = await handlers.join_sentra(command.uow, sentra_id, body.nib, body.joined_on)
        return await command.respond(200, SentraOut.of(sentra))


@router.delete("/sentra/{sentra_id}/members/{nib}", response_model=SentraOut, tags=["sentra"])
async def leave_sentra(
    sentra_id: str, nib: str, runtime: Runtime, left_on: date | None = None
) -> SentraOut:
    async with runtime.unit_of_work() as uow:
        sentra = await handlers.leave_sentra(uow, sentra_id, nib, left_on or date.today())
    return SentraOut.of(sentra)


class OutcomeIn(Strict):
    period: str = Field(max_length=40, examples=["2019"])
    workforce: RangeFigure | None = None
    revenue_idr: RangeFigure | None = None
    production: RangeFigure | None = None
    source: str | None = Field(default=None, max_length=500)


class OutcomeOut(OutcomeIn):
    members: int | None
    reported_on: date


@router.post("/sentra/{sentra_id}/outcomes", status_code=201, tags=["sentra"])
async def report_sentra_outcome(
    sentra_id: str, body: OutcomeIn, request: Request, runtime: Runtime
) -> JSONResponse:
    """Outcome figures for a period; give ranges as min/max where the source gives ranges."""
    async with runtime.command(request, body) as command:
        if command.replayed:
            return command.replayed
        await handlers.report_sentra_outcome(
            command.uow,
            sentra_id,
            period=body.period,
            workforce=body.workforce,
            revenue_idr=body.revenue_idr,
            production=body.production,
            source=body.source,
        )
        return await command.respond(201, {"sentra_id": sentra_id, "period": body.period})


@router.get("/sentra/{sentra_id}/outcomes", response_model=list[OutcomeOut], tags=["sentra"])
async def sentra_outcomes(sentra_id: str, runtime: Runtime) -> list[OutcomeOut]:
    async with db.reading(runtime.sessions) as session:
        rows = await SentraRepository(session).outcomes(sentra_id)
    return [
        OutcomeOut(
            period=r.period,
            members=r.members,
            source=r.source,
            reported_on=r.reported_on,
            **json.loads(r.figures),
        )
        for r in rows
    ]
