"""Link and Match between IKM and large industry: partner firms, partnerships, supplier readiness
and yearly targets. Pure: no I/O, no framework; each change returns the new state and its events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from shared.errors import Conflict, DomainError
from shared.events.base import Event
from shared.events.partnerships import (
    PartnerRegistered,
    PartnershipEnded,
    PartnershipProposed,
    PartnershipSigned,
    PartnershipStageChanged,
    PartnershipTargetSet,
    SupplierDisqualified,
    SupplierQualified,
    SupplierReadinessBlocked,
    SupplierReadinessUnblocked,
    SupplierRequirements,
    SuspendedEnrollment,
)
from shared.events.vocabulary import (
    CertificateScheme,
    CountingUnit,
    EnterpriseStatus,
    PartnershipStage,
)

NIB_PATTERN = re.compile(r"^\d{13}$")
FISCAL_YEARS = range(2000, 2101)
MAX_TIER = 3  # 0 = OEM, 1 = tier-1 supplier ... as in the event contract
# Indonesia's easternmost time zone (WIT, UTC+9, no daylight saving) has the latest calendar date
# in the country: a date after it is in the future wherever the user sits.
WIT = timezone(timedelta(hours=9), "WIT")

Stage = PartnershipStage


def check_nib(nib: str, field: str) -> str:
    if not NIB_PATTERN.fullmatch(nib):
        raise DomainError(f"NIB {nib!r} must be exactly 13 digits", field=field)
    return nib


def check_not_future(on: date, now: datetime, field: str) -> date:
    if on > now.astimezone(WIT).date():
        raise DomainError(f"{field} {on.isoformat()} is in the future", field=field)
    return on


def _required_text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise DomainError(f"{field} must not be empty", field=field)
    return value


# --- The replica: what partnerships knows of each IKM from the registry and programs ----------


@dataclass(frozen=True)
class Enterprise:
    """An IKM as the registry's events describe it. ``name`` is None until its registration
    event is seen (a certificate event may arrive for an enterprise registered before us)."""

    nib: str
    name: str | None
    province_code: str | None
    status: EnterpriseStatus
    version: int

    @property
    def label(self) -> str:
        return f"IKM {self.nib} ({self.name})" if self.name else f"IKM {self.nib}"


def replicate(
    known: Enterprise | None,
    *,
    nib: str,
    version: int,
    name: str | None = None,
    province_code: str | None = None,
    status: EnterpriseStatus | None = None,
) -> Enterprise | None:
    """The replica after an enterprise event, or None when the event is not newer than what the
    replica holds: a re-published old event must not roll the replica back."""
    if known is not None and version <= known.version:
        return None
    if known is None:
        return Enterprise(
            nib, name or None, province_code or None, status or EnterpriseStatus.ACTIVE, version
        )
    return replace(
        known,
        version=version,
        name=name or known.name,
        province_code=province_code or known.province_code,
        status=status or known.status,
    )


@dataclass(frozen=True)
class Holding:
    """A certificate an IKM holds now (expired and revoked ones are dropped from the replica)."""

    certificate_id: str
    scheme: CertificateScheme
    tkdn_pct: float | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class Suspension:
    """An IKM's assistance enrollment for a certificate, suspended (e.g. its budget postponed)."""

    enrollment_id: str
    budget_line_id: str
    program_code: str
    certificate_scheme: CertificateScheme


# --- Partner firms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    """What a partner firm asks of its IKM suppliers, as data (not hard-coded per tier)."""

    certificates: frozenset[CertificateScheme] = frozenset()
    min_tkdn_pct: float | None = None

    @property
    def schemes(self) -> tuple[CertificateScheme, ...]:
        """Every certificate a supplier must hold: a minimum TKDN value needs a TKDN IK one."""
        needed = set(self.certificates)
        if self.min_tkdn_pct is not None:
            needed.add(CertificateScheme.TKDN_IK)
        return tuple(sorted(needed))

    def describe(self, scheme: CertificateScheme) -> str:
        if scheme is CertificateScheme.TKDN_IK and self.min_tkdn_pct is not None:
            return f"TKDN_IK of at least {self.min_tkdn_pct:g}%"
        return scheme.value

    def unmet_by(self, holdings: Iterable[Holding]) -> tuple[CertificateScheme, ...]:
        holdings = list(holdings)
        held = {h.scheme for h in holdings}
        best_tkdn = max(
            (
                h.tkdn_pct
                for h in holdings
                if h.scheme is CertificateScheme.TKDN_IK and h.tkdn_pct is not None
            ),
            default=None,
        )
        missing = []
        for scheme in self.schemes:
            if scheme is CertificateScheme.TKDN_IK and self.min_tkdn_pct is not None:
                met = best_tkdn is not None and best_tkdn >= self.min_tkdn_pct
            else:
                met = scheme in held
            if not met:
                missing.append(scheme)
        return tuple(missing)


@dataclass(frozen=True)
class Partner:
    partner_nib: str
    name: str
    sector: str
    tier: int
    requirements: Requirements
    registered_at: datetime

    @property
    def label(self) -> str:
        return f"tier-{self.tier} partner {self.name} ({self.partner_nib})"


def register_partner(
    *,
    partner_nib: str,
    name: str,
    sector: str,
    tier: int,
    required_certificates: Iterable[CertificateScheme],
    min_tkdn_pct: float | None,
    now: datetime,
    actor: str,
) -> tuple[Partner, PartnerRegistered]:
    if not 0 <= tier <= MAX_TIER:
        raise DomainError(
            f"tier must be 0 (OEM) to {MAX_TIER}, the firm's place in the supply chain",
            field="tier",
        )
    if min_tkdn_pct is not None and not 0 <= min_tkdn_pct <= 100:
        raise DomainError("min_tkdn_pct is a percentage: 0 to 100", field="min_tkdn_pct")
    partner = Partner(
        partner_nib=check_nib(partner_nib, "partner_nib"),
        name=_required_text(name, "name"),
        sector=_required_text(sector, "sector"),
        tier=tier,
        requirements=Requirements(frozenset(required_certificates), min_tkdn_pct),
        registered_at=now,
    )
    event = PartnerRegistered(
        partner_nib=partner.partner_nib,
        name=partner.name,
        sector=partner.sector,
        tier=partner.tier,
        requirements=SupplierRequirements(
            required_certificates=sorted(partner.requirements.certificates),
            min_tkdn_pct=min_tkdn_pct,
        ),
        registered_at=now,
        actor=actor,
    )
    return partner, event


# --- Supplier readiness -----------------------------------------------------------------------


class ReadinessStatus(StrEnum):
    QUALIFIED = "qualified"
    MISSING = "missing"  # misses requirements; nothing stands in the way of obtaining them
    BLOCKED = "blocked"  # the enrollment for a missing certificate is suspended


@dataclass(frozen=True)
class Readiness:
    """How ready one IKM is to supply one partner firm."""

    nib: str
    partner_nib: str
    status: ReadinessStatus
    missing: tuple[CertificateScheme, ...] = ()
    blocked_by: tuple[Suspension, ...] = ()


def assess(
    nib: str, partner: Partner, holdings: Iterable[Holding], suspensions: Iterable[Suspension]
) -> Readiness:
    missing = partner.requirements.unmet_by(holdings)
    blocking = tuple(
        sorted(
            (s for s in suspensions if s.certificate_scheme in missing),
            key=lambda s: s.enrollment_id,
        )
    )
    if not missing:
        status = ReadinessStatus.QUALIFIED
    elif blocking:
        status = ReadinessStatus.BLOCKED
    else:
        status = ReadinessStatus.MISSING
    return Readiness(nib, partner.partner_nib, status, missing, blocking)


def readiness_changes(previous: Readiness | None, current: Readiness, at: datetime) -> list[Event]:
    """The facts to publish when readiness moves from ``previous`` (None for a new candidate).

    Two flags, each with an event on entering and leaving it: qualified (SupplierQualified /
    SupplierDisqualified) and blocked (SupplierReadinessBlocked / SupplierReadinessUnblocked).
    Blocked is published again when the enrollments that block change. Anything else (a
    duplicate event, a certificate no partner asks for) publishes nothing.
    """
    was_qualified = previous is not None and previous.status is ReadinessStatus.QUALIFIED
    was_blocked = previous is not None and previous.status is ReadinessStatus.BLOCKED
    is_qualified = current.status is ReadinessStatus.QUALIFIED
    is_blocked = current.status is ReadinessStatus.BLOCKED
    nib, partner_nib, missing = current.nib, current.partner_nib, list(current.missing)

    events: list[Event] = []
    if was_qualified and not is_qualified:
        events.append(
            SupplierDisqualified(
                nib=nib, partner_nib=partner_nib, missing=missing, disqualified_at=at
            )
        )
    if was_blocked and not is_blocked:
        events.append(
            SupplierReadinessUnblocked(
                nib=nib, partner_nib=partner_nib, missing=missing, unblocked_at=at
            )
        )
    blockers_before = previous.blocked_by if previous is not None and was_blocked else None
    if is_blocked and current.blocked_by != blockers_before:
        events.append(
            SupplierReadinessBlocked(
                nib=nib,
                partner_nib=partner_nib,
                missing=missing,
                blocked_by=[
                    SuspendedEnrollment(
                        enrollment_id=s.enrollment_id,
                        budget_line_id=s.budget_line_id,
                        program_code=s.program_code,
                        certificate_scheme=s.certificate_scheme,
                    )
                    for s in current.blocked_by
                ],
                blocked_at=at,
            )
        )
    if is_qualified and not was_qualified:
        events.append(SupplierQualified(nib=nib, partner_nib=partner_nib, qualified_at=at))
    return events


def shortfall(enterprise_label: str, partner: Partner, readiness: Readiness) -> str:
    """Why an IKM cannot supply a partner yet, in words a ministry officer can act on."""
    needs = ", ".join(partner.requirements.describe(s) for s in readiness.missing)
    text = f"{enterprise_label} misses {needs} required by {partner.label}"
    if readiness.blocked_by:
        suspended = ", ".join(
            f"{s.certificate_scheme.value} (enrollment {s.enrollment_id}, "
            f"budget line {s.budget_line_id})"
            for s in readiness.blocked_by
        )
        text += f"; its assistance enrollment is suspended for {suspended}"
    return text


# --- Partnerships -----------------------------------------------------------------------------

FORWARD = (
    Stage.PROPOSED,
    Stage.MOU_SIGNED,
    Stage.COACHING,
    Stage.TRIAL_SUPPLY,
    Stage.ACTIVE_SUPPLY,
)
# Stages reached through ``advance``; signing checks requirements and ending needs a reason.
ADVANCEABLE = (Stage.COACHING, Stage.TRIAL_SUPPLY, Stage.ACTIVE_SUPPLY)


def next_stages(stage: Stage) -> tuple[Stage, ...]:
    """Forward one step at a time (coaching takes years, it is not skipped), or end."""
    if stage is Stage.ENDED:
        return ()
    position = FORWARD.index(stage)
    return (*FORWARD[position + 1 : position + 2], Stage.ENDED)


@dataclass(frozen=True)
class Partnership:
    partnership_id: str
    partner_nib: str
    ikm_nibs: tuple[str, ...]
    component: str
    facilitated_by: str | None
    value_idr: int | None
    stage: Stage
    stage_dates: Mapping[Stage, date]
    end_reason: str | None = None
    version: int = 1

    @property
    def signed_on(self) -> date | None:
        return self.stage_dates.get(Stage.MOU_SIGNED)

    @property
    def fiscal_year(self) -> int | None:
        """The year the agreement counts towards (fiscal year = calendar year)."""
        return self.signed_on.year if self.signed_on else None

    @property
    def last_change_on(self) -> date:
        return max(self.stage_dates.values())


def propose(
    *,
    partnership_id: str,
    partner: Partner,
    ikm_nibs: Sequence[str],
    enterprises: Mapping[str, Enterprise],
    component: str,
    facilitated_by: str | None,
    value_idr: int | None,
    proposed_on: date,
    now: datetime,
    actor: str,
) -> tuple[Partnership, PartnershipProposed]:
    if not ikm_nibs:
        raise DomainError("a partnership needs at least one IKM", field="ikm_nibs")
    for nib in ikm_nibs:
        check_nib(nib, "ikm_nibs")
    if len(set(ikm_nibs)) != len(ikm_nibs):
        raise DomainError("an IKM is listed more than once", field="ikm_nibs")
    if partner.partner_nib in ikm_nibs:
        raise DomainError(
            f"{partner.partner_nib} is the partner firm, not one of its IKM suppliers",
            field="ikm_nibs",
        )
    for nib in ikm_nibs:
        enterprise = enterprises.get(nib)
        if enterprise is None:
            raise DomainError(
                f"IKM {nib} is not in the register (or its registration has not reached "
                "partnerships yet)",
                field="ikm_nibs",
            )
        if enterprise.status is not EnterpriseStatus.ACTIVE:
            raise DomainError(f"{enterprise.label} is {enterprise.status.value}", field="ikm_nibs")
    if value_idr is not None and value_idr < 0:
        raise DomainError("value_idr must not be negative", field="value_idr")
    partnership = Partnership(
        partnership_id=partnership_id,
        partner_nib=partner.partner_nib,
        ikm_nibs=tuple(ikm_nibs),
        component=_required_text(component, "component"),
        facilitated_by=(facilitated_by or "").strip() or None,
        value_idr=value_idr,
        stage=Stage.PROPOSED,
        stage_dates={Stage.PROPOSED: check_not_future(proposed_on, now, "proposed_on")},
    )
    event = PartnershipProposed(
        partnership_id=partnership.partnership_id,
        partner_nib=partnership.partner_nib,
        ikm_nibs=list(partnership.ikm_nibs),
        component=partnership.component,
        facilitated_by=partnership.facilitated_by,
        value_idr=partnership.value_idr,
        proposed_on=proposed_on,
        actor=actor,
    )
    return partnership, event


def check_version(partnership: Partnership, expected: int | None) -> None:
    if expected is not None and expected != partnership.version:
        raise Conflict(
            f"partnership {partnership.partnership_id} is at version {partnership.version}, "
            f"not {expected}: reload it and retry",
            field="If-Match",
        )


def _move(partnership: Partnership, to: Stage, on: date, now: datetime, field: str) -> Partnership:
    allowed = next_stages(partnership.stage)
    if to not in allowed:
        options = " or ".join(s.value for s in allowed) or "nothing: it has ended"
        raise Conflict(
            f"partnership {partnership.partnership_id} is {partnership.stage.value}; it can move "
            f"to {options}, not {to.value}",
            field="stage",
        )
    check_not_future(on, now, field)
    if on < partnership.last_change_on:
        raise DomainError(
            f"{field} {on.isoformat()} is before the partnership's last stage change "
            f"({partnership.last_change_on.isoformat()})",
            field=field,
        )
    return replace(
        partnership,
        stage=to,
        stage_dates={**partnership.stage_dates, to: on},
        version=partnership.version + 1,
    )


def sign(
    partnership: Partnership,
    *,
    partner: Partner,
    readiness: Mapping[str, Readiness],
    enterprises: Mapping[str, Enterprise],
    signed_on: date,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> tuple[Partnership, PartnershipSigned]:
    """The MoU is signed, counted towards the year's target, only when every IKM in it is still
    in business and meets the partner's requirements; otherwise refused, naming each IKM and what
    it misses."""
    check_version(partnership, expected_version)
    signed = _move(partnership, Stage.MOU_SIGNED, signed_on, now, "signed_on")
    inactive = [
        f"{e.label} is {e.status.value}"
        for e in (enterprises.get(nib) for nib in partnership.ikm_nibs)
        if e is not None and e.status is not EnterpriseStatus.ACTIVE
    ]
    shortfalls = inactive + [
        shortfall(_label(nib, enterprises), partner, readiness[nib])
        for nib in partnership.ikm_nibs
        if readiness[nib].status is not ReadinessStatus.QUALIFIED
    ]
    if shortfalls:
        raise DomainError("cannot sign: " + "; ".join(shortfalls), field="ikm_nibs")
    event = PartnershipSigned(
        partnership_id=signed.partnership_id,
        partner_nib=signed.partner_nib,
        ikm_nibs=list(signed.ikm_nibs),
        signed_on=signed_on,
        fiscal_year=signed_on.year,
        actor=actor,
    )
    return signed, event


def _label(nib: str, enterprises: Mapping[str, Enterprise]) -> str:
    enterprise = enterprises.get(nib)
    return enterprise.label if enterprise else f"IKM {nib}"


def advance(
    partnership: Partnership,
    *,
    to: Stage,
    on: date,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> tuple[Partnership, PartnershipStageChanged]:
    check_version(partnership, expected_version)
    if to is Stage.MOU_SIGNED:
        raise DomainError(
            "a partnership reaches mou_signed by being signed, which checks the partner's "
            "requirements: sign it instead",
            field="stage",
        )
    if to is Stage.ENDED:
        raise DomainError("ending a partnership records a reason: end it instead", field="stage")
    moved = _move(partnership, to, on, now, "on")
    event = PartnershipStageChanged(
        partnership_id=moved.partnership_id,
        partner_nib=moved.partner_nib,
        from_stage=partnership.stage,
        to_stage=to,
        changed_on=on,
        actor=actor,
    )
    return moved, event


def end(
    partnership: Partnership,
    *,
    on: date,
    reason: str,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> tuple[Partnership, PartnershipEnded]:
    check_version(partnership, expected_version)
    reason = _required_text(reason, "reason")
    ended = replace(_move(partnership, Stage.ENDED, on, now, "ended_on"), end_reason=reason)
    event = PartnershipEnded(
        partnership_id=ended.partnership_id,
        partner_nib=ended.partner_nib,
        ended_on=on,
        reason=reason,
        actor=actor,
    )
    return ended, event


# --- Targets and attainment -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    fiscal_year: int
    unit: CountingUnit
    target: int
    source: str | None
    set_at: datetime

    @property
    def target_id(self) -> str:
        return target_id(self.fiscal_year, self.unit)


def target_id(fiscal_year: int, unit: CountingUnit) -> str:
    return f"{fiscal_year}-{unit.value}"


def check_fiscal_year(fiscal_year: int) -> int:
    if fiscal_year not in FISCAL_YEARS:
        raise DomainError(
            f"fiscal_year must be between {FISCAL_YEARS.start} and {FISCAL_YEARS.stop - 1}",
            field="fiscal_year",
        )
    return fiscal_year


def set_target(
    existing: Target | None,
    *,
    fiscal_year: int,
    unit: CountingUnit,
    target: int,
    source: str | None,
    now: datetime,
    actor: str,
) -> tuple[Target, list[PartnershipTargetSet]]:
    """Set (or change) a year's target in one counting unit; setting the same again is no news."""
    check_fiscal_year(fiscal_year)
    if target < 0:
        raise DomainError("target must not be negative", field="target")
    source = (source or "").strip() or None
    if existing is not None and (existing.target, existing.source) == (target, source):
        return existing, []
    new = Target(fiscal_year, unit, target, source, now)
    event = PartnershipTargetSet(
        target_id=new.target_id,
        fiscal_year=fiscal_year,
        unit=unit,
        target=target,
        source=source,
        set_at=now,
        actor=actor,
    )
    return new, [event]


@dataclass(frozen=True)
class SignedAgreement:
    """A partnership signed in the year being counted (it stays counted if it ends later)."""

    partnership_id: str
    partner_nib: str
    ikm_nibs: frozenset[str]


def achieved(unit: CountingUnit, agreements: Iterable[SignedAgreement]) -> int:
    """The seed's "15" counts agreements, its "45" counts IKM: each unit is counted its own way."""
    agreements = list(agreements)
    if unit is CountingUnit.AGREEMENTS:
        return len({a.partnership_id for a in agreements})
    if unit is CountingUnit.IKM:
        return len({nib for a in agreements for nib in a.ikm_nibs})
    return len({a.partner_nib for a in agreements})


@dataclass(frozen=True)
class Attainment:
    unit: CountingUnit
    target: int | None
    achieved: int

    @property
    def attainment_pct(self) -> float | None:
        if not self.target:
            return None
        return round(100.0 * self.achieved / self.target, 1)


def attainment(
    agreements: Iterable[SignedAgreement], targets: Mapping[CountingUnit, Target]
) -> list[Attainment]:
    """One line per counting unit, with or without a target, so no figure goes unitless."""
    agreements = list(agreements)
    return [
        Attainment(
            unit=unit,
            target=targets[unit].target if unit in targets else None,
            achieved=achieved(unit, agreements),
        )
        for unit in CountingUnit
    ]
