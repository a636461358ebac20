"""The national IKM register: enterprises, their certificates and sentra. Pure: no I/O.

Every function checks its rules and returns the events the change causes; a rule broken raises
:class:`DomainError` naming the field. Each enterprise event bumps the enterprise's version, which
replicas in other services use to ignore older events.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime

from services.registry import reference
from services.registry.size_class import default_regime, regimes
from shared.errors import Conflict, DomainError, InvalidInput
from shared.events.registry import (
    CertificateExpired,
    CertificateFacts,
    CertificateRenewed,
    CertificateRevoked,
    EnterpriseCertified,
    EnterpriseClosed,
    EnterpriseProfile,
    EnterpriseReclassified,
    EnterpriseRegistered,
    EnterpriseUpdated,
    RangeFigure,
    SentraDesignated,
    SentraMemberJoined,
    SentraMemberLeft,
    SentraOutcomeReported,
)
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass

NIB_PATTERN = re.compile(r"^\d{13}$")
NPWP_PATTERN = re.compile(r"^\d{16}$")
NIK_PATTERN = re.compile(r"^\d{16}$")
KBLI_PATTERN = re.compile(r"^\d{5}$")
PROVINCE_PATTERN = re.compile(r"^\d{2}$")
REGENCY_PATTERN = re.compile(r"^\d{4}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_PATTERN = re.compile(r"^\+?\d{8,15}$")
MANUFACTURING_DIVISIONS = range(10, 34)  # KBLI 2020 category C: golongan pokok 10–33
TKDN_IK_MINIMUM_PCT = 25.0  # Permenperin 46/2022
SENTRA_MINIMUM_MEMBERS = 5  # PP 29/2018
LEGAL_FORMS = ("PT", "CV", "UD", "Firma", "Koperasi", "Perorangan", "PT Perorangan")


# --- single-field rules -----------------------------------------------------------------------


def check_nib(nib: str) -> str:
    if not NIB_PATTERN.fullmatch(nib):
        raise DomainError("NIB must be exactly 13 digits", field="nib")
    return nib


def check_npwp(npwp: str | None) -> str | None:
    if npwp is not None and not NPWP_PATTERN.fullmatch(npwp):
        raise DomainError("NPWP must be 16 digits without punctuation", field="npwp")
    return npwp


def check_province(code: str, on: date | None = None) -> str:
    if not PROVINCE_PATTERN.fullmatch(code):
        raise DomainError(
            "province_code must be the 2-digit Kemendagri code", field="province_code"
        )
    if reference.province(code, on) is None:
        raise DomainError(
            f"province_code {code!r} is not a Kemendagri province code valid on "
            f"{(on or date.today()).isoformat()}",
            field="province_code",
        )
    return code


def check_regency(code: str, province_code: str, on: date | None = None) -> str:
    if not REGENCY_PATTERN.fullmatch(code):
        raise DomainError("regency_code must be the 4-digit Kemendagri code", field="regency_code")
    if code[:2] != province_code:
        raise DomainError(
            f"regency_code {code} is not in province {province_code}: its first two digits "
            "must be the province code",
            field="regency_code",
        )
    if reference.regency(code, on) is None:
        raise DomainError(
            f"regency_code {code} is not a Kemendagri regency/city code valid on "
            f"{(on or date.today()).isoformat()}",
            field="regency_code",
        )
    return code


def check_manufacturing_kbli(code: str, field: str = "kbli") -> str:
    if not KBLI_PATTERN.fullmatch(code):
        raise DomainError("KBLI 2020 codes are exactly 5 digits", field=field)
    if int(code[:2]) not in MANUFACTURING_DIVISIONS:
        raise DomainError(
            f"KBLI {code} is not manufacturing: an IKM's primary KBLI must be in divisions 10–33",
            field=field,
        )
    if reference.kbli(code) is None:
        raise DomainError(f"KBLI {code} is not a KBLI 2020 manufacturing code", field=field)
    return code


def check_secondary_kbli(codes: list[str]) -> list[str]:
    for code in codes:
        if not KBLI_PATTERN.fullmatch(code):
            raise DomainError(f"KBLI {code!r} is not 5 digits", field="secondary_kbli")
        if int(code[:2]) in MANUFACTURING_DIVISIONS and reference.kbli(code) is None:
            raise DomainError(
                f"KBLI {code} is not a KBLI 2020 manufacturing code", field="secondary_kbli"
            )
    if len(set(codes)) != len(codes):
        raise DomainError("secondary_kbli lists a code twice", field="secondary_kbli")
    return codes


def check_amount(value: int | None, field: str) -> int | None:
    if value is not None and value < 0:
        raise DomainError(f"{field} must not be negative", field=field)
    return value


# --- enterprises ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerContact:
    """Personal data of the owner: kept in the registry database, never put in an event."""

    nik: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class EnterpriseDetails:
    """What a caller supplies about an enterprise (everything but the NIB)."""

    name: str
    province_code: str
    kbli: str
    regency_code: str | None = None
    legal_form: str | None = None
    npwp: str | None = None
    secondary_kbli: tuple[str, ...] = ()
    workforce: int | None = None
    investment_idr: int | None = None
    business_capital_idr: int | None = None
    annual_sales_idr: int | None = None
    production_quantity: float | None = None
    production_unit: str | None = None
    owner: OwnerContact = OwnerContact()


PROFILE_FIELDS = tuple(f.name for f in fields(EnterpriseDetails) if f.name != "owner")


def validate_details(details: EnterpriseDetails, on: date) -> EnterpriseDetails:
    """Check every rule; report all broken ones at once, each naming its field."""
    problems: list[DomainError] = []

    def check(rule: object, *args: object) -> None:
        try:
            rule(*args)  # type: ignore[operator]
        except DomainError as problem:
            problems.append(problem)

    name = details.name.strip()
    if not name:
        problems.append(DomainError("name must not be empty", field="name"))
    check(check_province, details.province_code, on)
    if details.regency_code is not None:
        check(check_regency, details.regency_code, details.province_code, on)
    check(check_manufacturing_kbli, details.kbli)
    check(check_secondary_kbli, list(details.secondary_kbli))
    if details.kbli in details.secondary_kbli:
        problems.append(
            DomainError("the primary KBLI is listed again as secondary", field="secondary_kbli")
        )
    check(check_npwp, details.npwp)
    if details.legal_form is not None and details.legal_form not in LEGAL_FORMS:
        problems.append(
            DomainError(f"legal_form must be one of {', '.join(LEGAL_FORMS)}", field="legal_form")
        )
    for amount in ("workforce", "investment_idr", "business_capital_idr", "annual_sales_idr"):
        check(check_amount, getattr(details, amount), amount)
    if details.production_quantity is not None:
        if details.production_quantity < 0:
            problems.append(
                DomainError("production_quantity must not be negative", field="production_quantity")
            )
        if not details.production_unit:
            problems.append(
                DomainError("production_unit is required with a quantity", field="production_unit")
            )
    owner = details.owner
    if owner.nik is not None and not NIK_PATTERN.fullmatch(owner.nik):
        problems.append(DomainError("owner NIK must be 16 digits", field="owner.nik"))
    if owner.phone is not None and not PHONE_PATTERN.fullmatch(owner.phone):
        problems.append(
            DomainError("owner phone must be 8–15 digits, optionally with +", field="owner.phone")
        )
    if owner.email is not None and not EMAIL_PATTERN.fullmatch(owner.email):
        problems.append(DomainError("owner email is not an e-mail address", field="owner.email"))
    if problems:
        raise InvalidInput(problems)
    return details if name == details.name else replace(details, name=name)


def derive_size_class(details: EnterpriseDetails, regime_name: str) -> tuple[SizeClass | None, str]:
    regime = regimes().get(regime_name)
    if regime is None:
        raise DomainError(
            f"unknown size regime {regime_name!r}; known: {', '.join(sorted(regimes()))}",
            field="size_regime",
        )
    return regime.classify(vars(details)), regime.name


def check_claimed_class(claimed: SizeClass | None, derived: SizeClass | None, regime: str) -> None:
    """A class the caller states must agree with the one its inputs give."""
    if claimed is None:
        return
    if derived is None:
        raise DomainError(
            f"size_class {claimed} cannot be checked: regime {regime} needs "
            f"{', '.join(regimes()[regime].requires)}",
            field="size_class",
        )
    if claimed != derived:
        raise DomainError(
            f"size_class {claimed} contradicts the inputs: under {regime} they give {derived}",
            field="size_class",
        )


@dataclass
class Certificate:
    certificate_id: str
    scheme: CertificateScheme
    number: str
    issuer: str
    issued_on: date
    expires_on: date | None
    tkdn_pct: float | None = None
    status: str = "active"  # active | expired | revoked
    enrollment_id: str | None = None

    def facts(self) -> CertificateFacts:
        return CertificateFacts(
            certificate_id=self.certificate_id,
            scheme=self.scheme,
            number=self.number,
            issuer=self.issuer,
            issued_on=self.issued_on,
            expires_on=self.expires_on,
            tkdn_pct=self.tkdn_pct,
        )


@dataclass
class Enterprise:
    nib: str
    details: EnterpriseDetails
    size_class: SizeClass | None
    size_regime: str
    registered_at: datetime
    status: EnterpriseStatus = EnterpriseStatus.ACTIVE
    version: int = 1
    sentra_id: str | None = None
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def province_code(self) -> str:
        return self.details.province_code

    def profile(self) -> EnterpriseProfile:
        d = self.details
        return EnterpriseProfile(
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
            size_class=self.size_class,
            size_regime=self.size_regime,
            status=self.status,
            sentra_id=self.sentra_id,
        )

    def certificate(self, certificate_id: str) -> Certificate:
        for certificate in self.certificates:
            if certificate.certificate_id == certificate_id:
                return certificate
        raise DomainError(f"enterprise {self.nib} has no certificate {certificate_id}")

    def _bump(self) -> int:
        self.version += 1
        return self.version

    def _require_active(self) -> None:
        if self.status == EnterpriseStatus.CLOSED:
            raise Conflict(f"enterprise {self.nib} is closed", field="nib")


def register(
    *,
    nib: str,
    details: EnterpriseDetails,
    now: datetime,
    regime: str | None = None,
    claimed_size_class: SizeClass | None = None,
    actor: str | None = None,
) -> tuple[Enterprise, EnterpriseRegistered]:
    problems: list[DomainError] = []
    try:
        check_nib(nib)
    except DomainError as problem:
        problems.append(problem)
    try:
        details = validate_details(details, now.date())
    except InvalidInput as invalid:
        problems.extend(invalid.problems)
    if problems:
        raise InvalidInput(problems)
    size_class, regime_name = derive_size_class(details, regime or default_regime())
    check_claimed_class(claimed_size_class, size_class, regime_name)
    enterprise = Enterprise(
        nib=nib,
        details=details,
        size_class=size_class,
        size_regime=regime_name,
        registered_at=now,
    )
    event = EnterpriseRegistered(
        nib=nib, version=1, profile=enterprise.profile(), registered_at=now, actor=actor
    )
    return enterprise, event


def update(
    enterprise: Enterprise,
    changes: dict[str, object],
    *,
    now: datetime,
    expected_version: int | None = None,
    claimed_size_class: SizeClass | None = None,
    actor: str | None = None,
) -> list[EnterpriseUpdated | EnterpriseReclassified]:
    """Apply profile changes; an unchanged value is not a change (no event when nothing changes)."""
    enterprise._require_active()
    if expected_version is not None and expected_version != enterprise.version:
        raise Conflict(
            f"enterprise {enterprise.nib} is at version {enterprise.version}, "
            f"not {expected_version}: reload and retry",
            field="If-Match",
        )
    unknown = set(changes) - set(PROFILE_FIELDS) - {"owner"}
    if unknown:
        raise DomainError(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    candidate = validate_details(replace(enterprise.details, **changes), now.date())  # type: ignore[arg-type]
    changed = [f for f in PROFILE_FIELDS if getattr(candidate, f) != getattr(enterprise.details, f)]
    size_class, regime = derive_size_class(candidate, enterprise.size_regime)
    check_claimed_class(claimed_size_class, size_class, regime)
    enterprise.details = candidate
    if not changed:
        return []
    events: list[EnterpriseUpdated | EnterpriseReclassified] = []
    previous_class = enterprise.size_class
    enterprise.size_class = size_class
    events.append(
        EnterpriseUpdated(
            nib=enterprise.nib,
            version=enterprise._bump(),
            changed_fields=changed,
            profile=enterprise.profile(),
            updated_at=now,
            actor=actor,
        )
    )
    if size_class != previous_class and size_class is not None:
        events.append(
            EnterpriseReclassified(
                nib=enterprise.nib,
                version=enterprise._bump(),
                province_code=enterprise.province_code,
                previous_size_class=previous_class,
                size_class=size_class,
                size_regime=regime,
                reclassified_at=now,
            )
        )
    return events


def close(
    enterprise: Enterprise, *, on: date, reason: str, actor: str | None = None
) -> EnterpriseClosed:
    enterprise._require_active()
    if not reason.strip():
        raise DomainError("a reason is required to close an enterprise", field="reason")
    enterprise.status = EnterpriseStatus.CLOSED
    return EnterpriseClosed(
        nib=enterprise.nib,
        version=enterprise._bump(),
        province_code=enterprise.province_code,
        closed_on=on,
        reason=reason.strip(),
        actor=actor,
    )


# --- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateDetails:
    scheme: CertificateScheme
    number: str
    issuer: str
    issued_on: date
    expires_on: date | None = None
    tkdn_pct: float | None = None


def validate_certificate(details: CertificateDetails) -> CertificateDetails:
    problems: list[DomainError] = []
    if not details.number.strip():
        problems.append(DomainError("certificate number must not be empty", field="number"))
    if not details.issuer.strip():
        problems.append(DomainError("issuer must not be empty", field="issuer"))
    if details.expires_on is not None and details.expires_on <= details.issued_on:
        problems.append(DomainError("expires_on must be after issued_on", field="expires_on"))
    if details.scheme == CertificateScheme.TKDN_IK:
        if details.tkdn_pct is None:
            problems.append(DomainError("a TKDN IK certificate needs tkdn_pct", field="tkdn_pct"))
        elif not TKDN_IK_MINIMUM_PCT <= details.tkdn_pct <= 100:
            problems.append(
                DomainError(
                    f"TKDN IK value must be between {TKDN_IK_MINIMUM_PCT:.0f}% and 100%",
                    field="tkdn_pct",
                )
            )
    elif details.tkdn_pct is not None:
        problems.append(
            DomainError("tkdn_pct applies to TKDN IK certificates only", field="tkdn_pct")
        )
    if problems:
        raise InvalidInput(problems)
    return details


def certify(
    enterprise: Enterprise,
    details: CertificateDetails,
    *,
    now: datetime,
    enrollment_id: str | None = None,
    actor: str | None = None,
    certificate_id: str | None = None,
) -> tuple[Certificate, EnterpriseCertified]:
    enterprise._require_active()
    details = validate_certificate(details)
    duplicate = next(
        (
            c
            for c in enterprise.certificates
            if c.scheme == details.scheme and c.number == details.number and c.status == "active"
        ),
        None,
    )
    if duplicate is not None:
        raise Conflict(
            f"{details.scheme} certificate {details.number} is already recorded", field="number"
        )
    certificate = Certificate(
        certificate_id=certificate_id or str(uuid.uuid4()),
        scheme=details.scheme,
        number=details.number.strip(),
        issuer=details.issuer.strip(),
        issued_on=details.issued_on,
        expires_on=details.expires_on,
        tkdn_pct=details.tkdn_pct,
        enrollment_id=enrollment_id,
    )
    if certificate.expires_on is not None and certificate.expires_on <= now.date():
        raise DomainError("the certificate has already expired", field="expires_on")
    enterprise.certificates.append(certificate)
    return certificate, EnterpriseCertified(
        nib=enterprise.nib,
        version=enterprise._bump(),
        province_code=enterprise.province_code,
        certificate=certificate.facts(),
        enrollment_id=enrollment_id,
        certified_at=now,
        actor=actor,
    )


def renew(
    enterprise: Enterprise,
    certificate_id: str,
    *,
    expires_on: date,
    now: datetime,
    actor: str | None = None,
) -> CertificateRenewed:
    enterprise._require_active()
    certificate = enterprise.certificate(certificate_id)
    if certificate.status == "revoked":
        raise Conflict(f"certificate {certificate_id} was revoked", field="certificate_id")
    if certificate.expires_on is not None and expires_on <= certificate.expires_on:
        raise DomainError("a renewal must extend the expiry date", field="expires_on")
    previous = certificate.expires_on
    certificate.expires_on = expires_on
    certificate.status = "active"
    return CertificateRenewed(
        nib=enterprise.nib,
        version=enterprise._bump(),
        province_code=enterprise.province_code,
        certificate=certificate.facts(),
        previous_expires_on=previous,
        renewed_at=now,
        actor=actor,
    )


def revoke(
    enterprise: Enterprise, certificate_id: str, *, on: date, reason: str, actor: str | None = None
) -> CertificateRevoked:
    certificate = enterprise.certificate(certificate_id)
    if certificate.status == "revoked":
        raise Conflict(f"certificate {certificate_id} is already revoked", field="certificate_id")
    if not reason.strip():
        raise DomainError("a reason is required to revoke a certificate", field="reason")
    certificate.status = "revoked"
    return CertificateRevoked(
        nib=enterprise.nib,
        version=enterprise._bump(),
        province_code=enterprise.province_code,
        certificate_id=certificate_id,
        scheme=certificate.scheme,
        revoked_on=on,
        reason=reason.strip(),
        actor=actor,
    )


def expire_due(enterprise: Enterprise, today: date) -> list[CertificateExpired]:
    """Certificates whose expiry date has passed become expired (once)."""
    events = []
    for certificate in enterprise.certificates:
        if (
            certificate.status == "active"
            and certificate.expires_on is not None
            and certificate.expires_on < today
        ):
            certificate.status = "expired"
            events.append(
                CertificateExpired(
                    nib=enterprise.nib,
                    version=enterprise._bump(),
                    province_code=enterprise.province_code,
                    certificate_id=certificate.certificate_id,
                    scheme=certificate.scheme,
                    expired_on=certificate.expires_on,
                )
            )
    return events


# --- sentra -----------------------------------------------------------------------------------


@dataclass
class Sentra:
    sentra_id: str
    name: str
    province_code: str
    regency_code: str
    commodity: str
    designated_on: date
    village: str | None = None
    managing_body: str | None = None
    kbli: str | None = None
    members: set[str] = field(default_factory=set)
    version: int = 1


def designate_sentra(
    *,
    name: str,
    province_code: str,
    regency_code: str,
    commodity: str,
    designated_on: date,
    members: list[Enterprise],
    village: str | None = None,
    managing_body: str | None = None,
    kbli: str | None = None,
    actor: str | None = None,
    sentra_id: str | None = None,
) -> tuple[Sentra, list[SentraDesignated | SentraMemberJoined]]:
    problems: list[DomainError] = []
    if not name.strip():
        problems.append(DomainError("name must not be empty", field="name"))
    if not commodity.strip():
        problems.append(DomainError("commodity must not be empty", field="commodity"))
    for rule, args in (
        (check_province, (province_code, designated_on)),
        (check_regency, (regency_code, province_code, designated_on)),
    ):
        try:
            rule(*args)  # type: ignore[operator]
        except DomainError as problem:
            problems.append(problem)
    if kbli is not None:
        try:
            check_manufacturing_kbli(kbli)
        except DomainError as problem:
            problems.append(problem)
    nibs = {m.nib for m in members}
    if len(nibs) < SENTRA_MINIMUM_MEMBERS:
        problems.append(
            DomainError(
                f"a sentra needs at least {SENTRA_MINIMUM_MEMBERS} member IKM, got {len(nibs)}",
                field="member_nibs",
            )
        )
    for member in members:
        if member.status == EnterpriseStatus.CLOSED:
            problems.append(DomainError(f"member {member.nib} is closed", field="member_nibs"))
        elif member.sentra_id is not None:
            problems.append(
                DomainError(
                    f"member {member.nib} already belongs to sentra {member.sentra_id}",
                    field="member_nibs",
                )
            )
    if problems:
        raise InvalidInput(problems)
    sentra = Sentra(
        sentra_id=sentra_id or str(uuid.uuid4()),
        name=name.strip(),
        province_code=province_code,
        regency_code=regency_code,
        commodity=commodity.strip(),
        designated_on=designated_on,
        village=village,
        managing_body=managing_body,
        kbli=kbli,
    )
    events: list[SentraDesignated | SentraMemberJoined] = [
        SentraDesignated(
            sentra_id=sentra.sentra_id,
            name=sentra.name,
            province_code=province_code,
            regency_code=regency_code,
            village=village,
            managing_body=managing_body,
            commodity=sentra.commodity,
            kbli=kbli,
            designated_on=designated_on,
            actor=actor,
        )
    ]
    for member in sorted(members, key=lambda m: m.nib):
        events.append(_join(sentra, member, designated_on))
    return sentra, events


def _join(sentra: Sentra, member: Enterprise, on: date) -> SentraMemberJoined:
    sentra.members.add(member.nib)
    member.sentra_id = sentra.sentra_id
    return SentraMemberJoined(
        sentra_id=sentra.sentra_id, nib=member.nib, joined_on=on, member_count=len(sentra.members)
    )


def join_sentra(sentra: Sentra, member: Enterprise, on: date) -> SentraMemberJoined:
    if member.nib in sentra.members:
        raise Conflict(f"{member.nib} is already a member of {sentra.name}", field="nib")
    if member.sentra_id is not None:
        raise Conflict(f"{member.nib} belongs to sentra {member.sentra_id}", field="nib")
    member._require_active()
    sentra.version += 1
    return _join(sentra, member, on)


def leave_sentra(sentra: Sentra, member: Enterprise, on: date) -> SentraMemberLeft:
    if member.nib not in sentra.members:
        raise DomainError(f"{member.nib} is not a member of {sentra.name}", field="nib")
    if len(sentra.members) <= SENTRA_MINIMUM_MEMBERS:
        raise Conflict(
            f"{sentra.name} would fall below {SENTRA_MINIMUM_MEMBERS} members; a sentra needs "
            "at least that many",
            field="nib",
        )
    sentra.members.discard(member.nib)
    member.sentra_id = None
    sentra.version += 1
    return SentraMemberLeft(
        sentra_id=sentra.sentra_id, nib=member.nib, left_on=on, member_count=len(sentra.members)
    )


def check_range(figure: RangeFigure | None, field: str) -> None:
    if figure is not None and figure.min > figure.max:
        raise DomainError(f"{field}: min {figure.min} is above max {figure.max}", field=field)


def report_outcome(
    sentra: Sentra,
    *,
    period: str,
    reported_on: date,
    workforce: RangeFigure | None = None,
    revenue_idr: RangeFigure | None = None,
    production: RangeFigure | None = None,
    source: str | None = None,
) -> SentraOutcomeReported:
    problems = []
    for figure, name in (
        (workforce, "workforce"),
        (revenue_idr, "revenue_idr"),
        (production, "production"),
    ):
        try:
            check_range(figure, name)
        except DomainError as problem:
            problems.append(problem)
    if not period.strip():
        problems.append(DomainError("period must not be empty", field="period"))
    if workforce is None and revenue_idr is None and production is None:
        problems.append(DomainError("report at least one figure", field="revenue_idr"))
    if problems:
        raise InvalidInput(problems)
    sentra.version += 1
    return SentraOutcomeReported(
        sentra_id=sentra.sentra_id,
        period=period.strip(),
        members=len(sentra.members),
        workforce=workforce,
        revenue_idr=revenue_idr,
        production=production,
        source=source,
        reported_on=reported_on,
    )
