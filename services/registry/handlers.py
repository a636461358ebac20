"""Registry use cases: load, apply the domain rules, save and record events in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.registry import domain
from services.registry.adapters.repository import EnterpriseRepository, SentraRepository
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from shared.events.registry import RangeFigure
from shared.events.vocabulary import SizeClass
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def check_scope(scope: str | None, province_code: str, nib: str | None = None) -> None:
    """A provincial operator writes only the enterprises of their own province."""
    if scope is not None and province_code != scope:
        what = (
            f"enterprise {nib} of province {province_code}" if nib else f"province {province_code}"
        )
        raise Forbidden(
            f"a provincial operator of province {scope} may not write {what}",
            field="province_code",
        )


async def _load(enterprises: EnterpriseRepository, nib: str) -> domain.Enterprise:
    enterprise = await enterprises.get(nib)
    if enterprise is None:
        raise NotFound(f"no enterprise with NIB {nib}", field="nib")
    return enterprise


async def register_enterprise(
    uow: UnitOfWork,
    *,
    nib: str,
    details: domain.EnterpriseDetails,
    regime: str | None = None,
    claimed_size_class: SizeClass | None = None,
    actor: str | None = None,
    scope: str | None = None,
) -> domain.Enterprise:
    check_scope(scope, details.province_code)
    enterprises = EnterpriseRepository(uow.session)
    enterprise, registered = domain.register(
        nib=nib,
        details=details,
        now=_now(),
        regime=regime,
        claimed_size_class=claimed_size_class,
        actor=actor,
    )
    await enterprises.add(enterprise)
    await uow.record(registered)
    log.info(
        "enterprise %s registered in province %s",
        nib,
        enterprise.province_code,
        extra={"event_type": registered.ce_type(), "nib": nib},
    )
    return enterprise


@dataclass(frozen=True)
class ImportRow:
    line: int
    nib: str
    details: domain.EnterpriseDetails
    regime: str | None = None


@dataclass(frozen=True)
class RejectedRow:
    line: int
    nib: str
    problems: list[DomainError]


async def register_many(
    uow: UnitOfWork,
    rows: Sequence[ImportRow],
    *,
    actor: str | None = None,
    scope: str | None = None,
) -> tuple[list[str], list[RejectedRow]]:
    """Register a batch; a bad row is reported with its line and reasons, the good ones go in."""
    now = _now()
    enterprises = EnterpriseRepository(uow.session)
    accepted: dict[str, tuple[domain.Enterprise, object]] = {}
    rejected: list[RejectedRow] = []
    for row in rows:
        try:
            check_scope(scope, row.details.province_code)
            if row.nib in accepted:
                raise Conflict(f"NIB {row.nib} appears twice in this batch", field="nib")
            accepted[row.nib] = domain.register(
                nib=row.nib, details=row.details, now=now, regime=row.regime, actor=actor
            )
        except InvalidInput as invalid:
            rejected.append(RejectedRow(row.line, row.nib, invalid.problems))
        except DomainError as problem:
            rejected.append(RejectedRow(row.line, row.nib, [problem]))
    inserted = await enterprises.add_many([enterprise for enterprise, _ in accepted.values()])
    for row in rows:
        if row.nib in accepted and row.nib not in inserted:
            del accepted[row.nib]
            rejected.append(
                RejectedRow(
                    row.line,
                    row.nib,
                    [Conflict(f"NIB {row.nib} is already registered", field="nib")],
                )
            )
    await uow.record(*(event for _, event in accepted.values()))  # type: ignore[misc]
    rejected.sort(key=lambda r: r.line)
    return list(accepted), rejected


async def update_enterprise(
    uow: UnitOfWork,
    nib: str,
    changes: dict[str, object],
    *,
    expected_version: int | None,
    claimed_size_class: SizeClass | None = None,
    actor: str | None = None,
    scope: str | None = None,
) -> domain.Enterprise:
    enterprises = EnterpriseRepository(uow.session)
    enterprise = await _load(enterprises, nib)
    check_scope(scope, enterprise.province_code, nib)
    check_scope(scope, str(changes.get("province_code", enterprise.province_code)), nib)
    events = domain.update(
        enterprise,
        changes,
        now=_now(),
        expected_version=expected_version,
        claimed_size_class=claimed_size_class,
        actor=actor,
    )
    await enterprises.save(enterprise)
    await uow.record(*events)
    return enterprise


async def close_enterprise(
    uow: UnitOfWork,
    nib: str,
    *,
    on: date,
    reason: str,
    actor: str | None = None,
    scope: str | None = None,
) -> domain.Enterprise:
    enterprises = EnterpriseRepository(uow.session)
    enterprise = await _load(enterprises, nib)
    check_scope(scope, enterprise.province_code, nib)
    closed = domain.close(enterprise, on=on, reason=reason, actor=actor)
    await enterprises.save(enterprise)
    await uow.record(closed)
    return enterprise


async def record_certificate(
    uow: UnitOfWork,
    nib: str,
    details: domain.CertificateDetails,
    *,
    enrollment_id: str | None = None,
    actor: str | None = None,
) -> domain.Certificate:
    enterprises = EnterpriseRepository(uow.session)
    enterprise = await _load(enterprises, nib)
    certificate, certified = domain.certify(
        enterprise, details, now=_now(), enrollment_id=enrollment_id, actor=actor
    )
    await enterprises.save(enterprise)
    await uow.record(certified)
    return certificate


async def record_certificate_from_enrollment(
    uow: UnitOfWork, nib: str, enrollment_id: str, details: domain.CertificateDetails
) -> None:
    """The outcome of an assistance program; a second delivery of the same outcome does nothing."""
    if await EnterpriseRepository(uow.session).has_certificate_from(enrollment_id):
        return
    await record_certificate(uow, nib, details, enrollment_id=enrollment_id, actor="system")


async def renew_certificate(
    uow: UnitOfWork, nib: str, certificate_id: str, *, expires_on: date, actor: str | None = None
) -> domain.Certificate:
    enterprises = EnterpriseRepository(uow.session)
    enterprise = await _load(enterprises, nib)
    renewed = domain.renew(
        enterprise, certificate_id, expires_on=expires_on, now=_now(), actor=actor
    )
    await enterprises.save(enterprise)
    await uow.record(renewed)
    return enterprise.certificate(certificate_id)


async def revoke_certificate(
    uow: UnitOfWork, nib: str, certificate_id: str, *, reason: str, actor: str | None = None
) -> domain.Certificate:
    enterprises = EnterpriseRepository(uow.session)
    enterprise = await _load(enterprises, nib)
    revoked = domain.revoke(
        enterprise, certificate_id, on=_now().date(), reason=reason, actor=actor
    )
    await enterprises.save(enterprise)
    await uow.record(revoked)
    return enterprise.certificate(certificate_id)


async def expire_certificates(uow: UnitOfWork, today: date, *, limit: int = 500) -> int:
    """The scheduled check: every certificate past its expiry becomes expired, with its event."""
    enterprises = EnterpriseRepository(uow.session)
    expired = 0
    for nib in await enterprises.with_certificates_expiring_before(today, limit):
        enterprise = await _load(enterprises, nib)
        events = domain.expire_due(enterprise, today)
        await enterprises.save(enterprise)
        await uow.record(*events)
        expired += len(events)
    return expired


async def designate_sentra(
    uow: UnitOfWork,
    *,
    name: str,
    province_code: str,
    regency_code: str,
    commodity: str,
    designated_on: date,
    member_nibs: list[str],
    village: str | None = None,
    managing_body: str | None = None,
    kbli: str | None = None,
    actor: str | None = None,
) -> domain.Sentra:
    enterprises = EnterpriseRepository(uow.session)
    members = await enterprises.get_many(member_nibs)
    unknown = sorted(set(member_nibs) - {m.nib for m in members})
    if unknown:
        raise DomainError(f"not in the register: {', '.join(unknown)}", field="member_nibs")
    sentra, events = domain.designate_sentra(
        name=name,
        province_code=province_code,
        regency_code=regency_code,
        commodity=commodity,
        designated_on=designated_on,
        members=members,
        village=village,
        managing_body=managing_body,
        kbli=kbli,
        actor=actor,
    )
    await SentraRepository(uow.session).add(sentra)
    await uow.record(*events)
    return sentra


async def _load_sentra(sentras: SentraRepository, sentra_id: str) -> domain.Sentra:
    sentra = await sentras.get(sentra_id)
    if sentra is None:
        raise NotFound(f"no sentra {sentra_id}", field="sentra_id")
    return sentra


async def join_sentra(uow: UnitOfWork, sentra_id: str, nib: str, on: date) -> domain.Sentra:
    sentras = SentraRepository(uow.session)
    sentra = await _load_sentra(sentras, sentra_id)
    member = await _load(EnterpriseRepository(uow.session), nib)
    joined = domain.join_sentra(sentra, member, on)
    await sentras.save(sentra)
    await uow.record(joined)
    return sentra


async def leave_sentra(uow: UnitOfWork, sentra_id: str, nib: str, on: date) -> domain.Sentra:
    sentras = SentraRepository(uow.session)
    sentra = await _load_sentra(sentras, sentra_id)
    member = await _load(EnterpriseRepository(uow.session), nib)
    left = domain.leave_sentra(sentra, member, on)
    await sentras.save(sentra)
    await uow.record(left)
    return sentra


async def report_sentra_outcome(
    uow: UnitOfWork,
    sentra_id: str,
    *,
    period: str,
    workforce: RangeFigure | None,
    revenue_idr: RangeFigure | None,
    production: RangeFigure | None,
    source: str | None,
) -> None:
    sentras = SentraRepository(uow.session)
    sentra = await _load_sentra(sentras, sentra_id)
    outcome = domain.report_outcome(
        sentra,
        period=period,
        reported_on=_now().date(),
        workforce=workforce,
        revenue_idr=revenue_idr,
        production=production,
        source=source,
    )
    await sentras.save(sentra)
    await sentras.add_outcome(outcome)
    await uow.record(outcome)
