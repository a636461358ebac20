"""Partnerships use cases: load, apply the domain rules, save and record events in one transaction.

Commands come from the API (partners, partnerships, targets); replica updates come from the
registry's and programs' events. Both end in ``reassess``: an IKM's readiness for each partner it
is a candidate of is recomputed and its changes, only its changes, are published.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field

from services.partnerships import domain
from services.partnerships.adapters.replica import ReplicaRepository
from services.partnerships.adapters.repository import (
    PartnerRepository,
    PartnershipRepository,
    ReadinessRepository,
    TargetRepository,
)
from shared.errors import Conflict, NotFound
from shared.events.registry import CertificateFacts, EnterpriseProfile
from shared.events.vocabulary import (
    CertificateScheme,
    CountingUnit,
    EnterpriseStatus,
    PartnershipStage,
)
from shared.unit_of_work import UnitOfWork

# --- Partners ---------------------------------------------------------------------------------


class RegisterPartner(BaseModel):
    partner_nib: str
    name: str
    sector: str
    tier: int
    required_certificates: list[CertificateScheme] = Field(default_factory=list)
    min_tkdn_pct: float | None = None


async def register_partner(uow: UnitOfWork, command: RegisterPartner, actor: str) -> domain.Partner:
    partners = PartnerRepository(uow.session)
    if await partners.get(command.partner_nib) is not None:
        raise Conflict(f"partner {command.partner_nib} is already registered", field="partner_nib")
    partner, registered = domain.register_partner(
        **command.model_dump(), now=datetime.now(UTC), actor=actor
    )
    await partners.add(partner)
    await uow.record(registered)
    return partner


# --- Partnerships -----------------------------------------------------------------------------


class ProposePartnership(BaseModel):
    partner_nib: str
    ikm_nibs: list[str]
    component: str
    facilitated_by: str | None = None
    value_idr: int | None = None
    proposed_on: date


async def propose_partnership(
    uow: UnitOfWork, command: ProposePartnership, actor: str
) -> domain.Partnership:
    now = datetime.now(UTC)
    partner = await _partner(uow, command.partner_nib)
    enterprises = await ReplicaRepository(uow.session).enterprises(command.ikm_nibs, lock=True)
    partnership, proposed = domain.propose(
        partnership_id=str(uuid.uuid4()),
        partner=partner,
        enterprises=enterprises,
        now=now,
        actor=actor,
        **command.model_dump(exclude={"partner_nib"}),
    )
    await PartnershipRepository(uow.session).add(partnership)
    await uow.record(proposed)
    for nib in partnership.ikm_nibs:  # each IKM is now a candidate supplier of this partner
        await reassess(uow, nib, now)
    return partnership


async def sign_partnership(
    uow: UnitOfWork,
    partnership_id: str,
    *,
    signed_on: date,
    actor: str,
    expected_version: int | None,
) -> domain.Partnership:
    partnership = await _partnership(uow, partnership_id)
    partner = await _partner(uow, partnership.partner_nib)
    replica = ReplicaRepository(uow.session)
    enterprises = await replica.enterprises(partnership.ikm_nibs, lock=True)
    # Assessed afresh from the replica in this transaction, not read from the last stored state.
    readiness = {
        nib: domain.assess(
            nib, partner, await replica.holdings(nib), await replica.suspensions(nib)
        )
        for nib in partnership.ikm_nibs
    }
    signed, event = domain.sign(
        partnership,
        partner=partner,
        readiness=readiness,
        enterprises=enterprises,
        signed_on=signed_on,
        now=datetime.now(UTC),
        actor=actor,
        expected_version=expected_version,
    )
    await PartnershipRepository(uow.session).save(signed, previous_version=partnership.version)
    await uow.record(event)
    return signed


async def advance_partnership(
    uow: UnitOfWork,
    partnership_id: str,
    *,
    to: PartnershipStage,
    on: date,
    actor: str,
    expected_version: int | None,
) -> domain.Partnership:
    partnership = await _partnership(uow, partnership_id)
    moved, event = domain.advance(
        partnership,
        to=to,
        on=on,
        now=datetime.now(UTC),
        actor=actor,
        expected_version=expected_version,
    )
    await PartnershipRepository(uow.session).save(moved, previous_version=partnership.version)
    await uow.record(event)
    return moved


async def end_partnership(
    uow: UnitOfWork,
    partnership_id: str,
    *,
    on: date,
    reason: str,
    actor: str,
    expected_version: int | None,
) -> domain.Partnership:
    now = datetime.now(UTC)
    partnership = await _partnership(uow, partnership_id)
    ended, event = domain.end(
        partnership, on=on, reason=reason, now=now, actor=actor, expected_version=expected_version
    )
    await PartnershipRepository(uow.session).save(ended, previous_version=partnership.version)
    await uow.record(event)
    for nib in ended.ikm_nibs:  # no longer a candidate unless another partnership links them
        await reassess(uow, nib, now)
    return ended


async def _partner(uow: UnitOfWork, partner_nib: str) -> domain.Partner:
    partner = await PartnerRepository(uow.session).get(partner_nib)
    if partner is None:
        raise NotFound(f"no partner firm with NIB {partner_nib}", field="partner_nib")
    return partner


async def _partnership(uow: UnitOfWork, partnership_id: str) -> domain.Partnership:
    partnership = await PartnershipRepository(uow.session).get(partnership_id)
    if partnership is None:
        raise NotFound(f"no partnership {partnership_id}", field="partnership_id")
    return partnership


# --- Supplier readiness -----------------------------------------------------------------------


async def reassess(uow: UnitOfWork, nib: str, at: datetime) -> None:
    """Recompute an IKM's readiness for every partner it is a candidate of; store and publish
    what changed. Candidates whose last open partnership ended are dropped silently."""
    replica = ReplicaRepository(uow.session)
    if await replica.enterprise(nib, lock=True) is None:
        return  # never registered here, so never proposed: a candidate of no one
    partnerships, stored = PartnershipRepository(uow.session), ReadinessRepository(uow.session)
    previous = {r.partner_nib: r for r in await stored.of_enterprise(nib)}
    partners = await PartnerRepository(uow.session).get_many(
        await partnerships.open_partners_of(nib)
    )
    holdings, suspensions = await replica.holdings(nib), await replica.suspensions(nib)
    for partner in partners:
        current = domain.assess(nib, partner, holdings, suspensions)
        before = previous.pop(partner.partner_nib, None)
        if current != before:
            await stored.save(current, at)
            await uow.record(*domain.readiness_changes(before, current, at))
    for partner_nib in previous:
        await stored.remove(nib, partner_nib)


# --- The replica ------------------------------------------------------------------------------


async def replicate_profiles(
    uow: UnitOfWork, changes: list[tuple[str, int, EnterpriseProfile]]
) -> None:
    """A run of registrations and profile updates (a register import), in bulk. Profiles
    change no readiness: that depends on certificates and enrollments only."""
    replica = ReplicaRepository(uow.session)
    known = await replica.enterprises((nib for nib, _, _ in changes), lock=True)
    changed: dict[str, domain.Enterprise] = {}
    for nib, version, profile in changes:
        updated = domain.replicate(
            known.get(nib),
            nib=nib,
            version=version,
            name=profile.name,
            province_code=profile.province_code,
            status=profile.status,
        )
        if updated is not None:
            known[nib] = changed[nib] = updated
    await replica.save_enterprises(changed.values())


async def replicate_enterprise(
    uow: UnitOfWork,
    nib: str,
    version: int,
    *,
    profile: EnterpriseProfile | None = None,
    province_code: str | None = None,
    status: EnterpriseStatus | None = None,
) -> bool:
    """Apply an enterprise event to the replica; False when it is not newer than the replica."""
    replica = ReplicaRepository(uow.session)
    known = await replica.enterprise(nib, lock=True)
    updated = domain.replicate(
        known,
        nib=nib,
        version=version,
        name=profile.name if profile else None,
        province_code=profile.province_code if profile else province_code,
        status=profile.status if profile else status,
    )
    if updated is None:
        return False
    await replica.save_enterprise(updated)
    return True


async def certificate_held(
    uow: UnitOfWork,
    nib: str,
    version: int,
    province_code: str,
    certificate: CertificateFacts,
    at: datetime,
) -> None:
    if not await replicate_enterprise(uow, nib, version, province_code=province_code):
        return
    holding = domain.Holding(
        certificate_id=certificate.certificate_id,
        scheme=certificate.scheme,
        tkdn_pct=certificate.tkdn_pct,
        expires_on=certificate.expires_on,
    )
    await ReplicaRepository(uow.session).hold(nib, holding)
    await reassess(uow, nib, at)


async def certificate_withdrawn(
    uow: UnitOfWork, nib: str, version: int, province_code: str, certificate_id: str, at: datetime
) -> None:
    if not await replicate_enterprise(uow, nib, version, province_code=province_code):
        return
    await ReplicaRepository(uow.session).withdraw(certificate_id)
    await reassess(uow, nib, at)


async def enrollment_suspended(
    uow: UnitOfWork, nib: str, suspension: domain.Suspension, at: datetime
) -> None:
    await ReplicaRepository(uow.session).suspend(nib, suspension, at)
    await reassess(uow, nib, at)


async def suspension_lifted(uow: UnitOfWork, nib: str, enrollment_id: str, at: datetime) -> None:
    await ReplicaRepository(uow.session).lift(enrollment_id)
    await reassess(uow, nib, at)


# --- Targets ----------------------------------------------------------------------------------


async def set_target(
    uow: UnitOfWork,
    fiscal_year: int,
    unit: CountingUnit,
    *,
    target: int,
    source: str | None,
    actor: str,
) -> domain.Target:
    targets = TargetRepository(uow.session)
    existing = await targets.get(fiscal_year, unit)
    new, events = domain.set_target(
        existing,
        fiscal_year=fiscal_year,
        unit=unit,
        target=target,
        source=source,
        now=datetime.now(UTC),
        actor=actor,
    )
    if events:
        await targets.save(new)
        await uow.record(*events)
    return new
