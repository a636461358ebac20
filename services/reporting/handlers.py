"""Projections: how each fact changes the read models. Idempotent with the inbox, order-safe
where a late event could undo a newer state (enterprise facts carry the aggregate version)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import domain
from services.reporting.adapters import read_models as store
from services.reporting.adapters.tables import ReadModels
from shared import db
from shared.envelope import Envelope
from shared.events import partnerships as partnership_events
from shared.events import programs as program_events
from shared.events import registry as registry_events
from shared.events.programs import BudgetLineFacts, EnrollmentFacts


async def record_positions(
    session: AsyncSession, models: ReadModels, envelopes: list[Envelope]
) -> None:
    """Freshness: the next offset and latest event time per partition, once per batch."""
    latest: dict[tuple[str, int], Envelope] = {}
    for envelope in envelopes:
        if envelope.topic is None or envelope.partition is None or envelope.offset is None:
            continue
        key = (envelope.topic, envelope.partition)
        if key not in latest or (latest[key].offset or 0) < envelope.offset:
            latest[key] = envelope
    for (topic, partition), envelope in latest.items():
        await store.advance_position(
            session, models, topic, partition, (envelope.offset or 0) + 1, envelope.time
        )


# --- enterprises and certificates ------------------------------------------------------------


def _facts_of(row: Mapping[str, Any]) -> domain.EnterpriseFacts:
    return domain.EnterpriseFacts(**{name: row[name] for name in FACT_FIELDS})


def _facts_from_profile(profile: registry_events.EnterpriseProfile) -> domain.EnterpriseFacts:
    return domain.EnterpriseFacts(
        province_code=profile.province_code,
        regency_code=profile.regency_code or "",
        kbli_division=profile.kbli[:2],
        size_class=profile.size_class.value if profile.size_class else "",
        workforce=profile.workforce or 0,
        investment_idr=profile.investment_idr or 0,
        annual_sales_idr=profile.annual_sales_idr or 0,
        status=profile.status.value,
    )


ENTERPRISE_COLUMNS = ("province_code", "regency_code", "kbli_division", "size_class")
FACT_FIELDS = domain.EnterpriseFacts._fields


class EnterpriseProjection:
    """Enterprise facts and totals for a run of events, read and written in bulk.

    The national register arrives as millions of EnterpriseRegistered: one query loads the
    run's enterprises, the run is applied in memory in offset order (older versions ignored),
    and one statement each writes the facts and the totals' deltas.
    """

    def __init__(self, session: AsyncSession, models: ReadModels) -> None:
        self.session = session
        self.models = models
        self.known: dict[str, tuple[domain.EnterpriseFacts | None, int]] = {}
        self.changed: set[str] = set()
        self.deltas: dict[tuple[str, str, str, str], dict[str, int]] = {}

    async def load(self, nibs: set[str]) -> None:
        table = self.models.enterprises
        # not ``nibs - self.known.keys()``: a set minus a keys view walks every known key, and
        # ``apply`` loads once per event, so a batch cost grew with the square of its size
        missing = sorted(nib for nib in nibs if nib not in self.known)
        for start in range(0, len(missing), 1000):
            chunk = missing[start : start + 1000]
            rows = await db.rows_where_in(self.session, table, "nib", chunk)
            found = {row["nib"]: row for row in rows}
            for nib in chunk:
                row = found.get(nib)
                self.known[nib] = (_facts_of(row), row["version"]) if row is not None else (None, 0)

    async def apply(
        self, nib: str, version: int, change: domain.EnterpriseFacts | dict[str, str] | None
    ) -> None:
        if nib not in self.known:  # loaded with its run, usually
            await self.load({nib})
        before, known_version = self.known[nib]
        if known_version >= version:
            return
        if isinstance(change, domain.EnterpriseFacts):
            after: domain.EnterpriseFacts | None = change
        elif before is not None and change:
            after = before._replace(**change)
        else:
            after = before
        if after is None:
            return  # a certificate event for an enterprise reporting has not seen registered
        for dimensions, amounts in domain.totals_delta(before, after):
            total = self.deltas.setdefault(dimensions, dict.fromkeys(amounts, 0))
            for name, amount in amounts.items():
                total[name] += amount
        self.known[nib] = (after, version)
        self.changed.add(nib)

    async def flush(self) -> None:
        rows = []
        for nib in sorted(self.changed):
            facts, version = self.known[nib]
            rows.append({"nib": nib, **facts._asdict(), "version": version})
        await db.upsert_many(self.session, self.models.enterprises, rows, ["nib"])
        await db.add_many(
            self.session,
            self.models.enterprise_totals,
            [
                {
                    "province_code": province,
                    "regency_code": regency,
                    "kbli_division": division,
                    "size_class": size_class,
                    **amounts,
                }
                for (province, regency, division, size_class), amounts in sorted(
                    self.deltas.items()
                )
                if any(amounts.values())
            ],
            list(ENTERPRISE_COLUMNS),
        )
        self.changed.clear()
        self.deltas.clear()


async def set_certificate_status(
    session: AsyncSession,
    models: ReadModels,
    *,
    certificate_id: str,
    nib: str,
    scheme: str,
    province_code: str,
    status: str,
) -> None:
    existing = await store.row(session, models.certificates, certificate_id=certificate_id)
    if existing is not None and existing.status == status:
        return
    if existing is not None:
        await store.add_to(
            session,
            models.certificate_totals,
            {
                "scheme": existing.scheme,
                "province_code": existing.province_code,
                "status": existing.status,
            },
            {"certificates": -1},
        )
    await store.add_to(
        session,
        models.certificate_totals,
        {"scheme": scheme, "province_code": province_code, "status": status},
        {"certificates": 1},
    )
    await store.put(
        session,
        models.certificates,
        {"certificate_id": certificate_id},
        {"nib": nib, "scheme": scheme, "province_code": province_code, "status": status},
    )


async def on_registry_event(
    session: AsyncSession,
    models: ReadModels,
    event: registry_events.Event,
    enterprises: EnterpriseProjection,
) -> None:
    e = registry_events
    if isinstance(event, e.EnterpriseRegistered | e.EnterpriseUpdated):
        await enterprises.apply(event.nib, event.version, _facts_from_profile(event.profile))
    elif isinstance(event, e.EnterpriseReclassified):
        await enterprises.apply(event.nib, event.version, {"size_class": event.size_class.value})
    elif isinstance(event, e.EnterpriseClosed):
        await enterprises.apply(event.nib, event.version, {"status": "closed"})
    elif isinstance(event, e.EnterpriseCertified | e.CertificateRenewed):
        await enterprises.apply(event.nib, event.version, None)
        await set_certificate_status(
            session,
            models,
            certificate_id=event.certificate.certificate_id,
            nib=event.nib,
            scheme=event.certificate.scheme.value,
            province_code=event.province_code,
            status="active",
        )
    elif isinstance(event, e.CertificateExpired | e.CertificateRevoked):
        await enterprises.apply(event.nib, event.version, None)
        await set_certificate_status(
            session,
            models,
            certificate_id=event.certificate_id,
            nib=event.nib,
            scheme=event.scheme.value,
            province_code=event.province_code,
            status="expired" if isinstance(event, e.CertificateExpired) else "revoked",
        )
    elif isinstance(event, e.SentraDesignated):
        await store.put(
            session,
            models.sentra,
            {"sentra_id": event.sentra_id},
            {
                "name": event.name,
                "province_code": event.province_code,
                "regency_code": event.regency_code,
                "village": event.village,
                "commodity": event.commodity,
                "designated_on": event.designated_on,
            },
        )
    elif isinstance(event, e.SentraMemberJoined | e.SentraMemberLeft):
        await session.execute(
            update(models.sentra)
            .where(models.sentra.c.sentra_id == event.sentra_id)
            .values(members=event.member_count)
        )
    elif isinstance(event, e.SentraOutcomeReported):

        def bounds(figure: e.RangeFigure | None) -> tuple[float | None, float | None]:
            return (figure.min, figure.max) if figure else (None, None)

        workforce, revenue, production = (
            bounds(event.workforce),
            bounds(event.revenue_idr),
            bounds(event.production),
        )
        await store.put(
            session,
            models.sentra_outcomes,
            {"sentra_id": event.sentra_id, "period": event.period},
            {
                "members": event.members,
                "workforce_min": workforce[0],
                "workforce_max": workforce[1],
                "revenue_min_idr": revenue[0],
                "revenue_max_idr": revenue[1],
                "production_min": production[0],
                "production_max": production[1],
                "production_unit": event.production.unit if event.production else None,
                "source": event.source,
            },
        )


# --- programs, budgets, enrollments ----------------------------------------------------------


async def _ensure_line(
    session: AsyncSession,
    models: ReadModels,
    budget_line_id: str,
    program_code: str,
    fiscal_year: int,
    mechanism: str = "",
    province_code: str | None = None,
) -> None:
    """Create the line's row if no event has yet: events about it may come first from other
    partitions (a refocusing into it, an enrollment on it)."""
    statement = store.insert_ignoring_duplicates(session, models.budget_lines).values(
        budget_line_id=budget_line_id,
        program_code=program_code,
        fiscal_year=fiscal_year,
        mechanism=mechanism,
        province_code=province_code or "",
        status="allocated",
    )
    await session.execute(statement)


async def _ensure_line_of(session: AsyncSession, models: ReadModels, line: BudgetLineFacts) -> None:
    await _ensure_line(
        session,
        models,
        line.budget_line_id,
        line.program_code,
        line.fiscal_year,
        line.mechanism.value,
        line.province_code,
    )


async def _line_status(
    session: AsyncSession,
    models: ReadModels,
    line: BudgetLineFacts,
    status: str,
    at: datetime,
    reason: str | None,
    **values: object,
) -> None:
    await _ensure_line_of(session, models, line)
    await session.execute(
        update(models.budget_lines)
        .where(models.budget_lines.c.budget_line_id == line.budget_line_id)
        .values(status=status, status_reason=reason, status_changed_at=at, **values)
    )


async def _count_stage(
    session: AsyncSession, models: ReadModels, enrollment: EnrollmentFacts, stage: str
) -> None:
    await store.add_to(
        session,
        models.funnel,
        {
            "program_code": enrollment.program_code,
            "fiscal_year": enrollment.fiscal_year,
            "stage": stage,
        },
        {"enrollments": 1},
    )


async def _move_reservation(
    session: AsyncSession, models: ReadModels, facts: EnrollmentFacts, reserved: int
) -> None:
    lines = models.budget_lines
    await _ensure_line(session, models, facts.budget_line_id, facts.program_code, facts.fiscal_year)
    await session.execute(
        update(lines)
        .where(lines.c.budget_line_id == facts.budget_line_id)
        .values(reserved_idr=lines.c.reserved_idr + reserved)
    )


async def on_enrollment_event(
    session: AsyncSession, models: ReadModels, event: program_events.Event
) -> None:
    p = program_events
    facts: EnrollmentFacts = event.enrollment  # type: ignore[attr-defined]
    existing = await store.row(session, models.enrollments, enrollment_id=facts.enrollment_id)
    stage = {
        p.EnrollmentRequested: "requested",
        p.EnrollmentApproved: "approved",
        p.EnrollmentRejected: "rejected",
        p.EnrollmentAssistanceStarted: "in_assistance",
        p.EnrollmentSuspended: "suspended",
        p.EnrollmentResumed: "resumed",
        p.EnrollmentCompleted: "completed",
        p.EnrollmentCancelled: "cancelled",
        p.EnrollmentWithdrawn: "withdrawn",
    }[type(event)]
    reserved = existing.reserved_idr if existing is not None else 0
    status = stage
    if isinstance(event, p.EnrollmentApproved):
        await _move_reservation(session, models, facts, event.reserved_idr)
        reserved = event.reserved_idr
    elif isinstance(event, p.EnrollmentResumed):
        status = "approved" if reserved else "requested"
    elif isinstance(event, p.EnrollmentCompleted | p.EnrollmentCancelled | p.EnrollmentWithdrawn):
        # the reservation ends; what was spent moves to realised (BudgetRealised confirms it)
        await _move_reservation(session, models, facts, -reserved)
        reserved = 0
    await store.put(
        session,
        models.enrollments,
        {"enrollment_id": facts.enrollment_id},
        {
            "nib": facts.nib,
            "province_code": facts.province_code,
            "program_code": facts.program_code,
            "fiscal_year": facts.fiscal_year,
            "budget_line_id": facts.budget_line_id,
            "status": status,
            "reserved_idr": reserved,
            "realised_idr": getattr(event, "realised_idr", 0) or 0,
        },
    )
    if stage != "resumed":
        await _count_stage(session, models, facts, stage)


async def on_program_event(
    session: AsyncSession, models: ReadModels, event: program_events.Event
) -> None:
    p = program_events
    if isinstance(event, p.ProgramOpened):
        await store.put(
            session,
            models.programs,
            {"program_code": event.program_code},
            {
                "name": event.name,
                "program_type": event.program_type.value,
                "certificate_scheme": event.certificate_scheme.value
                if event.certificate_scheme
                else None,
                "status": "open",
            },
        )
    elif isinstance(event, p.ProgramClosed):
        await session.execute(
            update(models.programs)
            .where(models.programs.c.program_code == event.program_code)
            .values(status="closed")
        )
    elif isinstance(event, p.BudgetAllocated):
        await _line_status(
            session,
            models,
            event.line,
            "open",
            event.allocated_at,
            None,
            mechanism=event.line.mechanism.value,
            province_code=event.line.province_code or "",
            allocated_idr=event.pagu_idr,
            quota_enterprises=event.quota_enterprises,
        )
    elif isinstance(event, p.BudgetPostponed):
        lines = models.budget_lines
        await _line_status(
            session,
            models,
            event.line,
            "postponed",
            event.postponed_at,
            event.reason,
            postponement_deadline=event.deadline,
            times_postponed=lines.c.times_postponed + 1,
        )
    elif isinstance(event, p.BudgetResumed):
        await _line_status(session, models, event.line, "open", event.resumed_at, event.reason)
    elif isinstance(event, p.BudgetCancelled):
        await _line_status(
            session, models, event.line, "cancelled", event.cancelled_at, event.reason
        )
    elif isinstance(event, p.BudgetClosed):
        await _line_status(session, models, event.line, "closed", event.closed_at, event.reason)
    elif isinstance(event, p.BudgetRefocused):
        lines = models.budget_lines
        await _ensure_line_of(session, models, event.line)
        await _ensure_line_of(session, models, event.target)
        await session.execute(
            update(lines)
            .where(lines.c.budget_line_id == event.line.budget_line_id)
            .values(refocused_out_idr=lines.c.refocused_out_idr + event.amount_idr)
        )
        await session.execute(
            update(lines)
            .where(lines.c.budget_line_id == event.target.budget_line_id)
            .values(refocused_in_idr=lines.c.refocused_in_idr + event.amount_idr)
        )
    elif isinstance(event, p.BudgetRealised):
        lines = models.budget_lines
        await _ensure_line_of(session, models, event.line)
        await session.execute(
            update(lines)
            .where(lines.c.budget_line_id == event.line.budget_line_id)
            .values(realised_idr=event.realised_total_idr)
        )


# --- partnerships ----------------------------------------------------------------------------


async def on_partnership_event(
    session: AsyncSession, models: ReadModels, event: partnership_events.Event
) -> None:
    q = partnership_events
    if isinstance(event, q.PartnerRegistered):
        await store.put(
            session,
            models.partners,
            {"partner_nib": event.partner_nib},
            {"name": event.name, "sector": event.sector, "tier": event.tier},
        )
    elif isinstance(event, q.PartnershipProposed):
        await store.put(
            session,
            models.partnerships,
            {"partnership_id": event.partnership_id},
            {
                "partner_nib": event.partner_nib,
                "stage": "proposed",
                "component": event.component,
                "ikm_nibs": ",".join(sorted(event.ikm_nibs)),
            },
        )
    elif isinstance(event, q.PartnershipSigned):
        await store.put(
            session,
            models.partnerships,
            {"partnership_id": event.partnership_id},
            {
                "partner_nib": event.partner_nib,
                "stage": "mou_signed",
                "ikm_nibs": ",".join(sorted(event.ikm_nibs)),
                "signed_year": event.fiscal_year,
            },
        )
    elif isinstance(event, q.PartnershipStageChanged | q.PartnershipEnded):
        stage = event.to_stage.value if isinstance(event, q.PartnershipStageChanged) else "ended"
        await session.execute(
            update(models.partnerships)
            .where(models.partnerships.c.partnership_id == event.partnership_id)
            .values(stage=stage)
        )
    elif isinstance(event, q.PartnershipTargetSet):
        await store.put(
            session,
            models.targets,
            {"fiscal_year": event.fiscal_year, "unit": event.unit.value},
            {"target": event.target, "source": event.source},
        )
