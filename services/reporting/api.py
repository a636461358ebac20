"""Reporting HTTP routes: the ministry's KPIs as JSON (or CSV with ``?format=csv``).

Every answer says how fresh it is: the last event time and offset applied per partition, and how
many messages the consumer has not applied yet (lag).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.reporting import domain
from services.reporting.adapters import queries
from services.reporting.adapters import read_models as store
from services.reporting.adapters.tables import ReadModels, reference_figures
from shared import db
from shared.events.vocabulary import CountingUnit
from shared.http import runtime_of
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/kpis", tags=["kpis"])
references = APIRouter(prefix="/reference-figures", tags=["reference figures"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
GROUPS = {
    "province": "province_code",
    "regency": "regency_code",
    "kbli_division": "kbli_division",
    "size_class": "size_class",
}


class PartitionPosition(BaseModel):
    topic: str
    partition: int
    next_offset: int
    lag: int | None


class Freshness(BaseModel):
    as_of_event_time: datetime | None
    generation: str
    lag: int = 0
    partitions: list[PartitionPosition]


class Kpi(BaseModel):
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    freshness: Freshness


async def _freshness(runtime: ServiceRuntime, session: Any, models: ReadModels) -> Freshness:
    lag = runtime.consumers[0].lag() if runtime.consumers else {}
    positions = await queries.positions(session, models)
    partitions = [
        PartitionPosition(
            **{k: p[k] for k in ("topic", "partition", "next_offset")},
            lag=lag.get((p["topic"], p["partition"])),
        )
        for p in positions
    ]
    times = [p["last_event_at"] for p in positions if p["last_event_at"]]
    return Freshness(
        as_of_event_time=max(times) if times else None,
        generation=models.generation,
        lag=sum(lag.values()),
        partitions=partitions,
    )


def _answer(kpi: Kpi, fmt: str) -> Kpi | Response:
    if fmt == "json":
        return kpi
    out = io.StringIO()
    columns = list(dict.fromkeys(k for row in kpi.rows for k in row))
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(kpi.rows)
    return Response(out.getvalue(), media_type="text/csv")


Measure = Literal["enterprises", "workforce", "investment_idr", "annual_sales_idr"]


class ReferenceFigureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float = Field(examples=[4_400_000])
    unit: str = Field(min_length=1, max_length=60, examples=["IKM units"])
    year: int | None = Field(default=None, ge=1900, le=2100, examples=[2022])
    source: str = Field(
        min_length=1,
        max_length=1000,
        description="Where the figure comes from (publication, date, quote)",
        examples=["Menperin, rilis 30 May 2023: 4,4 juta unit usaha IKM sepanjang 2022"],
    )
    measure: Measure | None = Field(
        default=None,
        description="The register total this figure is the national counterpart of: "
        "/kpis/enterprises then shows the register's total beside it and its coverage",
    )

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class ReferenceFigure(ReferenceFigureIn):
    key: str
    updated_at: datetime


class ReferenceComparison(ReferenceFigure):
    registered: int | None = Field(
        default=None, description="The register's national total of `measure` (all provinces)"
    )
    registered_pct: float | None = Field(
        default=None,
        description="registered ÷ value, percent: how much of the figure is in the register",
    )


class EnterpriseKpi(Kpi):
    reference: dict[str, ReferenceComparison] = Field(
        default_factory=dict,
        description="Reference figures (PUT /reference-figures/{key}) by key, each with the "
        "register's national total of its measure beside it",
    )


FigureKey = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$", examples=["ikm_units_2022"])
]


@references.put("/{key}", response_model=ReferenceFigure)
async def put_reference_figure(
    key: FigureKey, body: ReferenceFigureIn, runtime: Runtime
) -> ReferenceFigure:
    """Set (or replace) a reference figure: a number from outside the event streams, with its
    unit, year and source, that the KPIs are compared against."""
    figure = ReferenceFigure(key=key, updated_at=datetime.now(UTC), **body.model_dump())
    async with db.transaction(runtime.sessions) as session:
        await store.put(
            session, reference_figures, {"key": key}, figure.model_dump(exclude={"key"})
        )
    return figure


@references.get("", response_model=list[ReferenceFigure])
async def list_reference_figures(runtime: Runtime) -> list[ReferenceFigure]:
    async with db.reading(runtime.sessions) as session:
        rows = await queries.references(session)
    return [ReferenceFigure(**row) for row in rows]


def _compare(figures: list[dict[str, Any]], national: dict[str, int]) -> dict[str, Any]:
    compared = {}
    for figure in figures:
        measure = figure["measure"]
        registered = national.get(measure) if measure else None
        compared[figure["key"]] = ReferenceComparison(
            **figure,
            registered=registered,
            registered_pct=round(100.0 * registered / figure["value"], 4)
            if registered is not None and figure["value"]
            else None,
        )
    return compared


@router.get("/enterprises", response_model=EnterpriseKpi)
async def enterprises(
    runtime: Runtime,
    group_by: Literal["province", "regency", "kbli_division", "size_class"] = "province",
    province_code: str | None = None,
    format: Format = "json",
) -> Any:
    """IKM units, workforce, investment and sales per group, with the share of the total."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        rows = await queries.enterprise_totals(
            session, models, GROUPS[group_by], province_code=province_code
        )
        national = (
            sum(r["enterprises"] for r in rows)
            if province_code is None
            else await queries.national_enterprises(session, models)
        )
        figures = await queries.references(session)
        national_totals = (
            await queries.enterprise_totals(session, models, "province_code") if figures else []
        )
        freshness = await _freshness(runtime, session, models)
    for row in rows:
        row[GROUPS[group_by]] = row.pop("key")
        row["share_pct"] = domain.share_pct(row["enterprises"], national)
    measures = ("enterprises", "workforce", "investment_idr", "annual_sales_idr")
    total = {name: sum(r[name] for r in rows) for name in measures}
    if format == "csv":
        return _answer(Kpi(rows=rows, total=total, freshness=freshness), format)
    return EnterpriseKpi(
        rows=rows,
        total=total,
        freshness=freshness,
        reference=_compare(figures, {m: sum(r[m] for r in national_totals) for m in measures}),
    )


@router.get("/certificates", response_model=Kpi)
async def certificates(
    runtime: Runtime, province_code: str | None = None, format: Format = "json"
) -> Any:
    """Certificates by scheme and province: active, expired, revoked."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        rows = await queries.certificate_totals(session, models, province_code)
        freshness = await _freshness(runtime, session, models)
    return _answer(Kpi(rows=rows, freshness=freshness), format)


@router.get("/budget", response_model=Kpi)
async def budget(
    runtime: Runtime,
    fiscal_year: int | None = None,
    program_code: str | None = None,
    province_code: str | None = None,
    mechanism: str | None = None,
    format: Format = "json",
) -> Any:
    """Budget lines: pagu, postponed, refocused in/out, reserved, realised and absorption."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        rows = await queries.budget_lines(
            session,
            models,
            fiscal_year=fiscal_year,
            program_code=program_code,
            province_code=province_code,
            mechanism=mechanism,
        )
        freshness = await _freshness(runtime, session, models)
    for row in rows:
        row["postponed_idr"] = row["pagu_idr"] if row["status"] == "postponed" else 0
        row["absorption_pct"] = domain.absorption_pct(row["realised_idr"], row["pagu_idr"])
    total = {
        name: sum(r[name] for r in rows)
        for name in (
            "pagu_idr",
            "postponed_idr",
            "reserved_idr",
            "realised_idr",
            "refocused_in_idr",
            "refocused_out_idr",
        )
    }
    total["absorption_pct"] = domain.absorption_pct(total["realised_idr"], total["pagu_idr"])
    return _answer(Kpi(rows=rows, total=total, freshness=freshness), format)


@router.get("/enrollments", response_model=Kpi)
async def enrollment_funnel(
    runtime: Runtime,
    program_code: str | None = None,
    fiscal_year: int | None = None,
    format: Format = "json",
) -> Any:
    """The enrollment funnel per program and year: how many reached each stage."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        stages = await queries.funnel(
            session, models, program_code=program_code, fiscal_year=fiscal_year
        )
        freshness = await _freshness(runtime, session, models)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for stage in stages:
        key = (stage["program_code"], stage["fiscal_year"])
        rows.setdefault(key, {"program_code": key[0], "fiscal_year": key[1]})[stage["stage"]] = (
            stage["enrollments"]
        )
    return _answer(Kpi(rows=list(rows.values()), freshness=freshness), format)


@router.get("/postponements", response_model=Kpi)
async def postponements(runtime: Runtime, format: Format = "json") -> Any:
    """The impact of each postponement: enterprises and provinces suspended, amounts held."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        rows = []
        for line in await queries.postponed_lines(session, models):
            suspended = await queries.suspended_enrollments(session, models, line["budget_line_id"])
            rows.append(
                {
                    "budget_line_id": line["budget_line_id"],
                    "program_code": line["program_code"],
                    "fiscal_year": line["fiscal_year"],
                    "status": line["status"],
                    "reason": line["status_reason"],
                    "pagu_idr": line["pagu_idr"],
                    "enterprises_suspended": len(suspended),
                    "provinces": sorted({s["province_code"] for s in suspended}),
                    "reserved_suspended_idr": sum(s["reserved_idr"] for s in suspended),
                }
            )
        freshness = await _freshness(runtime, session, models)
    return _answer(Kpi(rows=rows, freshness=freshness), format)


@router.get("/partnerships", response_model=Kpi)
async def partnerships(
    runtime: Runtime, fiscal_year: int | None = None, format: Format = "json"
) -> Any:
    """Partnerships by stage and partner; attainment against each year's target in its unit."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        agreements = await queries.partnerships(session, models)
        targets = await queries.targets(session, models)
        freshness = await _freshness(runtime, session, models)
    by_stage: dict[tuple[str, str], dict[str, Any]] = {}
    for a in agreements:
        key = (a["partner_nib"], a["stage"])
        row = by_stage.setdefault(
            key,
            {
                "partner_nib": a["partner_nib"],
                "partner_name": a["partner_name"],
                "stage": a["stage"],
                "partnerships": 0,
            },
        )
        row["partnerships"] += 1
    years = sorted(
        {t["fiscal_year"] for t in targets}
        | {a["signed_year"] for a in agreements if a["signed_year"]}
    )
    attainment = []
    for year in years:
        if fiscal_year is not None and year != fiscal_year:
            continue
        signed = [
            (a["partner_nib"], a["ikm_nibs"].split(","))
            for a in agreements
            if a["signed_year"] == year
        ]
        year_targets = {
            CountingUnit(t["unit"]): t["target"] for t in targets if t["fiscal_year"] == year
        }
        for unit, (achieved, target, pct) in domain.attainment(signed, year_targets).items():
            attainment.append(
                {
                    "fiscal_year": year,
                    "unit": unit.value,
                    "achieved": achieved,
                    "target": target,
                    "attainment_pct": pct,
                }
            )
    kpi = Kpi(rows=list(by_stage.values()), total={"attainment": attainment}, freshness=freshness)
    if format == "csv":
        return _answer(Kpi(rows=attainment, freshness=freshness), format)
    return kpi


@router.get("/sentra", response_model=Kpi)
async def sentra(runtime: Runtime, format: Format = "json") -> Any:
    """Sentra IKM with their members and outcome figures over time (ranges as min/max)."""
    async with db.reading(runtime.sessions) as session:
        models = await store.readable(session)
        rows, outcomes = await queries.sentra(session, models)
        freshness = await _freshness(runtime, session, models)
    if format == "csv":
        return _answer(Kpi(rows=outcomes, freshness=freshness), format)
    for row in rows:
        row["outcomes"] = [o for o in outcomes if o["sentra_id"] == row["sentra_id"]]
        row["designated_on"] = (
            row["designated_on"].isoformat()
            if isinstance(row["designated_on"], date)
            else row["designated_on"]
        )
    return Kpi(rows=rows, freshness=freshness)
